"""The hand-written backward pass of the LSTM layer and stack (σ and tanh only).

`fused_stack` runs one or more stacked LSTMs, unrolled, as one
`keras.ops.custom_gradient` function whose backward pass is written out by
hand; `fused_recurrence` is its one-layer case. `fused_gradient_applies` is the
one test of when the layers may take this path. `models.reference` is the same
derivation in NumPy, the yardstick of the tests.
"""

import keras
from keras import ops

from models.cell import lstm_update

# The backends whose `keras.ops.custom_gradient` Keras implements.
FUSED_BACKENDS = ("tensorflow", "jax")


# The longest sequence unrolled by default. The unrolled graph, its memory and the time to trace and compile it
# grow with the length, the scan loop's do not; past this length `unroll=None` takes the scan loop (where the
# two cross: benchmarks/long_sequences.py, docs/speed.md#long-sequences).
MAX_UNROLLED_STEPS = 500


def unrolls(unroll, steps):
    """Whether an `LSTM` with this `unroll` argument unrolls `steps` time steps (None: not known when built)."""
    return steps is not None and (unroll is True or (unroll is None and steps <= MAX_UNROLLED_STEPS))


def fused_gradient_applies(lstms, steps, mask=None, recurrent_mask=None, stacked=False):
    """Whether `lstms` may run on `fused_stack`, the hand-written backward pass.

    The one test of the fast path: `LSTM` asks it for itself when it unrolls,
    `LSTMStack` for its layers together. Otherwise the layers run `LSTMCell.step`
    in a loop and automatic differentiation takes the gradient.

    Args:
        lstms: The `LSTM` layers, bottom first (one for a single layer).
        steps: The number of time steps if known when the model is built, else None.
        mask: The sequence mask, if any (the fused loop has none).
        recurrent_mask: A single layer's recurrent-dropout mask, if any.
        stacked: Whether the layers run as one `LSTMStack` loop, which takes
            over their calls: then each also needs biases (its input is
            projected inside the loop), no cell `dropout` or
            `recurrent_dropout` and no activity regularizer.

    Returns:
        `True` when every layer's cell has the standard gates
        (`LSTMCell.has_standard_gates`), may unroll, and the above holds, on a
        backend of `FUSED_BACKENDS`.
    """
    if mask is not None or recurrent_mask is not None or steps is None:
        return False
    if keras.backend.backend() not in FUSED_BACKENDS:
        return False
    for layer in lstms:
        cell = layer.cell
        if not cell.has_standard_gates or not unrolls(layer.unroll, steps):
            return False
        if stacked and (
            not cell.use_bias or cell.dropout or cell.recurrent_dropout or layer.activity_regularizer is not None
        ):
            return False
    return True


def fused_recurrence(z_x, h_0, c_0, recurrent_kernel):
    """One layer's unrolled recurrence with the hand-written backward pass of `fused_stack`.

    Returns `(outputs, C_T)`: h_t of every step `(T, batch, units)` and the last cell state.
    """
    outputs, [(_, c)] = fused_stack(z_x, [(h_0, c_0)], [recurrent_kernel])
    return outputs, c


