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
"""

from typing import NamedTuple

import keras
from keras import activations, constraints, initializers, ops, regularizers

# `keras.layers.RNN` draws one dropout mask per sequence (and resets it after
# the sequence) only for cells that carry this mixin: Keras' own protocol for
# RNN cells, not exported under `keras.layers` (Keras is pinned in requirements.txt).
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

from models.serialization import SERIALIZATION_PACKAGE


def _check_rate(name, value):
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(
            f"`{name}` is the fraction of units to drop and must lie in [0, 1); got {value!r}. "
            f"Pass for example {name}=0.5, or 0 to switch it off."
        )
    return float(value)


class LSTMUpdate(NamedTuple):
    """What one step computes from z: the four gates, C_t, the squashed C_t and h_t."""

    i: object  # input gate i_t
    f: object  # forget gate f_t
    c_tilde: object  # candidate cell state C̃_t
    o: object  # output gate o_t
    c: object  # new cell state C_t
    tanh_c: object  # activation(C_t), tanh C_t by default
    h: object  # output h_t


def lstm_update(z, c_prev, activation=ops.tanh, recurrent_activation=ops.sigmoid):
    """The gates and the new state of one step, from its pre-activations z.

    With z = x_t·W_x + h_{t-1}·W_h + b, of shape `(..., 4·units)` in the gate
    blocks i, f, C̃, o:

        i_t = σ(z_i)   f_t = σ(z_f)   C̃_t = tanh(z_C)   o_t = σ(z_o)
        C_t = f_t * C_{t-1} + i_t * C̃_t
        h_t = o_t * tanh(C_t)

    Args:
        z: The pre-activations, `(..., 4·units)`.
        c_prev: C_{t-1}, `(..., units)`.
        activation: The squashing of C̃_t and C_t (tanh above).
        recurrent_activation: The gate activation (σ above).

    Returns:
        An `LSTMUpdate` (i, f, c_tilde, o, c, tanh_c, h).
    """
    z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
    i = recurrent_activation(z_i)
    f = recurrent_activation(z_f)
    c_tilde = activation(z_c)
    o = recurrent_activation(z_o)
    c = f * c_prev + i * c_tilde
    tanh_c = activation(c)
    return LSTMUpdate(i, f, c_tilde, o, c, tanh_c, o * tanh_c)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class LSTMCell(keras.layers.Layer, DropoutRNNCell):
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
        **kwargs,
    ):
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(
                f"`units` is the size of the LSTM's hidden and cell state and must be a positive "
                f"integer; got {units!r}. Pass for example units=128."
            )
        super().__init__(**kwargs)
        self.units = units
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = unit_forget_bias
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = _check_rate("dropout", dropout)
        self.recurrent_dropout = _check_rate("recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"LSTMCell needs to know the size of its input's last axis to create `kernel`; "
                f"got input shape {tuple(input_shape)}. Give the model an input shape, for example "
                f"keras.Input(shape=(timesteps, features))."
            )
        self.kernel = self.add_weight(
            shape=(input_dim, 4 * self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, 4 * self.units),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(4 * self.units,),
                name="bias",
                initializer=self._bias_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    @property
    def has_standard_gates(self):
        """Whether the cell computes exactly the equations above, with σ and tanh.

        Only such a cell may have its recurrence run by `models.backward`, whose
        hand-written backward pass differentiates these equations and no
        others (`models.backward.fused_gradient_applies` asks this). A cell
        option that changes the equations must make this `False` when it is on;
        the layers then run `step` and let automatic differentiation do the rest.
        """
        return self.recurrent_activation is activations.sigmoid and self.activation is activations.tanh

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer

        def forget_bias_one(_, *args, **kwargs):
            units = self.units
            return ops.concatenate(
                [
                    self.bias_initializer((units,), *args, **kwargs),
                    initializers.get("ones")((units,), *args, **kwargs),
                    self.bias_initializer((2 * units,), *args, **kwargs),
                ]
            )

        return forget_bias_one

    def project_inputs(self, inputs):
        """x·W_x + b for all four gates: `(..., input_dim)` to `(..., 4·units)`.

        The sequence layer calls this once for every time step together, which
        takes the input half of the work out of the recurrent loop.
        """
        if len(inputs.shape) > 2:  # one 2-D product, not a batch of small ones
            leading = ops.shape(inputs)[:-1]
            z = ops.matmul(ops.reshape(inputs, (-1, inputs.shape[-1])), self.kernel)
            z = ops.reshape(z, (*leading, 4 * self.units))
        else:
            z = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            z = z + self.bias
        return z

    def step(self, z_x, h_tm1, c_tm1, recurrent_mask=None, return_gates=False, recurrent_kernel=None):
        """One recurrence step from the projected input z_x = x_t·W_x + b.

        Returns `(h_t, C_t)`, or `(h_t, C_t, {"i", "f", "c", "o"})` with the
        gate activations (C̃_t under "c") when `return_gates` is set.
        `recurrent_kernel` replaces W_h (the sequence layer's weight drop).
        """
        if recurrent_mask is not None:
            h_tm1 = h_tm1 * recurrent_mask
        kernel = self.recurrent_kernel if recurrent_kernel is None else recurrent_kernel
        z = z_x + ops.matmul(h_tm1, kernel)
        new = lstm_update(z, c_tm1, activation=self.activation, recurrent_activation=self.recurrent_activation)
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

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, d), dtype=self.compute_dtype) for d in self.state_size]

    def get_config(self):
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}
