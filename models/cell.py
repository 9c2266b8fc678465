"""The hand-written LSTM cell: one time step, in `keras.ops` only.

The cell follows the gate equations of Hochreiter & Schmidhuber (1997) with the
forget gate of Gers et al. (2000), in the notation of Christopher Olah's
"Understanding LSTM Networks" that the README uses. The weights have exactly the
layout of `keras.layers.LSTMCell`, so `set_weights(get_weights())` moves a
trained model between this project's layer and `keras.layers.LSTM` in both
directions.

`lstm_update` is the one place where the gate arithmetic is written: the cell's
`step`, and through it the `LSTM` layer, and the fused loops of
`models.backward` all call it.

`variant=` switches one part of the cell off or adds peepholes, for the
comparisons of Greff et al. (2015), "LSTM: A Search Space Odyssey"
(`VARIANTS`; "vanilla" is the cell above and the default).
"""

from typing import NamedTuple

import keras
from keras import activations, initializers, ops

from models.recurrent_cell import RecurrentCell, common_arguments
from models.serialization import SERIALIZATION_PACKAGE

# The LSTM variants and the gate blocks of z = x·W_x + h·W_h + b each one computes, in column order (i, f, C̃, o
# with the fixed gates left out): a gate a variant fixes has no columns in `kernel`, `recurrent_kernel` or `bias`.
VARIANTS = {
    "vanilla": ("i", "f", "c", "o"),               # the cell above
    "peephole": ("i", "f", "c", "o"),              # i, f look at C_{t-1} and o at C_t (Gers & Schmidhuber 2000)
    "coupled": ("f", "c", "o"),                    # i = 1 − f (CIFG)
    "no-forget-gate": ("i", "c", "o"),             # f = 1 (NFG: the LSTM of 1997)
    "no-input-gate": ("f", "c", "o"),              # i = 1 (NIG)
    "no-output-gate": ("i", "f", "c"),             # o = 1 (NOG)
    "no-input-activation": ("i", "f", "c", "o"),   # C̃ = z_C, no tanh (NIAF)
    "no-output-activation": ("i", "f", "c", "o"),  # h = o * C, no tanh (NOAF)
}


