"""The sLSTM of xLSTM (Beck et al., "xLSTM: Extended Long Short-Term Memory", NeurIPS 2024), in keras.ops only.

An LSTM with an exponential input gate, a normalizer state and memory mixing
within heads. In the README's notation (z_t is the candidate C̃_t), with the
paper's equation numbers (arXiv:2405.04517):

    z̃_t = W_z·x_t + R_z·h_{t−1} + b_z, likewise ĩ_t, f̃_t, õ_t  (R block-diagonal: one block per head)
    (11) z_t = tanh(z̃_t)
    (12) i_t = exp(ĩ_t)
    (13) f_t = σ(f̃_t)  or  exp(f̃_t)                 (forget_gate "sigmoid", the default, or "exponential")
    (14) o_t = σ(õ_t)
    (8)  C_t = f_t * C_{t−1} + i_t * z_t            cell state
    (9)  n_t = f_t * n_{t−1} + i_t                  normalizer state
    (10) h_t = o_t * C_t / n_t

exp overflows, so the layer keeps C_t and n_t divided by exp(m_t), the
stabilizer state (15)–(17):

    (15) m_t  = max(log f_t + m_{t−1}, ĩ_t)         (m_{t−1} = −∞ while n_{t−1} = 0: the first step)
    (16) i'_t = exp(ĩ_t − m_t)
    (17) f'_t = exp(log f_t + m_{t−1} − m_t)

and uses i', f' in (8), (9). C_t / n_t, so h_t, is the same for any m
(both carry the same factor), so m changes no output and no gradient.
This follows the official code's pure-PyTorch sLSTM (NX-AI/xlstm,
xlstm/blocks/slstm/src/vanilla/slstm.py `slstm_forward_pointwise`), which
sets m_t = ĩ_t where n = 0 over the whole batch (this: per unit, with m_{t−1}
= −∞, so that f'_t = 0 rather than exp(log f_t − ĩ_t), which overflows for
ĩ_t < −88 in float32 and makes 0·∞ = NaN), and clamps i', f' at 1, which (15)
makes a no-op.

Weights: `kernel` (input_dim, 4·units) unless `input_projection=False` (then
the input is x·W already, as the xLSTM block computes it head-wise),
`recurrent_kernel` (heads, units/heads, 4·units/heads): head h's block, whose
columns are that head's i, f, z, o; `bias` (4·units). The columns of `kernel`
and `bias` are gate blocks i, f, z, o of `units` each, heads in order within a
block (the official code's internal layout).
"""

import math

import keras
from keras import initializers, ops

from models import backward
from models.carry import CarriedState
from models.checks import check_choice, check_heads, check_positive
from models.serialization import SERIALIZATION_PACKAGE
from models.xlstm_parts import block_diagonal

FORGET_GATES = ("sigmoid", "exponential")


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class PowerLawForgetBias(initializers.Initializer):
    """The sLSTM bias of the official code's "powerlaw_blockdependent" init: i, z, o zero, f per head

        b_f[j] = 5 − 12 · (j / (head_units − 1)) ^ (0.3 + 1.3 · block_index / (blocks − 1))

    for the units j of a head (xlstm/blocks/slstm/cell.py `reset_parameters`): forget gates from σ(5) (long memory)
    down to σ(−7), their spread depending on the block's depth.
    """

    def __init__(self, heads=1, block_index=0, blocks=1):
        self.heads, self.block_index, self.blocks = int(heads), int(block_index), int(blocks)

    def __call__(self, shape, dtype=None):
        units = shape[0] // 4
        head_units = units // self.heads
        ratio = self.block_index / (self.blocks - 1) if self.blocks > 1 else 0.0
        position = ops.arange(head_units, dtype="float32") / max(head_units - 1, 1)
        head = 5.0 - 12.0 * position ** (0.3 + 1.3 * ratio)
        zeros = ops.zeros((units,), "float32")
        return ops.cast(ops.concatenate([zeros, ops.tile(head, (self.heads,)), zeros, zeros]), dtype or "float32")

    def get_config(self):
        return {"heads": self.heads, "block_index": self.block_index, "blocks": self.blocks}


