"""A NumPy LSTM (and its variants) and GRU with the forward pass and backpropagation through time by hand.

It is the executable form of the derivation in docs/bptt.md and the yardstick
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

The variants of `models.cell.VARIANTS` change these lines (a fixed gate has
no block in z, so no δz for it):

    "peephole"               z_i += p_i*C_{t-1}, z_f += p_f*C_{t-1}, z_o += p_o*C_t; backward:
                             δC_t += δz_o*p_o (before δi, δC̃, δf), δC_{t-1} += δz_i*p_i + δz_f*p_f,
                             ∂L/∂p_o += Σ δz_o*C_t, ∂L/∂p_i += Σ δz_i*C_{t-1}, ∂L/∂p_f += Σ δz_f*C_{t-1}
    "coupled"                i_t = 1 − f_t: δf_t = δC_t*(C_{t-1} − C̃_t)
    "no-forget-gate"         f_t = 1: δC_{t-1} = δC_t
    "no-input-gate"          i_t = 1: δC̃_t = δC_t
    "no-output-gate"         o_t = 1: δC_t += δh_t*(1 − tanh²(C_t))
    "no-input-activation"    C̃_t = z_C: δz_C = δC̃_t
    "no-output-activation"   h_t = o_t*C_t: δo_t = δh_t*C_t, δC_t += δh_t*o_t

The GRU (Cho et al. 2014, Keras' reset_after=True form; weights kernel
(input_dim, 3u), recurrent_kernel (u, 3u), bias (2, 3u): the input bias and
the recurrent bias, gate blocks z, r, h):

    a_t = x_t·W_x + b_x = [a_z, a_r, a_h]      m_t = h_{t-1}·W_h + b_h = [m_z, m_r, m_h]
    z_t = σ(a_z + m_z)   r_t = σ(a_r + m_r)   h̃_t = tanh(a_h + r_t*m_h)
    h_t = z_t*h_{t-1} + (1 − z_t)*h̃_t

Backward, with δh_t from the output at t and from step t+1:

    δz_t = δh_t*(h_{t-1} − h̃_t)        δa_z = δm_z = δz_t*z_t(1−z_t)
    δh̃_t = δh_t*(1 − z_t)              δa_h = δh̃_t*(1 − h̃_t²)      δm_h = δa_h*r_t
    δr_t = δa_h*m_h                     δa_r = δm_r = δr_t*r_t(1−r_t)
    δh_{t-1} = δh_t*z_t + δm·W_hᵀ      δx_t = δa·W_xᵀ
    ∂L/∂W_x += x_tᵀ·δa   ∂L/∂W_h += h_{t-1}ᵀ·δm   ∂L/∂b_x += Σ_batch δa   ∂L/∂b_h += Σ_batch δm
"""

import numpy as np

