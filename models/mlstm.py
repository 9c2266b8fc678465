"""The mLSTM of xLSTM (Beck et al., NeurIPS 2024): a matrix memory, no recurrent weights, in keras.ops only.

Per head, with query q_t, key k_t and value v_t (d wide) and the paper's
equation numbers (arXiv:2405.04517):

    (25) i_t = exp(ĩ_t)      (26) f_t = σ(f̃_t)      ĩ_t, f̃_t = w·[q_t, k_t, v_t] + b: one scalar per head
    (23) k_t ← k_t / √d
    (19) C_t = f_t C_{t−1} + i_t v_t k_tᵀ           matrix memory (stored as its transpose, k by v)
    (20) n_t = f_t n_{t−1} + i_t k_t                normalizer
    (21) h̃_t = C_t q_t / max(|n_tᵀ q_t|, 1)

(the output gate and the projections are the xLSTM block's: models/xlstm.py).
Stabilized as the sLSTM, C_t and n_t are kept divided by exp(m_t):

    m_t = max(log f_t + m_{t−1}, ĩ_t)     i'_t = exp(ĩ_t − m_t)     f'_t = exp(log f_t + m_{t−1} − m_t)
    h̃_t = C_t q_t / (max(|n_tᵀ q_t|, exp(−m_t)) + ε)

— the official `recurrent_step_stabilized_simple` (NX-AI/xlstm,
xlstm/blocks/mlstm/backends.py), ε = 1e-6, from m_0 = 0.

The parallel form (`mlstm_parallel`, the official `parallel_stabilized_simple`
with a starting state): with F_t = Σ_{τ≤t} log f_τ, the weight of step s in
step t's memory is exp(log D_ts), log D_ts = F_t − F_s + ĩ_s (s ≤ t), and the
weight of the starting state (C_0, n_0, m_0) is exp(F_t + m_0). Unrolling the
recurrence gives m_t = max(F_t + m_0, max_{s≤t} log D_ts) and

    h̃_t = [e^{F_t+m_0−m_t} C_0ᵀ q_t + Σ_s e^{log D_ts − m_t} (q_t·k_s) v_s]
          / (max(|e^{F_t+m_0−m_t} n_0·q_t + Σ_s e^{log D_ts − m_t} q_t·k_s|, e^{−m_t}) + ε)

with the last state C_T, n_T, m_T read off row T: the same numbers as T
recurrent steps, in one (T × T) product per head. Without a starting state
the official parallel form leaves the term F_t + m_0 out of the max, so its
h̃ differs from this (and from its own recurrent form) through ε only.
"""

import math

import keras
from keras import initializers, ops

from models import backward
from models.carry import CarriedState
from models.checks import check_choice, check_positive
from models.serialization import SERIALIZATION_PACKAGE

MODES = ("parallel", "recurrent")
EPS = 1e-6  # the official backends' ε


def mlstm_parallel(q, k, v, i_pre, f_pre, state, eps=EPS):
    """The stabilized parallel form from `state` (module docstring).

    Args:
        q, k, v: (batch, heads, T, d); k not yet divided by √d.
        i_pre, f_pre: (batch, heads, T), the gates' pre-activations ĩ, f̃.
        state: (C_0 (batch, heads, d, d), n_0 (batch, heads, d), m_0 (batch, heads)).

    Returns:
        h̃ (batch, heads, T, d) and the last state (C_T, n_T, m_T).
    """
    c0, n0, m0 = state
    k = k / math.sqrt(k.shape[-1])
    log_f = ops.log_sigmoid(f_pre)
    steps = ops.shape(q)[2]
    rows, columns = ops.expand_dims(ops.arange(steps), 1), ops.expand_dims(ops.arange(steps), 0)
    # F_t − F_s as the sum of log f_τ over s < τ ≤ t itself: the difference of two long cumulative sums would lose
    # float32 digits to cancellation over a long sequence (the official form's F_t − F_s does).
    between = ops.cumsum(ops.where(ops.greater(rows, columns), ops.expand_dims(log_f, -1), 0.0), axis=-2)
    log_d = ops.where(ops.greater_equal(rows, columns), between + ops.expand_dims(i_pre, -2), -math.inf)  # [t, s]
    log_start = ops.cumsum(log_f, axis=-1) + ops.expand_dims(m0, -1)  # F_t + m_0
    m = ops.maximum(ops.max(log_d, axis=-1), log_start)  # (batch, heads, T)
    d = ops.exp(log_d - ops.expand_dims(m, -1))
    start = ops.exp(log_start - m)
    scores = ops.matmul(q, ops.swapaxes(k, -1, -2)) * d  # (batch, heads, T, T)
    numerator = ops.matmul(scores, v) + ops.expand_dims(start, -1) * ops.matmul(q, c0)
    dot = ops.sum(scores, axis=-1) + start * ops.einsum("bhtd,bhd->bht", q, n0)
    h = numerator / ops.expand_dims(ops.maximum(ops.abs(dot), ops.exp(-m)) + eps, -1)
    last_d, last_start = d[:, :, -1], start[:, :, -1]  # row T
    weighted_k = k * ops.expand_dims(last_d, -1)
    c_last = ops.matmul(ops.swapaxes(weighted_k, -1, -2), v) + last_start[..., None, None] * c0
    n_last = ops.sum(weighted_k, axis=2) + ops.expand_dims(last_start, -1) * n0
    return h, (c_last, n_last, m[:, :, -1])