def slstm_step(z_x, h, c, n, m, recurrent, forget_gate="sigmoid"):
    """One step of the stabilized sLSTM (module docstring), from z_x = x_t·W + b of shape (batch, 4·units).

    `recurrent`: the recurrent kernel as one dense (units, 4·units) matrix in gate blocks
    (`models.xlstm_parts.block_diagonal(recurrent_kernel, 4)`), so R·h_{t−1} is one matmul per step.
    Returns the new (h, c, n, m), each (batch, units).
    """
    z_i, z_f, z_z, z_o = ops.split(z_x + ops.matmul(h, recurrent), 4, axis=-1)
    log_f = ops.log_sigmoid(z_f) if forget_gate == "sigmoid" else z_f
    m = ops.where(ops.equal(n, 0.0), -math.inf, m)  # an empty state weighs nothing: m_t = ĩ_t, f'_t = 0
    m_new = ops.maximum(log_f + m, z_i)  # (15)
    i = ops.exp(z_i - m_new)  # (16)
    f = ops.exp(log_f + m - m_new)  # (17)
    c_new = f * c + i * ops.tanh(z_z)  # (8), (11)
    n_new = f * n + i  # (9)
    h_new = ops.sigmoid(z_o) * c_new / n_new  # (10), (14)
    return h_new, c_new, n_new, m_new


def fused_slstm(z_x, states, recurrent, forget_gate="sigmoid"):
    """The unrolled sLSTM over z_x (T, batch, 4·units) from `states` (h, c, n, m), with a hand-written backward pass.

    The same numbers as `slstm_step` in a loop; returns (h of every step (T, batch, units), the last (h, c, n, m)).
    The backward pass is `models.reference.slstm_backward` (the stabilizers m_1..m_T are constants there: h does not
    depend on them), in 10 elementwise ops and one matmul per step instead of automatic differentiation's few dozen,
    with the recurrent kernel's gradient as one product over all steps, H_prevᵀ·dZ. It differentiates a loss on the
    h_t (and on the last h): the gradients reaching the last c, n, m are not passed on (the stabilized c_T, n_T
    depend on the choice of m_T), so `SLSTM` takes this path only when it returns no state.
    """
    return _fused_function(forget_gate)(z_x, *states, recurrent)