def check_variant(variant):
    """`variant` if it names an LSTM variant, else a ValueError that lists the names."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown LSTM variant {variant!r}; choose one of {', '.join(VARIANTS)}.")
    return variant


class LSTMUpdate(NamedTuple):
    """What one step computes from z: the four gates, C_t, the squashed C_t and h_t."""

    i: object  # input gate i_t
    f: object  # forget gate f_t
    c_tilde: object  # candidate cell state C̃_t
    o: object  # output gate o_t
    c: object  # new cell state C_t
    tanh_c: object  # activation(C_t), tanh C_t by default
    h: object  # output h_t


def lstm_update(z, c_prev, activation=ops.tanh, recurrent_activation=ops.sigmoid, variant="vanilla", peephole=None):
    """The gates and the new state of one step, from its pre-activations z.

    With z = x_t·W_x + h_{t-1}·W_h + b, of shape `(..., 4·units)` in the gate
    blocks i, f, C̃, o, the vanilla LSTM computes

        i_t = σ(z_i)   f_t = σ(z_f)   C̃_t = tanh(z_C)   o_t = σ(z_o)
        C_t = f_t * C_{t-1} + i_t * C̃_t
        h_t = o_t * tanh(C_t)

    and the other `VARIANTS` change one part of it:

        "peephole"              i_t = σ(z_i + p_i*C_{t-1})   f_t = σ(z_f + p_f*C_{t-1})   o_t = σ(z_o + p_o*C_t)
        "coupled"               i_t = 1 − f_t
        "no-forget-gate"        f_t = 1
        "no-input-gate"         i_t = 1
        "no-output-gate"        o_t = 1
        "no-input-activation"   C̃_t = z_C
        "no-output-activation"  h_t = o_t * C_t

    A fixed gate has no block in z (`VARIANTS` gives the blocks in order).

    Args:
        z: The pre-activations, `(..., gates·units)`.
        c_prev: C_{t-1}, `(..., units)`.
        activation: The squashing of C̃_t and C_t (tanh above).
        recurrent_activation: The gate activation (σ above).
        variant: A name of `VARIANTS`.
        peephole: For "peephole", the weights p `(3, units)`, rows i, f, o.

    Returns:
        An `LSTMUpdate` (i, f, c_tilde, o, c, tanh_c, h); a fixed gate as ones
        (i = 1 − f for "coupled").
    """
    blocks = VARIANTS[variant]
    pre = dict(zip(blocks, ops.split(z, len(blocks), axis=-1)))
    if peephole is not None:
        pre["i"] = pre["i"] + peephole[0] * c_prev
        pre["f"] = pre["f"] + peephole[1] * c_prev
    f = recurrent_activation(pre["f"]) if "f" in pre else None
    if "i" in pre:
        i = recurrent_activation(pre["i"])
    else:
        i = 1 - f if variant == "coupled" else None
    c_tilde = pre["c"] if variant == "no-input-activation" else activation(pre["c"])
    c = (c_prev if f is None else f * c_prev) + (c_tilde if i is None else i * c_tilde)
    if peephole is not None:
        pre["o"] = pre["o"] + peephole[2] * c
    o = recurrent_activation(pre["o"]) if "o" in pre else None
    tanh_c = c if variant == "no-output-activation" else activation(c)
    h = tanh_c if o is None else o * tanh_c
    i, f, o = (ops.ones_like(c) if gate is None else gate for gate in (i, f, o))
    return LSTMUpdate(i, f, c_tilde, o, c, tanh_c, h)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class LSTMCell(RecurrentCell):
    """One time step of a long short-term memory network.

    With x_t the input at step t, h_{t-1} and C_{t-1} the previous output and
    cell state, [h_{t-1}, x_t] their concatenation and σ the logistic sigmoid:

        f_t  = σ(W_f·[h_{t-1}, x_t] + b_f)        forget gate
        i_t  = σ(W_i·[h_{t-1}, x_t] + b_i)        input gate
        C̃_t  = tanh(W_C·[h_{t-1}, x_t] + b_C)     candidate cell state
        C_t  = f_t * C_{t-1} + i_t * C̃_t          new cell state
        o_t  = σ(W_o·[h_{t-1}, x_t] + b_o)        output gate
        h_t  = o_t * tanh(C_t)                    output (and next hidden state)

    `*` is the element-wise product. Each W·[h, x] is computed as
    x·W_x + h·W_h: the four W_x side by side form `kernel`
    (input_dim, 4·units), the four W_h form `recurrent_kernel`
    (units, 4·units) and the biases form `bias` (4·units), the column blocks
    ordered i, f, C̃, o exactly as in `keras.layers.LSTMCell`. The cell has
    4·(units·(input_dim + units) + units) parameters: for input 28 and
    units 128, 156×512 weights + 512 biases = 80,384.

    `variant` switches one part off or adds peepholes (`lstm_update` gives
    the equations of each). A variant that fixes a gate has no column block
    for it: "coupled", "no-forget-gate", "no-input-gate" and
    "no-output-gate" have 3·units columns in each weight (for input 3 and
    units 4: 3·4·(3 + 4 + 1) = 96 parameters instead of 128); "peephole"
    adds `peephole_kernel` (3, units), rows i, f, o (128 + 12). Only
    "vanilla" has the weights of `keras.layers.LSTMCell`.

    Args:
        units: Positive integer, the size of h_t and C_t.
        activation: The squashing of C̃_t and of C_t in h_t. Default `tanh`.
        recurrent_activation: The gate activation σ. Default `sigmoid`.
        use_bias: Whether the gates have biases b. Default `True`.
        kernel_initializer: Initializer of `kernel`. Default `glorot_uniform`.
        recurrent_initializer: Initializer of `recurrent_kernel`.
            Default `orthogonal`.
        bias_initializer: Initializer of `bias`. Default `zeros`.
        unit_forget_bias: If `True`, the forget-gate block of the bias starts
            at 1 (Jozefowicz et al., 2015) and the other blocks use
            `bias_initializer`, as Keras does. Default `True`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer:
            Optional regularizers of the three weights.
        kernel_constraint, recurrent_constraint, bias_constraint:
            Optional constraints of the three weights.
        dropout: Fraction of the input units x_t to drop while training,
            one mask per sequence. Default 0.
        recurrent_dropout: Fraction of the units of h_{t-1} to drop in the
            recurrent product while training, one mask per sequence. Default 0.
        seed: Seed of the dropout masks.
        variant: A name of `VARIANTS`. Default "vanilla".
        peephole_initializer: For "peephole", the initializer of
            `peephole_kernel` (which has no regularizer or constraint).
            Default `zeros`: the cell starts as the vanilla one.

    Call arguments:
        inputs: x_t, shape `(batch, input_dim)`.
        states: `[h_{t-1}, C_{t-1}]`, each of shape `(batch, units)`.
        training: Whether dropout is applied.

    Returns:
        `h_t, [h_t, C_t]`.
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        variant="vanilla",
        peephole_initializer="zeros",
        **kwargs,
    ):
        check_variant(variant)
        super().__init__(units, "the LSTM's hidden and cell state", **common_arguments(locals()), **kwargs)
        self.unit_forget_bias = unit_forget_bias
        self.variant = variant
        self.peephole_initializer = initializers.get(peephole_initializer)
        self.state_size = [units, units]

    def build(self, input_shape):
        columns = len(self.gate_blocks) * self.units
        self._build_weights(input_shape, columns, (columns,), self._bias_initializer())
        self.peephole_kernel = None
        if self.variant == "peephole":
            self.peephole_kernel = self.add_weight(
                shape=(3, self.units), name="peephole_kernel", initializer=self.peephole_initializer
            )

    @property
    def gate_blocks(self):
        """The gate blocks of the weights' columns, in order: ("i", "f", "c", "o") but for a fixed gate."""
        return VARIANTS[self.variant]

    @property
    def has_standard_gates(self):
        """Whether the cell computes exactly the vanilla equations above, with σ and tanh.

        Only such a cell may have its recurrence run by `models.backward`, whose
        hand-written backward pass differentiates these equations and no
        others (`models.backward.fused_gradient_applies` asks this). A cell
        option that changes the equations must make this `False` when it is on;
        the layers then run `step` and let automatic differentiation do the rest.
        """
        return (
            self.variant == "vanilla"
            and self.recurrent_activation is activations.sigmoid
            and self.activation is activations.tanh
        )

    def _bias_initializer(self):
        if not self.unit_forget_bias or "f" not in self.gate_blocks:
            return self.bias_initializer
        forget = self.gate_blocks.index("f")
        before, after = forget * self.units, (len(self.gate_blocks) - forget - 1) * self.units

        def forget_bias_one(_, *args, **kwargs):
            parts = [initializers.get("ones")((self.units,), *args, **kwargs)]
            if before:
                parts.insert(0, self.bias_initializer((before,), *args, **kwargs))
            if after:
                parts.append(self.bias_initializer((after,), *args, **kwargs))
            return ops.concatenate(parts)

        return forget_bias_one

    def project_inputs(self, inputs):
        """x·W_x + b for all gate blocks: `(..., input_dim)` to `(..., 4·units)` (3·units for a fixed gate).

        The sequence layer calls this once for every time step together, which
        takes the input half of the work out of the recurrent loop.
        """
        return self._project(inputs, self.bias)

    def step(self, z_x, h_tm1, c_tm1, recurrent_mask=None, return_gates=False, recurrent_kernel=None):
        """One recurrence step from the projected input z_x = x_t·W_x + b.

        Returns `(h_t, C_t)`, or `(h_t, C_t, {"i", "f", "c", "o"})` with the
        gate activations (C̃_t under "c"; a fixed gate as ones) when
        `return_gates` is set.
        `recurrent_kernel` replaces W_h (the sequence layer's weight drop).
        """
        if recurrent_mask is not None:
            h_tm1 = h_tm1 * recurrent_mask
        kernel = self.recurrent_kernel if recurrent_kernel is None else recurrent_kernel
        z = z_x + ops.matmul(h_tm1, kernel)
        new = lstm_update(z, c_tm1, activation=self.activation, recurrent_activation=self.recurrent_activation,
                          variant=self.variant, peephole=self.peephole_kernel)
        if return_gates:
            return new.h, new.c, {"i": new.i, "f": new.f, "c": new.c_tilde, "o": new.o}
        return new.h, new.c

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states[0], states[1]
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        recurrent_mask = None
        if training and self.recurrent_dropout > 0:
            recurrent_mask = self.get_recurrent_dropout_mask(h_tm1)
        h, c = self.step(self.project_inputs(inputs), h_tm1, c_tm1, recurrent_mask)
        return h, [h, c]

    def get_config(self):
        config = {
            "unit_forget_bias": self.unit_forget_bias,
            "variant": self.variant,
            "peephole_initializer": initializers.serialize(self.peephole_initializer),
        }
        return {**super().get_config(), **config}
