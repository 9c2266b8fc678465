"""LSTMStack: stacked `LSTM` layers with dropout between them, run as one recurrence."""

import keras
from keras import ops

# The module, not its functions: tests wrap `backward.fused_stack` to see which loop ran.
from models import backward
from models.checks import check_rate
from models.layer import LSTM
from models.sequence import _check_sequence_shape
from models.seeds import derived_seed
from models.serialization import SERIALIZATION_PACKAGE


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class LSTMStack(keras.layers.Layer):
    """Stacked `LSTM` layers with dropout between them, run as one recurrence.

    It computes what the layers called one after the other compute,

        x → LSTM_1 → dropout → LSTM_2 → dropout → … → LSTM_L   (every h_t of the top layer)

    like PyTorch's `nn.LSTM(num_layers=L, dropout=...)`, and holds the layers
    themselves, so every layer keeps its weights (`kernel`, `recurrent_kernel`,
    `bias`, as in `keras.layers.LSTM`), its `weight_dropout` and its carried
    state. The difference is where the work goes: instead of layer 1 running
    all its steps before layer 2 starts, the loop runs over steps and layers
    together (`models.backward.fused_stack`), so layer 2's step t waits only
    for layer 1's step t and runs beside layer 1's step t + 1, forward and
    backward. On a CPU that keeps two cores busy where one layer's chain of
    small products kept one. Layers 2, 3, … then project their input step by step inside the
    loop instead of in one product before it (the same arithmetic).

    Each layer keeps its own `variant` (`models.cell.VARIANTS`). The fused
    loop needs what `fused_stack` knows: vanilla cells with the standard
    gates (σ and tanh), biases, no cell `dropout`/`recurrent_dropout`, no
    activity regularizer, no mask, a number of steps known when the model is
    built, and the TensorFlow or JAX backend
    (`models.backward.fused_gradient_applies`). Otherwise the layers run one
    after the other (same results): every LSTM variant other than "vanilla"
    takes this path, its gradient by automatic differentiation.

    Args:
        lstms: The `LSTM` layers, bottom first, each with
            `return_sequences=True` (and not `return_state` or `go_backwards`).
        dropout: Fraction of each layer's outputs dropped (while training)
            before the next layer reads them. Default 0.
        locked_dropout: One dropout mask per sequence, shared by all its steps
            (Gal & Ghahramani 2016), instead of one per step. Default `False`.
        seed: The dropout after layer l (l = 1, 2, …) is seeded `seed + l`.

    Call arguments:
        sequences: `(batch, timesteps, features)`.
        training: Whether dropout (and the layers' weight drop) is applied.
    """

    def __init__(self, lstms, dropout=0.0, locked_dropout=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        lstms = list(lstms)
        for layer in lstms:
            if not isinstance(layer, LSTM) or not layer.return_sequences or layer.return_state or layer.go_backwards:
                raise ValueError(
                    f"LSTMStack stacks this project's LSTM layers, each with return_sequences=True (and without "
                    f"return_state or go_backwards); got {layer!r}. Build them as LSTM(units, return_sequences=True)."
                )
        if not lstms:
            raise ValueError("LSTMStack needs at least one LSTM layer.")
        self.lstms = lstms
        self.dropout = check_rate("dropout", dropout)
        self.locked_dropout = bool(locked_dropout)
        self.seed = seed
        noise_shape = (None, 1, None) if self.locked_dropout else None
        self.dropouts = [
            keras.layers.Dropout(self.dropout, noise_shape=noise_shape, seed=None if seed is None else derived_seed(seed, l),
                                 name=f"{below.name}_dropout")
            for l, below in enumerate(lstms[:-1], start=1)
        ]

    @property
    def variant(self):
        """The LSTM variant of the layers (`LSTM(variant=...)`), or the tuple of each one's if they differ."""
        variants = tuple(layer.variant for layer in self.lstms)
        return variants[0] if len(set(variants)) == 1 else variants

    @property
    def stateful(self):
        return any(layer.stateful for layer in self.lstms)

    def reset_state(self):
        for layer in self.lstms:
            layer.reset_state()

    def build(self, sequences_shape):
        _check_sequence_shape(sequences_shape)
        shape = tuple(sequences_shape)
        for layer, dropout in zip(self.lstms, [None, *self.dropouts]):
            if dropout is not None:
                dropout.build(shape)
            layer.build(shape)
            shape = shape[:2] + (layer.units,)

    def compute_output_shape(self, sequences_shape):
        return tuple(sequences_shape[:2]) + (self.lstms[-1].units,)

    def call(self, sequences, training=False, mask=None):
        _check_sequence_shape(sequences.shape)
        if not backward.fused_gradient_applies(self.lstms, sequences.shape[1], mask=mask, stacked=True):
            x = sequences
            for layer, dropout in zip(self.lstms, [None, *self.dropouts]):
                if dropout is not None and self.dropout:
                    x = dropout(x, training=training)
                x = layer(x, training=training, mask=mask)
            return x
        batch, steps = ops.shape(sequences)[0], sequences.shape[1]
        states = []
        for layer in self.lstms:
            if layer.stateful:
                states.append(tuple(ops.copy(v) for v in layer.states))  # tensors, not the variables
            else:
                zeros = ops.zeros((batch, layer.units), dtype=self.compute_dtype)
                states.append((zeros, zeros))
        masks = []
        for below, dropout in zip(self.lstms, self.dropouts):
            if training and self.dropout:
                ones = ops.ones((batch, 1 if self.locked_dropout else steps, below.units), dtype=self.compute_dtype)
                masks.append(ops.transpose(dropout(ones, training=True), (1, 0, 2)))  # (T or 1, batch, units)
            else:
                masks.append(None)
        z_x = self.lstms[0].cell.project_inputs(ops.transpose(sequences, (1, 0, 2)))
        outputs, finals = backward.fused_stack(
            z_x,
            states,
            [layer._recurrent_kernel(training) for layer in self.lstms],
            [ops.copy(layer.cell.kernel) for layer in self.lstms[1:]],
            [ops.copy(layer.cell.bias) for layer in self.lstms[1:]],
            masks,
        )
        for layer, final in zip(self.lstms, finals):
            if layer.stateful:
                for variable, value in zip(layer.states, final):
                    variable.assign(value)
        return ops.transpose(outputs, (1, 0, 2))

    def input_of(self, index, sequences):
        """What `lstms[index]` reads when the stack reads `sequences` (inference: no dropout)."""
        x = ops.convert_to_tensor(sequences, dtype=self.compute_dtype)
        for layer in self.lstms[:index]:
            x = layer(x, training=False)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "lstms": [keras.saving.serialize_keras_object(layer) for layer in self.lstms],
            "dropout": self.dropout,
            "locked_dropout": self.locked_dropout,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        lstms = [keras.saving.deserialize_keras_object(layer) for layer in config.pop("lstms")]
        return cls(lstms, **config)

