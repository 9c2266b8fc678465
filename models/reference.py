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


# ---- xLSTM (Beck et al. 2024): the sLSTM and the mLSTM, stabilized, step by step -----------------------------------
#
# sLSTM (models/slstm.py), weights kernel (input_dim, 4u), recurrent_kernel (heads, u/heads, 4u/heads) (per head:
# columns i, f, z, o), bias (4u) (gate blocks i, f, z, o of u, heads in order), with
# ĩ, f̃, z̃, õ = x_t·W + R·h_{t−1} + b:
#
#     log f_t = log σ(f̃_t)  (or f̃_t: exponential forget gate)
#     m_t = max(log f_t + m_{t−1}, ĩ_t)  (m_{t−1} = −∞ where n_{t−1} = 0)
#     i_t = exp(ĩ_t − m_t)   f_t = exp(log f_t + m_{t−1} − m_t)   z_t = tanh(z̃_t)   o_t = σ(õ_t)
#     c_t = f_t c_{t−1} + i_t z_t     n_t = f_t n_{t−1} + i_t     h_t = o_t c_t / n_t
#
# Backward, t = T..1, with δh_t from the output at t and from step t+1. h_t = o_t c̄_t / n̄_t does not depend on the
# stabilizers (c_t = c̄_t e^{−m_t}, n_t = n̄_t e^{−m_t} for any m_1..m_T), so ∂h/∂m_t = 0 and m_1..m_T are
# constants here, as in the official CUDA backward pass (xlstm/blocks/slstm/src/cuda/slstm_pointwise.cu: the
# gradient into m is set to zero). m_0, part of the starting state, is not a constant (it scales c_0 and n_0
# against the new inputs): here δm_0 is its exact gradient, which the official kernel leaves at zero.
#
#     δo = δh c/n                   δõ = δo o(1−o)
#     δc += δh o/n                  δn += −δh o c/n²
#     δz = δc i                     δz̃ = δz (1−z²)
#     δi = δc z + δn                δĩ = δi i                  (∂i/∂ĩ = i)
#     δf = δc c_{t−1} + δn n_{t−1}  δf̃ = δf f (1−σ(f̃))       (exponential: δf f)
#     δc_{t−1} = δc f   δn_{t−1} = δn f   δm_{t−1} = δf f (only m_0 keeps it)
#     δh_{t−1} = δ[ĩ, f̃, z̃, õ]·Rᵀ (per head)   δx_t = δ[...]·Wᵀ
#
# The loss reads h only: the stabilized c_T, n_T depend on the choice of m_T.


def _slstm_recurrent(h, recurrent_kernel):
    """R·h for the block-diagonal kernel: (batch, u) → (batch, 4u) in gate blocks."""
    heads, d, _ = recurrent_kernel.shape
    r = np.einsum("bhj,hjk->bhk", h.reshape(len(h), heads, d), recurrent_kernel).reshape(len(h), heads, 4, d)
    return r.transpose(0, 2, 1, 3).reshape(len(h), -1)


def slstm_forward(x, kernel, recurrent_kernel, bias, state=None, forget_gate="sigmoid"):
    """The stabilized sLSTM over x. Returns (h of every step (batch, T, u), the last (h, c, n, m), cache).

    `kernel` None: x is the gate pre-activations already (4u wide). `state`: (h0, c0, n0, m0), zeros if None.
    """
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0] * recurrent_kernel.shape[1]
    h, c, n, m = state if state is not None else [np.zeros((batch, units), x.dtype)] * 4
    cache = {"x": x, "kernel": kernel, "recurrent_kernel": recurrent_kernel, "forget_gate": forget_gate,
             "state": (h, c, n, m), "steps": []}
    outputs = np.zeros((batch, steps, units), x.dtype)
    for t in range(steps):
        pre = (x[:, t] if kernel is None else x[:, t] @ kernel) + _slstm_recurrent(h, recurrent_kernel) + bias
        z_i, z_f, z_z, z_o = np.split(pre, 4, axis=-1)
        log_f = -np.logaddexp(0.0, -z_f) if forget_gate == "sigmoid" else z_f
        m_prev = np.where(n == 0.0, -np.inf, m)  # an empty state weighs nothing
        m_new = np.maximum(log_f + m_prev, z_i)
        i, f = np.exp(z_i - m_new), np.exp(log_f + m_prev - m_new)
        z, o = np.tanh(z_z), sigmoid(z_o)
        cache["steps"].append({"i": i, "f": f, "z": z, "o": o, "z_f": z_f, "c_prev": c, "n_prev": n, "h_prev": h})
        c, n, m = f * c + i * z, f * n + i, m_new
        h = o * c / n
        cache["steps"][-1].update(c=c, n=n)
        outputs[:, t] = h
    return outputs, (h, c, n, m), cache