def fused_stack(z_x, states, recurrent_kernels, input_kernels=(), biases=(), masks=()):
    """Stacked LSTMs (σ, tanh) unrolled as one recurrence, with a hand-written backward pass.

    Args:
        z_x: `(T, batch, 4·units_1)`, x_t·W_x + b of the first layer for every step,
            gate blocks i, f, C̃, o.
        states: `[(h_0, C_0)]` per layer, each `(batch, units_l)`.
        recurrent_kernels: W_h of every layer, `(units_l, 4·units_l)`.
        input_kernels, biases: W_x and b of layers 2, 3, …: their input is the
            layer below's h_t, so it is projected step by step inside the loop.
        masks: for layers 2, 3, …, None or the dropout mask (already scaled) on
            the layer below's h_t: `(T, batch, units)`, or `(1, batch, units)`
            for one mask per sequence (locked dropout).

    Returns:
        `(outputs, finals)`: the top layer's h_t of every step `(T, batch, units)`
        and the last `(h_T, C_T)` of every layer.

    Written as one loop over steps and layers, step t of layer l depends only on
    step t of layer l − 1 and step t − 1 of layer l, so the graph is a wavefront:
    layer 2's step t can run beside layer 1's step t + 1 (TensorFlow schedules
    independent ops on its inter-op threads), and the backward pass likewise in
    reverse. Automatic differentiation of the same loop would emit a few dozen
    small ops per step and layer (the gradient of every split, product and
    activation, a weight product per step); here the factors below that do
    not depend on the gradient are computed once (on TensorFlow in the forward
    pass, step by step while the step's gates are fresh in cache; on JAX for
    all steps at once before the backward loop, from fewer kept tensors, which
    XLA fuses: each is the faster on its backend), the backward pass runs 7 ops
    per step and layer (dh, dC, dz, dh_{t-1}, dC_{t-1}, plus the input gradient
    dz·W_xᵀ handed to the layer below), and forms every weight gradient as
    one product over all steps, e.g. Σ_t h_{t-1}ᵀ·dz_t = H_prevᵀ·dZ. With a_t the
    gate activations (i, f, C̃, o) and their derivatives σ' = a(1−a), tanh' = 1−a²:

        dh_t     = ∂L/∂h_t (from above) + dh_t (from step t+1)
        dC_t     = dC_{t+1}·f_{t+1} + dh_t·o_t·(1 − tanh²C_t)
        dz_t     = [dC_t·C̃_t·σ'_i, dC_t·C_{t-1}·σ'_f, dC_t·i_t·tanh'_C̃, dh_t·tanh C_t·σ'_o]
        dh_{t-1} = dz_t·W_hᵀ        ∂L/∂x_t = dz_t·W_xᵀ (the layer below's "from above")
    """
    layers = len(recurrent_kernels)
    masks = list(masks) or [None] * (layers - 1)
    has_mask = tuple(m is not None for m in masks)
    flat = [z_x, *(s for state in states for s in state), *recurrent_kernels, *input_kernels, *biases]
    flat += [m for m in masks if m is not None]
    outputs, *finals = _stack_function(layers, has_mask)(*flat)
    return outputs, [tuple(finals[2 * l:2 * l + 2]) for l in range(layers)]


