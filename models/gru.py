"""The hand-written GRU (Cho et al. 2014): its cell and its sequence layer, in `keras.ops` only.

In Keras' `reset_after=True` form (the default of `keras.layers.GRU`, and the
form cuDNN runs), with the weights in Keras' layout, so `set_weights(get_weights())`
moves a trained model between `GRU` and `keras.layers.GRU` in both directions.
"""

import keras
from keras import ops

from models.recurrent_cell import RecurrentCell, common_arguments
from models.sequence import SequenceLayer
from models.serialization import SERIALIZATION_PACKAGE


def _check_reset_after(reset_after):
    if reset_after is not True:
        raise ValueError(
            f"this project's GRU computes Keras' reset_after=True form only (the reset gate applied to h_{{t-1}}·W_h "
            f"+ b_h); got reset_after={reset_after!r}. Use keras.layers.GRU(reset_after=False) for the other form."
        )


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class GRUCell(RecurrentCell):
    """One time step of a gated recurrent unit.

    With x_t the input at step t, h_{t-1} the previous output and σ the
    logistic sigmoid:

        z_t = σ(x_t·W_z + b_z + h_{t-1}·U_z + b'_z)             update gate
        r_t = σ(x_t·W_r + b_r + h_{t-1}·U_r + b'_r)             reset gate
        h̃_t = tanh(x_t·W_h + b_h + r_t * (h_{t-1}·U_h + b'_h))   candidate
        h_t = z_t * h_{t-1} + (1 − z_t) * h̃_t                   output (and next state)

    The three W side by side form `kernel` (input_dim, 3·units), the three U
    `recurrent_kernel` (units, 3·units), and `bias` (2, 3·units) holds the
    input biases b (row 0) and the recurrent biases b' (row 1), the column
    blocks ordered z, r, h exactly as in `keras.layers.GRUCell`. The cell has
    3·(units·(input_dim + units) + 2·units) parameters: for input 3 and
    units 4, 3·(4·7 + 8) = 108.

    Args:
        units: Positive integer, the size of h_t.
        activation: The squashing of h̃_t. Default `tanh`.
        recurrent_activation: The gate activation σ. Default `sigmoid`.
        use_bias: Whether the gates have biases. Default `True`.
        kernel_initializer: Initializer of `kernel`. Default `glorot_uniform`.
        recurrent_initializer: Initializer of `recurrent_kernel`.
            Default `orthogonal`.
        bias_initializer: Initializer of `bias`. Default `zeros`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer:
            Optional regularizers of the three weights.
        kernel_constraint, recurrent_constraint, bias_constraint:
            Optional constraints of the three weights.
        dropout: Fraction of the input units x_t to drop while training,
            one mask per sequence. Default 0.
        recurrent_dropout: Fraction of the units of h_{t-1} to drop in the
            recurrent product while training, one mask per sequence. Default 0.
        seed: Seed of the dropout masks.
        reset_after: Must be `True` (accepted so that a config of Keras'
            cell loads; the other form is not implemented).

    Call arguments:
        inputs: x_t, shape `(batch, input_dim)`.
        states: `[h_{t-1}]`, of shape `(batch, units)`.
        training: Whether dropout is applied.

    Returns:
        `h_t, [h_t]`.
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
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        reset_after=True,
        **kwargs,
    ):
        _check_reset_after(reset_after)
        kwargs.pop("implementation", None)  # a config of keras.layers.GRUCell may carry it
        super().__init__(units, "the GRU's hidden state", **common_arguments(locals()), **kwargs)
        self.reset_after = True
        self.state_size = [units]

    def build(self, input_shape):
        self._build_weights(input_shape, 3 * self.units, (2, 3 * self.units), self.bias_initializer)

    def project_inputs(self, inputs):
        """x·W + b (the input biases) for the three blocks: `(..., input_dim)` to `(..., 3·units)`.

        The sequence layer calls this once for every time step together.
        """
        return self._project(inputs, None if self.bias is None else self.bias[0])

    def step(self, z_x, h_tm1, recurrent_mask=None, recurrent_kernel=None):
        """One recurrence step from the projected input z_x = x_t·W + b.

        Returns `(h_t,)`, the new states. `recurrent_kernel` replaces U (the
        sequence layer's weight drop).
        """
        h_in = h_tm1 if recurrent_mask is None else h_tm1 * recurrent_mask
        kernel = self.recurrent_kernel if recurrent_kernel is None else recurrent_kernel
        inner = ops.matmul(h_in, kernel)
        if self.use_bias:
            inner = inner + self.bias[1]
        x_z, x_r, x_h = ops.split(z_x, 3, axis=-1)
        inner_z, inner_r, inner_h = ops.split(inner, 3, axis=-1)
        z = self.recurrent_activation(x_z + inner_z)
        r = self.recurrent_activation(x_r + inner_r)
        h_tilde = self.activation(x_h + r * inner_h)
        return (z * h_tm1 + (1 - z) * h_tilde,)

    def call(self, inputs, states, training=False):
        h_tm1 = states[0]
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        recurrent_mask = None
        if training and self.recurrent_dropout > 0:
            recurrent_mask = self.get_recurrent_dropout_mask(h_tm1)
        (h,) = self.step(self.project_inputs(inputs), h_tm1, recurrent_mask)
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class GRU(SequenceLayer):
    """A GRU over whole sequences, a drop-in for `keras.layers.GRU` (reset_after=True).

    It runs `GRUCell`'s equations the way `LSTM` runs the LSTM's: the input
    product x_t·W + b of every step is one matrix product before the loop,
    and the loop is unrolled when the number of steps is known when the model
    is built (else a `keras.ops.scan`). Automatic differentiation takes the
    gradient (there is no hand-written backward pass for the GRU).

    It accepts the constructor and call arguments of `keras.layers.GRU`
    (`initial_state`, `mask`, `return_sequences`, `return_state`,
    `go_backwards`, `stateful`, `reset_state()`), holds the same three
    weights, and works inside `keras.layers.Bidirectional`; `stateful=True`
    carries the state on every backend, as `LSTM` does.

    Args:
        units, activation, recurrent_activation, use_bias,
        kernel_initializer, recurrent_initializer, bias_initializer,
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint, dropout,
        recurrent_dropout, seed, reset_after:
            As in `GRUCell`.
        activity_regularizer: Optional regularizer of the layer's output.
        return_sequences, return_state, go_backwards, stateful,
        zero_output_for_mask: As in `LSTM`.
        weight_dropout: DropConnect on `recurrent_kernel` while training, as
            in `LSTM`. Default 0.
        unroll: As in `LSTM` (default `None`: unrolled when the number of
            steps is static and at most `models.backward.MAX_UNROLLED_STEPS`).

    Call arguments:
        sequences: `(batch, timesteps, features)`.
        initial_state: Optional `[h_0]`.
        mask: Optional boolean `(batch, timesteps)`; masked steps keep the state.
        training: Whether dropout is applied.
    """

    # Arguments of GRU that belong to its cell; get_config takes them from the cell.
    CELL_ARGUMENTS = (
        "units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
        "recurrent_initializer", "bias_initializer", "kernel_regularizer", "recurrent_regularizer",
        "bias_regularizer", "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
        "recurrent_dropout", "seed", "reset_after",
    )

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=None,
        reset_after=True,
        zero_output_for_mask=False,
        weight_dropout=0.0,
        **kwargs,
    ):
        kwargs.pop("use_cudnn", None)  # a config of keras.layers.GRU may carry it
        arguments = locals()
        cell = GRUCell(
            **{name: arguments[name] for name in self.CELL_ARGUMENTS},
            implementation=kwargs.pop("implementation", None),
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="gru_cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            zero_output_for_mask=zero_output_for_mask,
            activity_regularizer=activity_regularizer,
            weight_dropout=weight_dropout,
            **kwargs,
        )

    @property
    def reset_after(self):
        """The cell's `reset_after` (always `True`)."""
        return self.cell.reset_after
