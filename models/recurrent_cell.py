"""What the hand-written cells `LSTMCell` and `GRUCell` share: their common arguments and three weights.

Both hold `kernel` (input_dim, blocks·units), `recurrent_kernel`
(units, blocks·units) and `bias`, named and laid out as in Keras' cells,
project the input of every step at once (`project_inputs`) and draw one
dropout mask per sequence.
"""

import keras
from keras import activations, constraints, initializers, ops, regularizers

# `keras.layers.RNN` draws one dropout mask per sequence (and resets it after
# the sequence) only for cells that carry this mixin: Keras' own protocol for
# RNN cells, not exported under `keras.layers` or anywhere public in Keras 3.15,
# and RNN tests `isinstance(cell, DropoutRNNCell)` against this very class, so
# a copy of ours would not do (Keras is pinned in requirements.txt).
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

from models.checks import check_rate


# The arguments every cell hands on to RecurrentCell, besides `units`.
COMMON_ARGUMENTS = (
    "activation", "recurrent_activation", "use_bias", "kernel_initializer", "recurrent_initializer",
    "bias_initializer", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
    "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout", "seed",
)


def common_arguments(arguments):
    """Those of a cell constructor's `locals()` that `RecurrentCell` takes (`COMMON_ARGUMENTS`)."""
    return {name: arguments[name] for name in COMMON_ARGUMENTS}


class RecurrentCell(keras.layers.Layer, DropoutRNNCell):
    """The common part of `LSTMCell` and `GRUCell` (their docstrings give the arguments).

    Args:
        units: Positive integer, the size of h_t (`state` names what else has it).
        state: What `units` sizes, for the error message.
        activation, recurrent_activation, use_bias, kernel_initializer,
        recurrent_initializer, bias_initializer, kernel_regularizer,
        recurrent_regularizer, bias_regularizer, kernel_constraint,
        recurrent_constraint, bias_constraint, dropout, recurrent_dropout,
        seed: As in the subclasses.
        **kwargs: Those of `keras.layers.Layer`.
    """

    def __init__(
        self,
        units,
        state,
        activation,
        recurrent_activation,
        use_bias,
        kernel_initializer,
        recurrent_initializer,
        bias_initializer,
        kernel_regularizer,
        recurrent_regularizer,
        bias_regularizer,
        kernel_constraint,
        recurrent_constraint,
        bias_constraint,
        dropout,
        recurrent_dropout,
        seed,
        **kwargs,
    ):
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(
                f"`units` is the size of {state} and must be a positive "
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
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.output_size = units

    def _build_weights(self, input_shape, columns, bias_shape, bias_initializer):
        """Creates `kernel` (input_dim, columns), `recurrent_kernel` (units, columns) and `bias` (`bias_shape`)."""
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"{type(self).__name__} needs to know the size of its input's last axis to create `kernel`; "
                f"got input shape {tuple(input_shape)}. Give the model an input shape, for example "
                f"keras.Input(shape=(timesteps, features))."
            )
        self.kernel = self.add_weight(
            shape=(input_dim, columns),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, columns),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=bias_shape,
                name="bias",
                initializer=bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    def _project(self, inputs, bias):
        """inputs·kernel (+ `bias` unless None): `(..., input_dim)` to `(..., columns)`, as one 2-D product."""
        if len(inputs.shape) > 2:  # one 2-D product, not a batch of small ones
            leading = ops.shape(inputs)[:-1]
            z = ops.matmul(ops.reshape(inputs, (-1, inputs.shape[-1])), self.kernel)
            z = ops.reshape(z, (*leading, self.kernel.shape[-1]))
        else:
            z = ops.matmul(inputs, self.kernel)
        if bias is not None:
            z = z + bias
        return z

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