def _stack_function(layers, has_mask):
    """The custom-gradient function of `fused_stack` for a number of layers and which masks are given."""

    def unpack(args):
        args = list(args)
        z_x = args.pop(0)
        states = [(args.pop(0), args.pop(0)) for _ in range(layers)]
        w_h = [args.pop(0) for _ in range(layers)]
        w_x = [None] + [args.pop(0) for _ in range(layers - 1)]
        b = [None] + [args.pop(0) for _ in range(layers - 1)]
        masks = [None] + [args.pop(0) if present else None for present in has_mask]
        return z_x, states, w_h, w_x, b, masks

    @ops.custom_gradient
    def stack(*args):
        z_x, states, w_h, w_x, b, masks = unpack(args)
        steps = z_x.shape[0]
        z_first = ops.unstack(z_x, num=steps, axis=0)
        mask_t = [None if m is None else (ops.unstack(m, num=steps, axis=0) if m.shape[0] != 1 else [m[0]] * steps)
                  for m in masks]
        h = [s[0] for s in states]
        c = [s[1] for s in states]
        # per layer and step: h_t, the layer's input, and what the backward pass needs of the step
        hs, inputs, saved = ([[] for _ in range(layers)] for _ in range(3))
        factors_per_step = keras.backend.backend() == "tensorflow"
        for t in range(steps):
            for l in range(layers):
                if l == 0:
                    z = z_first[t] + ops.matmul(h[0], w_h[0])
                else:
                    x = hs[l - 1][t] if mask_t[l] is None else hs[l - 1][t] * mask_t[l][t]
                    inputs[l].append(x)
                    z = ops.matmul(x, w_x[l]) + b[l] + ops.matmul(h[l], w_h[l])
                c_prev = c[l]
                new = lstm_update(z, c_prev)  # σ and tanh, the activations `backward` below differentiates
                c[l], h[l] = new.c, new.h
                hs[l].append(h[l])
                if factors_per_step:  # (a graph without the gradient prunes them)
                    saved[l].append((*_backward_factors(new.i, new.f, new.c_tilde, new.o, c_prev, new.tanh_c), new.f))
                else:
                    saved[l].append((new.i, new.f, new.c_tilde, new.o, new.c))
        outputs = ops.stack(hs[-1], axis=0)
        finals = [s for l in range(layers) for s in (h[l], c[l])]

        def backward(*upstream):
            if len(upstream) == 1:  # JAX hands the cotangents as one tuple, TensorFlow one by one
                upstream = upstream[0]
            d_outputs, d_finals = upstream[0], upstream[1:]
            d_outputs = ops.zeros_like(outputs) if d_outputs is None else d_outputs
            d_h = [ops.zeros_like(h[l]) if d_finals[2 * l] is None else d_finals[2 * l] for l in range(layers)]
            d_c = [ops.zeros_like(c[l]) if d_finals[2 * l + 1] is None else d_finals[2 * l + 1] for l in range(layers)]
            if factors_per_step:
                factors = saved
            else:  # for all steps at once (C_{t-1} and tanh C_t again from the C_t kept), then taken apart
                factors = []
                for l in range(layers):
                    i, f, c_tilde, o, cell = (ops.stack(a, axis=0) for a in zip(*saved[l]))
                    c_prev = ops.concatenate([ops.expand_dims(states[l][1], 0), cell[:-1]], axis=0)
                    every_step = (*_backward_factors(i, f, c_tilde, o, c_prev, ops.tanh(cell)), f)
                    factors.append(list(zip(*(ops.unstack(a, num=steps, axis=0) for a in every_step))))
            w_h_t = [ops.transpose(w) for w in w_h]
            w_x_t = [None] + [ops.transpose(w) for w in w_x[1:]]
            d_out_t = ops.unstack(d_outputs, num=steps, axis=0)
            d_z = [[None] * steps for _ in range(layers)]
            for t in reversed(range(steps)):
                from_above = d_out_t[t]
                for l in reversed(range(layers)):
                    d_h_l = d_h[l] + from_above
                    gate_factor, dc_from_h, forget = factors[l][t]
                    d_c[l] = d_c[l] + d_h_l * dc_from_h
                    d_z[l][t] = ops.concatenate([d_c[l], d_c[l], d_c[l], d_h_l], axis=-1) * gate_factor
                    d_h[l] = ops.matmul(d_z[l][t], w_h_t[l])
                    d_c[l] = d_c[l] * forget
                    if l:
                        from_above = ops.matmul(d_z[l][t], w_x_t[l])
                        if mask_t[l] is not None:
                            from_above = from_above * mask_t[l][t]
            d_z = [ops.stack(d, axis=0) for d in d_z]
            d_states, d_w_h, d_w_x, d_b = [], [], [], []
            for l in range(layers):
                units = w_h[l].shape[0]
                d_z_2d = ops.reshape(d_z[l], (-1, 4 * units))
                h_prev = ops.stack([states[l][0]] + hs[l][:-1], axis=0)
                d_w_h.append(ops.matmul(ops.transpose(ops.reshape(h_prev, (-1, units))), d_z_2d))
                d_states += [d_h[l], d_c[l]]
                if l:
                    x = ops.stack(inputs[l], axis=0)
                    d_w_x.append(ops.matmul(ops.transpose(ops.reshape(x, (-1, x.shape[-1]))), d_z_2d))
                    d_b.append(ops.sum(d_z_2d, axis=0))
            d_masks = [ops.zeros_like(m) for m in masks if m is not None]  # masks are constants
            return (d_z[0], *d_states, *d_w_h, *d_w_x, *d_b, *d_masks)

        return (outputs, *finals), backward

    return stack


def _backward_factors(i, f, c_tilde, o, c_prev, tanh_c):
    """What `fused_stack`'s backward pass multiplies by: dz = [dC, dC, dC, dh]·gate_factor, dC += dh·dc_from_h.

    One step `(batch, units)` or all steps `(T, batch, units)` alike.
    """
    gate_factor = ops.concatenate(
        [c_tilde * i * (1 - i), c_prev * f * (1 - f), i * (1 - c_tilde * c_tilde), tanh_c * o * (1 - o)], axis=-1
    )
    return gate_factor, o * (1 - tanh_c * tanh_c)