def _fused_function(forget_gate):
    @ops.custom_gradient
    def slstm(z_x, h0, c0, n0, m0, recurrent):
        steps = z_x.shape[0]
        h, c, n, m = h0, c0, n0, m0
        hs, saved = [], []
        for z in ops.unstack(z_x, num=steps, axis=0):
            z_i, z_f, z_z, z_o = ops.split(z + ops.matmul(h, recurrent), 4, axis=-1)
            log_f = ops.log_sigmoid(z_f) if forget_gate == "sigmoid" else z_f
            m_prev = ops.where(ops.equal(n, 0.0), -math.inf, m)
            m = ops.maximum(log_f + m_prev, z_i)  # (15)
            i = ops.exp(z_i - m)  # (16)
            f = ops.exp(log_f + m_prev - m)  # (17)
            tanh_z, o = ops.tanh(z_z), ops.sigmoid(z_o)
            saved.append((i, f, tanh_z, o, c, n, z_f))
            c = f * c + i * tanh_z  # (8)
            n = f * n + i  # (9)
            h = o * c / n  # (10)
            hs.append(h)
        outputs = ops.stack(hs, axis=0)

        def backward(*upstream):
            if len(upstream) == 1:  # JAX hands the cotangents as one tuple, TensorFlow one by one
                upstream = upstream[0]
            d_outputs, d_h_last = upstream[0], upstream[1]
            d_outputs = ops.zeros_like(outputs) if d_outputs is None else d_outputs
            # the factors of every step at once: (T, batch, units) each
            i, f, tanh_z, o, c_prev, n_prev, z_f = (ops.stack(a, axis=0) for a in zip(*saved))
            c_all = f * c_prev + i * tanh_z
            n_all = f * n_prev + i
            per_n = o / n_all
            forget = f * ops.sigmoid(-z_f) if forget_gate == "sigmoid" else f
            # δ[ĩ, f̃, z̃, õ] = [δc, δc, δc, δh]·first + [δn, δn, 0, 0]·second
            first = ops.concatenate([tanh_z * i, c_prev * forget, i * (1.0 - tanh_z * tanh_z),
                                     c_all * per_n * (1.0 - o)], axis=-1)
            second = ops.concatenate([i, n_prev * forget], axis=-1)
            factors = [ops.unstack(a, num=steps, axis=0)
                       for a in (first, second, per_n, -per_n * c_all / n_all, f, n_prev * f, c_prev * f)]
            recurrent_t = ops.transpose(recurrent)
            d_out_t = ops.unstack(d_outputs, num=steps, axis=0)
            d_h = ops.zeros_like(h) if d_h_last is None else d_h_last
            d_c, d_n = ops.zeros_like(c), ops.zeros_like(n)
            d_pre = [None] * steps
            for t in reversed(range(steps)):
                first_t, second_t, dc_from_h, dn_from_h, f_t, _, _ = (a[t] for a in factors)
                d_h = d_h + d_out_t[t]
                d_c = d_c + d_h * dc_from_h
                d_n = d_n + d_h * dn_from_h
                d_pre[t] = (ops.concatenate([d_c, d_c, d_c, d_h], axis=-1) * first_t
                            + ops.pad(ops.concatenate([d_n, d_n], axis=-1) * second_t, [(0, 0), (0, 2 * d_n.shape[-1])]))
                if t == 0:  # δf·f reaches m_{t−1}: kept for m_0 only
                    d_m0 = d_c * factors[6][0] + d_n * factors[5][0]
                d_h = ops.matmul(d_pre[t], recurrent_t)
                d_c, d_n = d_c * f_t, d_n * f_t
            d_z_x = ops.stack(d_pre, axis=0)
            h_prev = ops.concatenate([ops.expand_dims(h0, 0), outputs[:-1]], axis=0)
            units = recurrent.shape[0]
            d_recurrent = ops.matmul(ops.transpose(ops.reshape(h_prev, (-1, units))),
                                     ops.reshape(d_z_x, (-1, 4 * units)))
            return d_z_x, d_h, d_c, d_n, d_m0, d_recurrent

        return (outputs, h, c, n, m), backward

    return slstm


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class SLSTM(CarriedState, keras.layers.Layer):
    """The sLSTM layer (module docstring): a sequence in, h_t of every step or of the last one out.

    Args:
        units: Positive integer, the size of h_t, C_t, n_t and m_t.
        heads: Positive integer dividing `units`: h_{t−1} reaches the gates
            of its own head only (memory mixing within a head).
        forget_gate: "sigmoid" (the paper's and the official default) or
            "exponential": f_t = σ(f̃_t) or exp(f̃_t).
        input_projection: True: x_t·W with a `kernel` of this layer. False:
            the input is the gate pre-activations x_t·W already (4·units wide,
            blocks i, f, z, o), as the xLSTM block computes them head-wise.
        kernel_initializer: Of `kernel`.
        recurrent_initializer: Of `recurrent_kernel` (the official code's
            default is "zeros").
        bias_initializer: Of `bias`; None: `PowerLawForgetBias` (the
            official default).
        return_sequences: h_t of every step (True) or of the last (False).
        return_state: Also return the last (h, C, n, m).
        stateful: Start each batch from the state the last one left (a fixed
            batch size; `reset_state()` zeros it).
        unroll: True: a Python loop over the steps; False: `keras.ops.scan`;
            None: unrolled up to `models.backward.MAX_UNROLLED_STEPS` steps.
            (XLA cannot compile the gradient of TensorFlow's scan.)
        **kwargs: Those of `keras.layers.Layer`.

    Call arguments: `sequences` (batch, T, features), `initial_state` (a list
    h, C, n, m, each (batch, units); zeros if None).
    """

    def __init__(self, units, heads=1, forget_gate="sigmoid", input_projection=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer=None,
                 return_sequences=False, return_state=False, stateful=False, unroll=None, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive("units", units, 128)
        self.heads = check_positive("heads", heads, 4)
        check_heads(units, heads, "an sLSTM's state")
        self.forget_gate = check_choice("forget_gate", forget_gate, FORGET_GATES)
        self.input_projection = bool(input_projection)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = (PowerLawForgetBias(heads) if bias_initializer is None
                                 else initializers.get(bias_initializer))
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.stateful, self.unroll = bool(stateful), unroll

    def build(self, sequences_shape, initial_state_shape=None):
        if len(sequences_shape) != 3:
            raise ValueError(f"SLSTM reads sequences of shape (batch, timesteps, features); got "
                             f"{tuple(sequences_shape)}.")
        features = sequences_shape[-1]
        if self.input_projection:
            self.kernel = self.add_weight(shape=(features, 4 * self.units), initializer=self.kernel_initializer,
                                          name="kernel")
        elif features != 4 * self.units:
            raise ValueError(f"with input_projection=False the input is the 4 gates' pre-activations, 4·units = "
                             f"{4 * self.units} wide; got {features}. Project it first, or pass input_projection=True.")
        head_units = self.units // self.heads
        self.recurrent_kernel = self.add_weight(shape=(self.heads, head_units, 4 * head_units),
                                                initializer=self.recurrent_initializer, name="recurrent_kernel")
        self.bias = self.add_weight(shape=(4 * self.units,), initializer=self.bias_initializer, name="bias")
        self.build_carry(sequences_shape[0], {name: (self.units,) for name in ("h", "c", "n", "m")})
        if not backward.unrolls(self.unroll, sequences_shape[1]) and keras.backend.backend() == "tensorflow":
            self.supports_jit = False

    def get_initial_state(self, batch_size):
        return [ops.zeros((batch_size, self.units), self.compute_dtype) for _ in range(4)]

    def call(self, sequences, initial_state=None):
        states = initial_state or self.carried_state() or self.get_initial_state(ops.shape(sequences)[0])
        z_x = ops.matmul(sequences, self.kernel) if self.input_projection else sequences
        z_x = ops.transpose(z_x + self.bias, (1, 0, 2))  # time-major
        recurrent_kernel = block_diagonal(ops.convert_to_tensor(self.recurrent_kernel), 4)
        steps = sequences.shape[1]
        if (backward.unrolls(self.unroll, steps) and not self.return_state
                and keras.backend.backend() in backward.FUSED_BACKENDS):
            outputs, *states = fused_slstm(z_x, states, recurrent_kernel, self.forget_gate)
            outputs = ops.transpose(outputs, (1, 0, 2))
        elif backward.unrolls(self.unroll, steps):
            outputs = []
            for z in ops.unstack(z_x, num=steps, axis=0):
                states = slstm_step(z, *states, recurrent_kernel, self.forget_gate)
                outputs.append(states[0])
            outputs = ops.stack(outputs, axis=1)
        else:
            def body(carry, z):  # TensorFlow's scan wants each step's output shaped like the carry
                carry = slstm_step(z, *carry, recurrent_kernel, self.forget_gate)
                return carry, carry

            states, emitted = ops.scan(body, tuple(states), z_x)
            outputs = ops.transpose(emitted[0], (1, 0, 2))
        self.carry_on(states)
        output = outputs if self.return_sequences else outputs[:, -1]
        return [output, *states] if self.return_state else output

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, steps = sequences_shape[0], sequences_shape[1]
        output = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        return [output] + [(batch, self.units)] * 4 if self.return_state else output

    def get_config(self):
        return {**super().get_config(), "units": self.units, "heads": self.heads, "forget_gate": self.forget_gate,
                "input_projection": self.input_projection,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "stateful": self.stateful, "unroll": self.unroll}