def mlstm_step(q, k, v, i_pre, f_pre, c, n, m, eps=EPS):
    """One stabilized recurrent step (module docstring): q, k, v (batch, heads, d), i_pre, f_pre (batch, heads),
    the state C (batch, heads, d, d), n (batch, heads, d), m (batch, heads). Returns h̃ and the new (C, n, m)."""
    k = k / math.sqrt(k.shape[-1])
    log_f = ops.log_sigmoid(f_pre)
    m_new = ops.maximum(log_f + m, i_pre)
    f = ops.exp(log_f + m - m_new)
    i = ops.exp(i_pre - m_new)
    c_new = f[..., None, None] * c + i[..., None, None] * ops.einsum("bhk,bhv->bhkv", k, v)  # (19)
    n_new = f[..., None] * n + i[..., None] * k  # (20)
    numerator = ops.einsum("bhk,bhkv->bhv", q, c_new)
    dot = ops.sum(q * n_new, axis=-1)
    h = numerator / ops.expand_dims(ops.maximum(ops.abs(dot), ops.exp(-m_new)) + eps, -1)  # (21)
    return h, (c_new, n_new, m_new)


def mlstm_recurrent(q, k, v, i_pre, f_pre, state, eps=EPS, unroll=None):
    """`mlstm_step` over the T steps of q, k, v (batch, heads, T, d): the same as `mlstm_parallel`, in a loop."""
    time_major = [ops.moveaxis(x, 2, 0) for x in (q, k, v, i_pre, f_pre)]
    steps = q.shape[2]
    if backward.unrolls(unroll, steps):
        outputs = []
        for t in range(steps):
            h, state = mlstm_step(*(x[t] for x in time_major), *state, eps=eps)
            outputs.append(h)
        return ops.stack(outputs, axis=2), state

    d = q.shape[-1]

    def body(carry, packed):  # TensorFlow's scan wants each step's output shaped like the carry
        q_t, k_t, v_t, i_t, f_t = ops.split(packed, [d, 2 * d, 3 * d, 3 * d + 1], axis=-1)
        h, carry = mlstm_step(q_t, k_t, v_t, i_t[..., 0], f_t[..., 0], *carry[1:], eps=eps)
        return (h, *carry), (h, *carry)

    # one tensor to scan over: Keras' TensorFlow scan fails on several of unknown length
    packed = ops.concatenate([*time_major[:3], *(ops.expand_dims(x, -1) for x in time_major[3:])], axis=-1)
    zero_h = ops.zeros_like(time_major[2][0])
    carry, emitted = ops.scan(body, (zero_h, *state), packed)
    return ops.moveaxis(emitted[0], 0, 2), tuple(carry[1:])


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class LinearSpace(initializers.Initializer):
    """A vector from `start` to `end` in equal steps (the official forget-gate bias: 3 to 6 over the heads)."""

    def __init__(self, start=3.0, end=6.0):
        self.start, self.end = float(start), float(end)

    def __call__(self, shape, dtype=None):
        return ops.cast(ops.linspace(self.start, self.end, shape[0]), dtype or "float32")

    def get_config(self):
        return {"start": self.start, "end": self.end}


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class MLSTM(CarriedState, keras.layers.Layer):
    """The mLSTM layer (module docstring): queries, keys and values in, h̃_t of every step out.

    The input and forget gates are one scalar per head and step, computed from
    [q_t, k_t, v_t] (the official mLSTMCell's `igate`, `fgate`); q, k and v
    come from the caller (the xLSTM block projects them).

    Args:
        heads: Positive integer dividing the width of q, k, v: the heads'
            memories are separate (d = width / heads each).
        mode: "parallel" (the T × T form, for training) or "recurrent" (one
            step at a time, as in generation); the same numbers.
        eps: ε of the denominator.
        gate_kernel_initializer: Of both gates' kernels (official: zeros).
        input_gate_bias_initializer: Official: normal(0, 0.1).
        forget_gate_bias_initializer: Official: from 3 to 6 over the heads.
        return_state: Also return the last (C, n, m).
        stateful: Start each batch from the state the last one left (a fixed
            batch size; `reset_state()` zeros it).
        unroll: Of the recurrent mode, as in `SLSTM`.
        **kwargs: Those of `keras.layers.Layer`.

    Call arguments: `q`, `k`, `v` (batch, T, width), `initial_state` (C
    (batch, heads, d, d), n (batch, heads, d), m (batch, heads); zeros if None).
    Returns h̃ (batch, T, width), the heads side by side.
    """

    def __init__(self, heads=1, mode="parallel", eps=EPS, gate_kernel_initializer="zeros",
                 input_gate_bias_initializer=None, forget_gate_bias_initializer=None, return_state=False,
                 stateful=False, unroll=None, **kwargs):
        super().__init__(**kwargs)
        self.heads = check_positive("heads", heads, 4)
        self.mode = check_choice("mode", mode, MODES)
        self.eps = float(eps)
        self.gate_kernel_initializer = initializers.get(gate_kernel_initializer)
        self.input_gate_bias_initializer = initializers.get(
            input_gate_bias_initializer or initializers.RandomNormal(0.0, 0.1))
        self.forget_gate_bias_initializer = initializers.get(forget_gate_bias_initializer or LinearSpace(3.0, 6.0))
        self.return_state, self.stateful, self.unroll = bool(return_state), bool(stateful), unroll

    def build(self, q_shape, k_shape=None, v_shape=None, initial_state_shape=None):
        width = q_shape[-1]
        for name, shape in (("k", k_shape), ("v", v_shape)):
            if shape is not None and shape[-1] != width:
                raise ValueError(f"MLSTM reads q, k and v of one width; q is {width} wide, {name} {shape[-1]}.")
        if width % self.heads:
            raise ValueError(f"q, k, v of width {width} cannot be split into {self.heads} heads: choose heads that "
                             f"divide {width}.")
        self.head_units = width // self.heads
        for gate, bias_init in (("input", self.input_gate_bias_initializer),
                                ("forget", self.forget_gate_bias_initializer)):
            setattr(self, f"{gate}_gate_kernel", self.add_weight(
                shape=(3 * width, self.heads), initializer=self.gate_kernel_initializer, name=f"{gate}_gate_kernel"))
            setattr(self, f"{gate}_gate_bias", self.add_weight(shape=(self.heads,), initializer=bias_init,
                                                               name=f"{gate}_gate_bias"))
        d = self.head_units
        self.build_carry(q_shape[0], {"c": (self.heads, d, d), "n": (self.heads, d), "m": (self.heads,)})
        if self.mode == "recurrent" and not backward.unrolls(self.unroll, q_shape[1]) and \
                keras.backend.backend() == "tensorflow":
            self.supports_jit = False

    def get_initial_state(self, batch_size):
        d = self.head_units
        return [ops.zeros(shape, self.compute_dtype) for shape in
                ((batch_size, self.heads, d, d), (batch_size, self.heads, d), (batch_size, self.heads))]

    def split_heads(self, x):
        """(batch, T, width) → (batch, heads, T, d)."""
        batch, steps = ops.shape(x)[0], ops.shape(x)[1]
        return ops.transpose(ops.reshape(x, (batch, steps, self.heads, self.head_units)), (0, 2, 1, 3))

    def call(self, q, k, v, initial_state=None):
        state = initial_state or self.carried_state() or self.get_initial_state(ops.shape(q)[0])
        gate_inputs = ops.concatenate([q, k, v], axis=-1)
        i_pre = ops.transpose(ops.matmul(gate_inputs, self.input_gate_kernel) + self.input_gate_bias, (0, 2, 1))
        f_pre = ops.transpose(ops.matmul(gate_inputs, self.forget_gate_kernel) + self.forget_gate_bias, (0, 2, 1))
        heads = [self.split_heads(x) for x in (q, k, v)]
        if self.mode == "parallel":
            h, state = mlstm_parallel(*heads, i_pre, f_pre, state, self.eps)
        else:
            h, state = mlstm_recurrent(*heads, i_pre, f_pre, state, self.eps, self.unroll)
        self.carry_on(state)
        batch, steps = ops.shape(q)[0], ops.shape(q)[1]
        h = ops.reshape(ops.transpose(h, (0, 2, 1, 3)), (batch, steps, self.heads * self.head_units))
        return [h, *state] if self.return_state else h

    def compute_output_shape(self, q_shape, k_shape=None, v_shape=None, initial_state_shape=None):
        if not self.return_state:
            return q_shape
        batch, d = q_shape[0], q_shape[-1] // self.heads
        return [q_shape, (batch, self.heads, d, d), (batch, self.heads, d), (batch, self.heads)]

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "mode": self.mode, "eps": self.eps,
                "gate_kernel_initializer": initializers.serialize(self.gate_kernel_initializer),
                "input_gate_bias_initializer": initializers.serialize(self.input_gate_bias_initializer),
                "forget_gate_bias_initializer": initializers.serialize(self.forget_gate_bias_initializer),
                "return_state": self.return_state, "stateful": self.stateful, "unroll": self.unroll}