# The gate blocks of each LSTM variant, as models.cell.VARIANTS (repeated here: the reference stands alone).
BLOCKS = {
    "vanilla": "ifco", "peephole": "ifco", "coupled": "fco", "no-forget-gate": "ico", "no-input-gate": "fco",
    "no-output-gate": "ifc", "no-input-activation": "ifco", "no-output-activation": "ifco",
}


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lstm_forward(x, kernel, recurrent_kernel, bias, h0=None, c0=None, variant="vanilla", peephole=None):
    """Runs the LSTM (or one of its variants) over x. Returns (h of every step (batch, T, u), h_T, C_T, cache).

    `peephole` is the (3, u) peephole weight (rows i, f, o) of the "peephole" variant.
    """
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    blocks = BLOCKS[variant]
    h = np.zeros((batch, units), x.dtype) if h0 is None else h0
    c = np.zeros((batch, units), x.dtype) if c0 is None else c0
    cache = {"x": x, "kernel": kernel, "recurrent_kernel": recurrent_kernel, "h0": h, "c0": c, "steps": [],
             "variant": variant, "peephole": peephole}
    outputs = np.zeros((batch, steps, units), x.dtype)
    ones = np.ones((batch, units), x.dtype)
    for t in range(steps):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias
        pre = dict(zip(blocks, np.split(z, len(blocks), axis=-1)))
        c_prev, h_prev = c, h
        if variant == "peephole":
            pre["i"] = pre["i"] + peephole[0] * c_prev
            pre["f"] = pre["f"] + peephole[1] * c_prev
        f = sigmoid(pre["f"]) if "f" in pre else ones
        if "i" in pre:
            i = sigmoid(pre["i"])
        else:
            i = 1.0 - f if variant == "coupled" else ones
        c_tilde = pre["c"] if variant == "no-input-activation" else np.tanh(pre["c"])
        c = f * c_prev + i * c_tilde
        if variant == "peephole":
            pre["o"] = pre["o"] + peephole[2] * c
        o = sigmoid(pre["o"]) if "o" in pre else ones
        squashed = c if variant == "no-output-activation" else np.tanh(c)
        h = o * squashed
        cache["steps"].append({"i": i, "f": f, "c_tilde": c_tilde, "o": o, "c": c, "c_prev": c_prev, "h_prev": h_prev,
                               "squashed": squashed})
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
        A dict of gradients: "x", "kernel", "recurrent_kernel", "bias", "h0",
        "c0", and "peephole" for the peephole variant.
    """
    kernel, recurrent_kernel = cache["kernel"], cache["recurrent_kernel"]
    variant, peephole = cache["variant"], cache["peephole"]
    blocks = BLOCKS[variant]
    x = cache["x"]
    d_kernel = np.zeros_like(kernel)
    d_recurrent = np.zeros_like(recurrent_kernel)
    d_bias = np.zeros(kernel.shape[1], kernel.dtype)
    d_peephole = None if peephole is None else np.zeros_like(peephole)
    d_x = np.zeros_like(x)
    d_h_next = np.zeros_like(cache["h0"]) if d_h_last is None else d_h_last.copy()
    d_c = np.zeros_like(cache["c0"]) if d_c_last is None else d_c_last.copy()
    for t in reversed(range(x.shape[1])):
        s = cache["steps"][t]
        i, f, c_tilde, o = s["i"], s["f"], s["c_tilde"], s["o"]
        d_h = d_outputs[:, t] + d_h_next
        d_o = d_h * s["squashed"]
        squash_slope = 1.0 if variant == "no-output-activation" else 1.0 - s["squashed"] ** 2
        d_c = d_c + d_h * o * squash_slope
        d_z = {"o": d_o * o * (1.0 - o)}
        if variant == "peephole":
            d_c = d_c + d_z["o"] * peephole[2]
        d_i = d_c * c_tilde
        d_c_tilde = d_c * i
        d_f = d_c * s["c_prev"]
        if variant == "coupled":  # i = 1 − f
            d_f = d_f - d_i
        d_z["i"] = d_i * i * (1.0 - i)
        d_z["f"] = d_f * f * (1.0 - f)
        d_z["c"] = d_c_tilde if variant == "no-input-activation" else d_c_tilde * (1.0 - c_tilde**2)
        d_c = d_c * f
        if variant == "peephole":
            d_c = d_c + d_z["i"] * peephole[0] + d_z["f"] * peephole[1]
            d_peephole += np.stack([(d_z["i"] * s["c_prev"]).sum(0), (d_z["f"] * s["c_prev"]).sum(0),
                                    (d_z["o"] * s["c"]).sum(0)])
        d_z = np.concatenate([d_z[block] for block in blocks], axis=-1)
        d_kernel += x[:, t].T @ d_z
        d_recurrent += s["h_prev"].T @ d_z
        d_bias += d_z.sum(axis=0)
        d_x[:, t] = d_z @ kernel.T
        d_h_next = d_z @ recurrent_kernel.T
    grads = {"x": d_x, "kernel": d_kernel, "recurrent_kernel": d_recurrent, "bias": d_bias, "h0": d_h_next, "c0": d_c}
    if d_peephole is not None:
        grads["peephole"] = d_peephole
    return grads


def gru_forward(x, kernel, recurrent_kernel, bias, h0=None):
    """Runs the GRU over x. Returns (h of every step (batch, T, u), h_T, cache)."""
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    h = np.zeros((batch, units), x.dtype) if h0 is None else h0
    cache = {"x": x, "kernel": kernel, "recurrent_kernel": recurrent_kernel, "h0": h, "steps": []}
    outputs = np.zeros((batch, steps, units), x.dtype)
    for t in range(steps):
        a_z, a_r, a_h = np.split(x[:, t] @ kernel + bias[0], 3, axis=-1)
        m_z, m_r, m_h = np.split(h @ recurrent_kernel + bias[1], 3, axis=-1)
        z, r = sigmoid(a_z + m_z), sigmoid(a_r + m_r)
        h_tilde = np.tanh(a_h + r * m_h)
        h_prev = h
        h = z * h_prev + (1.0 - z) * h_tilde
        cache["steps"].append({"z": z, "r": r, "h_tilde": h_tilde, "m_h": m_h, "h_prev": h_prev})
        outputs[:, t] = h
    return outputs, h, cache


def gru_backward(d_outputs, cache, d_h_last=None):
    """Backpropagation through time of the GRU (the equations in the module docstring).

    Returns:
        A dict of gradients: "x", "kernel", "recurrent_kernel", "bias" (2, 3u), "h0".
    """
    kernel, recurrent_kernel, x = cache["kernel"], cache["recurrent_kernel"], cache["x"]
    d_kernel, d_recurrent = np.zeros_like(kernel), np.zeros_like(recurrent_kernel)
    d_bias = np.zeros((2, kernel.shape[1]), kernel.dtype)
    d_x = np.zeros_like(x)
    d_h_next = np.zeros_like(cache["h0"]) if d_h_last is None else d_h_last.copy()
    for t in reversed(range(x.shape[1])):
        s = cache["steps"][t]
        z, r, h_tilde = s["z"], s["r"], s["h_tilde"]
        d_h = d_outputs[:, t] + d_h_next
        d_gate_z = d_h * (s["h_prev"] - h_tilde) * z * (1.0 - z)
        d_a_h = d_h * (1.0 - z) * (1.0 - h_tilde**2)
        d_gate_r = d_a_h * s["m_h"] * r * (1.0 - r)
        d_a = np.concatenate([d_gate_z, d_gate_r, d_a_h], axis=-1)
        d_m = np.concatenate([d_gate_z, d_gate_r, d_a_h * r], axis=-1)
        d_kernel += x[:, t].T @ d_a
        d_recurrent += s["h_prev"].T @ d_m
        d_bias += np.stack([d_a.sum(axis=0), d_m.sum(axis=0)])
        d_x[:, t] = d_a @ kernel.T
        d_h_next = d_h * z + d_m @ recurrent_kernel.T
    return {"x": d_x, "kernel": d_kernel, "recurrent_kernel": d_recurrent, "bias": d_bias, "h0": d_h_next}
