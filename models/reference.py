"""A NumPy LSTM with the forward pass and backpropagation through time by hand.

It is the executable form of the derivation in the README and the yardstick
the tests hold the Keras layers to. Shapes: x (batch, T, input_dim), the
weights in Keras' layout (kernel (input_dim, 4u), recurrent_kernel (u, 4u),
bias (4u), gate blocks i, f, C̃, o).

Forward, for t = 1..T:

    z_t = x_t·W_x + h_{t-1}·W_h + b = [z_i, z_f, z_C, z_o]
    i_t = σ(z_i)   f_t = σ(z_f)   C̃_t = tanh(z_C)   o_t = σ(z_o)
    C_t = f_t*C_{t-1} + i_t*C̃_t
    h_t = o_t*tanh(C_t)

Backward, for t = T..1, with δh_t = ∂L/∂h_t reaching h_t from the output at t
and from step t+1, and δC_t = ∂L/∂C_t from step t+1:

    δo_t  = δh_t * tanh(C_t)                    δz_o = δo_t * o_t(1-o_t)
    δC_t += δh_t * o_t * (1 - tanh²(C_t))
    δi_t  = δC_t * C̃_t                          δz_i = δi_t * i_t(1-i_t)
    δC̃_t  = δC_t * i_t                          δz_C = δC̃_t * (1-C̃_t²)
    δf_t  = δC_t * C_{t-1}                      δz_f = δf_t * f_t(1-f_t)
    δC_{t-1} = δC_t * f_t                       (the cell state's "conveyor belt")
    δh_{t-1} = δz_t·W_hᵀ        δx_t = δz_t·W_xᵀ
    ∂L/∂W_x += x_tᵀ·δz_t        ∂L/∂W_h += h_{t-1}ᵀ·δz_t        ∂L/∂b += Σ_batch δz_t
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lstm_forward(x, kernel, recurrent_kernel, bias, h0=None, c0=None):
    """Runs the LSTM over x. Returns (h of every step (batch, T, u), h_T, C_T, cache)."""
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    h = np.zeros((batch, units), x.dtype) if h0 is None else h0
    c = np.zeros((batch, units), x.dtype) if c0 is None else c0
    cache = {"x": x, "kernel": kernel, "recurrent_kernel": recurrent_kernel, "h0": h, "c0": c, "steps": []}
    outputs = np.zeros((batch, steps, units), x.dtype)
    for t in range(steps):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias
        z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
        i, f, c_tilde, o = sigmoid(z_i), sigmoid(z_f), np.tanh(z_c), sigmoid(z_o)
        c_prev, h_prev = c, h
        c = f * c_prev + i * c_tilde
        h = o * np.tanh(c)
        cache["steps"].append({"i": i, "f": f, "c_tilde": c_tilde, "o": o, "c": c, "c_prev": c_prev, "h_prev": h_prev})
        outputs[:, t] = h
    return outputs, h, c, cache


def lstm_backward(d_outputs, cache, d_h_last=None, d_c_last=None):
    """Backpropagation through time.

    Args:
        d_outputs: ∂L/∂h_t for every step, (batch, T, u) (zeros where the loss
            does not read h_t).
        cache: From `lstm_forward`.
        d_h_last, d_c_last: ∂L/∂h_T and ∂L/∂C_T from outside the sequence
            (for example a loss on the returned final state).

    Returns:
        A dict of gradients: "x", "kernel", "recurrent_kernel", "bias", "h0", "c0".
    """
    kernel, recurrent_kernel = cache["kernel"], cache["recurrent_kernel"]
    x = cache["x"]
    d_kernel = np.zeros_like(kernel)
    d_recurrent = np.zeros_like(recurrent_kernel)
    d_bias = np.zeros(kernel.shape[1], kernel.dtype)
    d_x = np.zeros_like(x)
    d_h_next = np.zeros_like(cache["h0"]) if d_h_last is None else d_h_last.copy()
    d_c = np.zeros_like(cache["c0"]) if d_c_last is None else d_c_last.copy()
    for t in reversed(range(x.shape[1])):
        s = cache["steps"][t]
        d_h = d_outputs[:, t] + d_h_next
        tanh_c = np.tanh(s["c"])
        d_o = d_h * tanh_c
        d_c = d_c + d_h * s["o"] * (1.0 - tanh_c**2)
        d_i = d_c * s["c_tilde"]
        d_c_tilde = d_c * s["i"]
        d_f = d_c * s["c_prev"]
        d_z = np.concatenate(
            [
                d_i * s["i"] * (1.0 - s["i"]),
                d_f * s["f"] * (1.0 - s["f"]),
                d_c_tilde * (1.0 - s["c_tilde"] ** 2),
                d_o * s["o"] * (1.0 - s["o"]),
            ],
            axis=-1,
        )
        d_c = d_c * s["f"]
        d_kernel += x[:, t].T @ d_z
        d_recurrent += s["h_prev"].T @ d_z
        d_bias += d_z.sum(axis=0)
        d_x[:, t] = d_z @ kernel.T
        d_h_next = d_z @ recurrent_kernel.T
    return {"x": d_x, "kernel": d_kernel, "recurrent_kernel": d_recurrent, "bias": d_bias, "h0": d_h_next, "c0": d_c}