def slstm_backward(d_outputs, cache, d_h_last=None):
    """Backpropagation through time of `slstm_forward` (the equations above), for a loss on h.

    Returns a dict of gradients: "x", "kernel" (unless None), "recurrent_kernel", "bias", and the starting
    state's "h0", "c0", "n0", "m0".
    """
    x, kernel, recurrent_kernel = cache["x"], cache["kernel"], cache["recurrent_kernel"]
    heads, d, _ = recurrent_kernel.shape
    d_kernel = None if kernel is None else np.zeros_like(kernel)
    d_recurrent = np.zeros_like(recurrent_kernel)
    d_bias = np.zeros(recurrent_kernel.shape[0] * recurrent_kernel.shape[2], x.dtype)
    d_x = np.zeros((*x.shape[:2], 4 * heads * d), x.dtype) if kernel is None else np.zeros_like(x)
    d_h_next = np.zeros_like(cache["state"][0]) if d_h_last is None else d_h_last.copy()
    d_c = np.zeros_like(d_h_next)
    d_n = np.zeros_like(d_h_next)
    d_m = np.zeros_like(d_h_next)
    for t in reversed(range(x.shape[1])):
        s = cache["steps"][t]
        i, f, z, o, c, n = s["i"], s["f"], s["z"], s["o"], s["c"], s["n"]
        d_h = d_outputs[:, t] + d_h_next
        d_pre_o = d_h * c / n * o * (1.0 - o)
        d_c = d_c + d_h * o / n
        d_n = d_n - d_h * o * c / n**2
        d_pre_z = d_c * i * (1.0 - z**2)
        d_pre_i = (d_c * z + d_n) * i
        d_f = (d_c * s["c_prev"] + d_n * s["n_prev"]) * f
        d_pre_f = d_f * (sigmoid(-s["z_f"]) if cache["forget_gate"] == "sigmoid" else 1.0)
        d_m = d_f  # reaches m_{t−1}; kept only for m_0
        d_c, d_n = d_c * f, d_n * f
        d_pre = np.concatenate([d_pre_i, d_pre_f, d_pre_z, d_pre_o], axis=-1)
        per_head = d_pre.reshape(len(d_pre), 4, heads, d).transpose(0, 2, 1, 3).reshape(len(d_pre), heads, 4 * d)
        h_prev = s["h_prev"].reshape(len(d_pre), heads, d)
        d_recurrent += np.einsum("bhj,bhk->hjk", h_prev, per_head)
        d_h_next = np.einsum("bhk,hjk->bhj", per_head, recurrent_kernel).reshape(len(d_pre), -1)
        d_bias += d_pre.sum(axis=0)
        if kernel is None:
            d_x[:, t] = d_pre
        else:
            d_kernel += x[:, t].T @ d_pre
            d_x[:, t] = d_pre @ kernel.T
    grads = {"x": d_x, "recurrent_kernel": d_recurrent, "bias": d_bias, "h0": d_h_next, "c0": d_c, "n0": d_n,
             "m0": d_m}
    if kernel is not None:
        grads["kernel"] = d_kernel
    return grads


# mLSTM (models/mlstm.py), per head, q, k, v (batch, heads, T, d), ĩ, f̃ (batch, heads, T), from (C_0, n_0, m_0):
#
#     k_t ← k_t/√d      m_t = max(log σ(f̃_t) + m_{t−1}, ĩ_t)
#     i_t = exp(ĩ_t − m_t)   f_t = exp(log σ(f̃_t) + m_{t−1} − m_t)
#     C_t = f_t C_{t−1} + i_t k_t v_tᵀ   n_t = f_t n_{t−1} + i_t k_t
#     h̃_t = C_tᵀ q_t / (max(|n_t·q_t|, exp(−m_t)) + ε)


def mlstm_forward(q, k, v, i_pre, f_pre, state=None, eps=1e-6):
    """The stabilized mLSTM step by step. Returns (h̃ (batch, heads, T, d), the last (C, n, m))."""
    batch, heads, steps, d = q.shape
    if state is None:
        state = (np.zeros((batch, heads, d, d), q.dtype), np.zeros((batch, heads, d), q.dtype),
                 np.zeros((batch, heads), q.dtype))
    c, n, m = state
    k = k / np.sqrt(d)
    h = np.zeros_like(v)
    for t in range(steps):
        log_f = -np.logaddexp(0.0, -f_pre[:, :, t])
        m_new = np.maximum(log_f + m, i_pre[:, :, t])
        f, i = np.exp(log_f + m - m_new), np.exp(i_pre[:, :, t] - m_new)
        c = f[..., None, None] * c + i[..., None, None] * np.einsum("bhk,bhv->bhkv", k[:, :, t], v[:, :, t])
        n = f[..., None] * n + i[..., None] * k[:, :, t]
        m = m_new
        dot = np.einsum("bhk,bhk->bh", q[:, :, t], n)
        h[:, :, t] = np.einsum("bhk,bhkv->bhv", q[:, :, t], c) / (np.maximum(np.abs(dot), np.exp(-m)) + eps)[..., None]
    return h, (c, n, m)
