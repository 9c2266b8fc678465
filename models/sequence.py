"""What the sequence layers `LSTM` and `GRU` share: the loop over the steps, fast, around their cell's `step`.

`SequenceLayer` is a `keras.layers.RNN` that takes the input projection out of
the loop and unrolls the loop when the number of steps is static; its cell
provides `project_inputs(x)` (x·W_x + b for every step at once) and
`step(z_x, *states, recurrent_mask=..., recurrent_kernel=...)` (the new
states, h_t first). A subclass may run the unrolled loop another way
(`LSTM`: on the hand-written backward pass of `models.backward`).
"""

import keras
from keras import ops

from models import backward
from models.checks import check_rate


def _check_sequence_shape(shape, layer="LSTM"):
    if len(shape) != 3:
        raise ValueError(
            f"{layer} reads sequences of shape (batch, timesteps, features); got an input of shape "
            f"{tuple(shape)}. Reshape it, for example x.reshape(batch, timesteps, -1), or feed one "
            f"step at a time to {layer}Cell."
        )


class SequenceLayer(keras.layers.RNN):
    """The sequence loop of `LSTM` and `GRU` around their cell (see the module docstring).

    Subclasses set `CELL_ARGUMENTS`, the constructor arguments that belong to
    the cell (`get_config` reads them from the cell's config).

    Args:
        cell: The cell, with `project_inputs` and `step`.
        weight_dropout: Fraction of the entries of the cell's
            `recurrent_kernel` dropped while training (see `LSTM`).
        unroll: `None`, `True` or `False` (see `LSTM`).
        **kwargs: The other arguments of `keras.layers.RNN`.
    """

    CELL_ARGUMENTS = ()

    def __init__(self, cell, weight_dropout=0.0, unroll=None, **kwargs):
        super().__init__(cell, unroll=unroll, **kwargs)
        self.weight_dropout = check_rate("weight_dropout", weight_dropout)
        if unroll is False and keras.backend.backend() == "tensorflow":
            # XLA cannot compile the gradient of TensorFlow's scan loop, so
            # jit_compile="auto" must resolve to False for this layer.
            self.supports_jit = False

    def build(self, sequences_shape, initial_state_shape=None):
        _check_sequence_shape(sequences_shape, type(self).__name__)
        steps = sequences_shape[1]
        if steps is not None and not backward.unrolls(self.unroll, steps) and keras.backend.backend() == "tensorflow":
            self.supports_jit = False  # too long to unroll: the scan loop, whose gradient XLA cannot compile
        super().build(sequences_shape, initial_state_shape)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        _check_sequence_shape(sequences.shape, type(self).__name__)
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    @property
    def variables(self):
        # keras.layers.RNN creates the stateful state untracked, so JAX's
        # stateless training loop never hands it on. Listing it here (but not
        # in `weights`, which stays identical to Keras' layer) makes it a
        # non-trainable variable that every backend carries from batch to batch.
        variables = super().variables
        if self.stateful and self.states is not None:
            known = {id(v) for v in variables}
            variables += [v for v in self.states if id(v) not in known]
        return variables

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        cell = self.cell
        states = list(initial_state)
        if keras.backend.backend() == "torch" and self.stateful:
            states = [ops.copy(s) for s in states]  # the state variables are assigned in place later
        if training and cell.dropout > 0:
            sequences = sequences * ops.expand_dims(cell.get_dropout_mask(sequences[:, 0, :]), 1)
        recurrent_mask = None
        if training and cell.recurrent_dropout > 0:
            recurrent_mask = cell.get_recurrent_dropout_mask(states[0])
        recurrent_kernel = self._recurrent_kernel(training)

        time_major = ops.transpose(sequences, (1, 0, 2))
        if mask is not None:
            mask = ops.expand_dims(ops.transpose(ops.cast(mask, "bool"), (1, 0)), -1)
        steps = sequences.shape[1]
        unrolled = backward.unrolls(self.unroll, steps)
        if self.go_backwards and not unrolled:  # (the unrolled loop just reads its steps from the end)
            time_major = ops.flip(time_major, axis=0)
            mask = None if mask is None else ops.flip(mask, axis=0)
        z_x = cell.project_inputs(time_major)  # (T, batch, gates·units), all steps at once

        if unrolled:
            outputs, states = self._unrolled(z_x, states, mask, recurrent_mask, recurrent_kernel, steps)
        else:
            outputs, states = self._scan(z_x, states, mask, recurrent_mask, recurrent_kernel)
        last_output = outputs[-1]
        if not self.return_sequences:
            outputs = ops.expand_dims(last_output, 1)
        elif isinstance(outputs, list):
            outputs = ops.stack(outputs, axis=1)
        else:
            outputs = ops.transpose(outputs, (1, 0, 2))
        return last_output, outputs, list(states)

    def _recurrent_kernel(self, training):
        """W_h; while training with `weight_dropout`, a fraction of its entries zeroed and the rest scaled up."""
        kernel = self.cell.recurrent_kernel
        if not (training and self.weight_dropout):
            # A tensor, not the variable: TensorFlow's custom_gradient would ask for variable gradients.
            return ops.copy(kernel)
        kernel = ops.convert_to_tensor(kernel)
        keep = keras.random.uniform(ops.shape(kernel), seed=self.cell.seed_generator) >= self.weight_dropout
        return ops.where(keep, kernel / (1.0 - self.weight_dropout), ops.zeros_like(kernel))

    def _masked(self, m, new_states, states, previous_output):
        """(output, states) of a step under the mask m: a masked step keeps the states and repeats the output."""
        h_new = new_states[0]
        output = ops.where(m, h_new, ops.zeros_like(h_new) if self.zero_output_for_mask else previous_output)
        return output, tuple(ops.where(m, new, old) for new, old in zip(new_states, states))

    def _fused_unrolled(self, z_x, states, recurrent_kernel, steps, mask, recurrent_mask):
        """The unrolled loop run another way, as `(outputs, states)`; None (here) for the loop of `_unrolled`."""
        return None

    def _unrolled(self, z_x, states, mask, recurrent_mask, recurrent_kernel, steps):
        fused = self._fused_unrolled(z_x, states, recurrent_kernel, steps, mask, recurrent_mask)
        if fused is not None:
            return fused
        outputs = []
        z_steps = ops.unstack(z_x, num=steps, axis=0)
        mask_steps = None if mask is None else ops.unstack(mask, num=steps, axis=0)
        if self.go_backwards:  # read the steps from the end: no reversed copy of the sequence
            z_steps = z_steps[::-1]
            mask_steps = None if mask is None else mask_steps[::-1]
        output = ops.zeros_like(states[0])
        for t in range(steps):
            new_states = self.cell.step(z_steps[t], *states, recurrent_mask=recurrent_mask,
                                        recurrent_kernel=recurrent_kernel)
            if mask is None:
                output, states = new_states[0], new_states
            else:
                output, states = self._masked(mask_steps[t], new_states, states, output)
            outputs.append(output)
        return outputs, states

    def _scan(self, z_x, states, mask, recurrent_mask, recurrent_kernel):
        # keras.ops.scan on TensorFlow wants each step's output shaped like the
        # carry, so the carry (states, output) is what every step emits.
        def body(carry, step_inputs):
            *states, output = carry
            z, m = step_inputs
            new_states = self.cell.step(z, *states, recurrent_mask=recurrent_mask, recurrent_kernel=recurrent_kernel)
            if mask is None:
                carry = (*new_states, new_states[0])
            else:
                output, new_states = self._masked(m, new_states, states, output)
                carry = (*new_states, output)
            return carry, carry

        m = mask if mask is not None else ops.ones(ops.shape(z_x)[:2] + (1,), dtype="bool")
        carry, emitted = ops.scan(body, (*states, ops.zeros_like(states[0])), (z_x, m))
        return emitted[-1], carry[:-1]

    # The cell's arguments, read through to the cell as in Keras' layers.

    @property
    def units(self):
        """The cell's `units`."""
        return self.cell.units

    @property
    def activation(self):
        """The cell's `activation`."""
        return self.cell.activation

    @property
    def recurrent_activation(self):
        """The cell's `recurrent_activation`."""
        return self.cell.recurrent_activation

    @property
    def use_bias(self):
        """The cell's `use_bias`."""
        return self.cell.use_bias

    @property
    def kernel_initializer(self):
        """The cell's `kernel_initializer`."""
        return self.cell.kernel_initializer

    @property
    def recurrent_initializer(self):
        """The cell's `recurrent_initializer`."""
        return self.cell.recurrent_initializer

    @property
    def bias_initializer(self):
        """The cell's `bias_initializer`."""
        return self.cell.bias_initializer

    @property
    def kernel_regularizer(self):
        """The cell's `kernel_regularizer`."""
        return self.cell.kernel_regularizer

    @property
    def recurrent_regularizer(self):
        """The cell's `recurrent_regularizer`."""
        return self.cell.recurrent_regularizer

    @property
    def bias_regularizer(self):
        """The cell's `bias_regularizer`."""
        return self.cell.bias_regularizer

    @property
    def kernel_constraint(self):
        """The cell's `kernel_constraint`."""
        return self.cell.kernel_constraint

    @property
    def recurrent_constraint(self):
        """The cell's `recurrent_constraint`."""
        return self.cell.recurrent_constraint

    @property
    def bias_constraint(self):
        """The cell's `bias_constraint`."""
        return self.cell.bias_constraint

    @property
    def dropout(self):
        """The cell's `dropout`."""
        return self.cell.dropout

    @property
    def recurrent_dropout(self):
        """The cell's `recurrent_dropout`."""
        return self.cell.recurrent_dropout

    @property
    def seed(self):
        """The cell's `seed`."""
        return self.cell.seed

    def get_config(self):
        config = super().get_config()
        cell_config = config.pop("cell")["config"]
        config.update({name: cell_config[name] for name in self.CELL_ARGUMENTS})
        config["weight_dropout"] = self.weight_dropout
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
