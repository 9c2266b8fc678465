"""The LSTM sequence layer: `LSTMCell`'s equations over whole sequences, fast.

A `keras.layers.RNN` subclass that takes the input projection out of the loop
and unrolls the loop when the number of steps is static; on TensorFlow and JAX
the unrolled loop runs on the hand-written backward pass of `models.backward`.
"""

import keras
from keras import ops

from models import backward
from models.cell import LSTMCell, _check_rate
from models.serialization import SERIALIZATION_PACKAGE


# Arguments of LSTM that belong to its cell; LSTM.get_config takes them from the cell.
_CELL_ARGUMENTS = (
    "units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
    "recurrent_initializer", "bias_initializer", "unit_forget_bias", "kernel_regularizer",
    "recurrent_regularizer", "bias_regularizer", "kernel_constraint", "recurrent_constraint",
    "bias_constraint", "dropout", "recurrent_dropout", "seed",
)


def _check_sequence_shape(shape):
    if len(shape) != 3:
        raise ValueError(
            f"LSTM reads sequences of shape (batch, timesteps, features); got an input of shape "
            f"{tuple(shape)}. Reshape it, for example x.reshape(batch, timesteps, -1), or feed one "
            f"step at a time to LSTMCell."
        )


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class LSTM(keras.layers.RNN):
    """An LSTM over whole sequences, a drop-in for `keras.layers.LSTM`.

    It runs `LSTMCell`'s equations with two changes to where the work is
    done, not to what is computed:

    1. The input projection x_t·W_x + b of every time step is one matrix
       product `(T·batch, input_dim) × (input_dim, 4·units)` before the loop,
       so each step only adds the fused recurrent product h_{t-1}·W_h.
    2. When the number of time steps is known when the model is built, the
       loop is unrolled into straight-line code that the compiler (XLA, or
       TensorFlow's graph optimiser) schedules as a whole; otherwise it is a
       `keras.ops.scan`.

    It accepts the constructor and call arguments of `keras.layers.LSTM`
    (including `initial_state`, `mask`, `return_sequences`, `return_state`,
    `go_backwards`, `stateful` and `reset_state()`), holds the same three
    weights, and works inside `keras.layers.Bidirectional`. Unlike the builtin
    layer, `stateful=True` carries the state from batch to batch on every
    backend: the state variables are part of the layer's non-trainable
    variables, so JAX's stateless training loop hands them on too.

    Args:
        units, activation, recurrent_activation, use_bias,
        kernel_initializer, recurrent_initializer, bias_initializer,
        unit_forget_bias, kernel_regularizer, recurrent_regularizer,
        bias_regularizer, kernel_constraint, recurrent_constraint,
        bias_constraint, dropout, recurrent_dropout, seed:
            As in `LSTMCell`.
        activity_regularizer: Optional regularizer of the layer's output.
        return_sequences: Return h_t of every step `(batch, T, units)`
            instead of the last `(batch, units)`. Default `False`.
        return_state: Also return the last h_T and C_T. Default `False`.
        go_backwards: Read the sequence from its end; with
            `return_sequences`, the outputs come in reading order, as in Keras.
        stateful: Start each batch from the last state of the previous one
            (sample i continues sample i). Needs a fixed batch size.
        weight_dropout: Fraction of the entries of `recurrent_kernel` W_h to
            drop while training (DropConnect, Wan et al. 2013; the weight drop
            of AWD-LSTM, Merity et al. 2017): one mask on the matrix per batch,
            shared by every sequence and step, the kept entries scaled by
            1/(1 − rate); off at inference. Default 0.
        unroll: `None` (default) unrolls when the number of steps is static
            and at most `models.backward.MAX_UNROLLED_STEPS`; `True` unrolls whenever it is
            static; `False` always uses the scan loop.
        zero_output_for_mask: With a mask, output zeros (instead of the
            previous output) at masked steps.

    Call arguments:
        sequences: `(batch, timesteps, features)`.
        initial_state: Optional `[h_0, C_0]`.
        mask: Optional boolean `(batch, timesteps)`; masked steps keep the state.
        training: Whether dropout is applied.
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
        zero_output_for_mask=False,
        weight_dropout=0.0,
        **kwargs,
    ):
        kwargs.pop("use_cudnn", None)  # a config of keras.layers.LSTM may carry it
        kwargs.pop("implementation", None)
        cell = LSTMCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="lstm_cell",
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
            **kwargs,
        )
        self.weight_dropout = _check_rate("weight_dropout", weight_dropout)
        if unroll is False and keras.backend.backend() == "tensorflow":
            # XLA cannot compile the gradient of TensorFlow's scan loop, so
            # jit_compile="auto" must resolve to False for this layer.
            self.supports_jit = False

    def build(self, sequences_shape, initial_state_shape=None):
        _check_sequence_shape(sequences_shape)
        steps = sequences_shape[1]
        if steps is not None and not backward.unrolls(self.unroll, steps) and keras.backend.backend() == "tensorflow":
            self.supports_jit = False  # too long to unroll: the scan loop, whose gradient XLA cannot compile
        super().build(sequences_shape, initial_state_shape)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        _check_sequence_shape(sequences.shape)
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    @property
    def variables(self):
        # keras.layers.RNN creates the stateful state untracked, so JAX's
        # stateless training loop never hands it on. Listing it here (but not
        # in `weights`, which stays identical to keras.layers.LSTM) makes it a
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
        h, c = initial_state[0], initial_state[1]
        if keras.backend.backend() == "torch" and self.stateful:
            h, c = ops.copy(h), ops.copy(c)  # the state variables are assigned in place later
        if training and cell.dropout > 0:
            sequences = sequences * ops.expand_dims(cell.get_dropout_mask(sequences[:, 0, :]), 1)
        recurrent_mask = None
        if training and cell.recurrent_dropout > 0:
            recurrent_mask = cell.get_recurrent_dropout_mask(h)
        recurrent_kernel = self._recurrent_kernel(training)

        time_major = ops.transpose(sequences, (1, 0, 2))
        if mask is not None:
            mask = ops.expand_dims(ops.transpose(ops.cast(mask, "bool"), (1, 0)), -1)
        steps = sequences.shape[1]
        unrolled = backward.unrolls(self.unroll, steps)
        if self.go_backwards and not unrolled:  # (the unrolled loop just reads its steps from the end)
            time_major = ops.flip(time_major, axis=0)
            mask = None if mask is None else ops.flip(mask, axis=0)
        z_x = cell.project_inputs(time_major)  # (T, batch, 4·units), all steps at once

        if unrolled:
            outputs, h, c = self._unrolled(z_x, h, c, mask, recurrent_mask, recurrent_kernel, steps)
        else:
            outputs, h, c = self._scan(z_x, h, c, mask, recurrent_mask, recurrent_kernel)
        last_output = outputs[-1]
        if not self.return_sequences:
            outputs = ops.expand_dims(last_output, 1)
        elif isinstance(outputs, list):
            outputs = ops.stack(outputs, axis=1)
        else:
            outputs = ops.transpose(outputs, (1, 0, 2))
        return last_output, outputs, [h, c]

    def _recurrent_kernel(self, training):
        """W_h; while training with `weight_dropout`, a fraction of its entries zeroed and the rest scaled up."""
        kernel = self.cell.recurrent_kernel
        if not (training and self.weight_dropout):
            # A tensor, not the variable: TensorFlow's custom_gradient would ask for variable gradients.
            return ops.copy(kernel)
        kernel = ops.convert_to_tensor(kernel)
        keep = keras.random.uniform(ops.shape(kernel), seed=self.cell.seed_generator) >= self.weight_dropout
        return ops.where(keep, kernel / (1.0 - self.weight_dropout), ops.zeros_like(kernel))

    def _masked(self, m, h_new, c_new, h, c, previous_output):
        h_out = ops.where(m, h_new, ops.zeros_like(h_new) if self.zero_output_for_mask else previous_output)
        return h_out, ops.where(m, h_new, h), ops.where(m, c_new, c)

    def _unrolled(self, z_x, h, c, mask, recurrent_mask, recurrent_kernel, steps):
        if backward.fused_gradient_applies([self], steps, mask=mask, recurrent_mask=recurrent_mask):
            if self.go_backwards:
                z_x = ops.flip(z_x, axis=0)
            outputs, c = backward.fused_recurrence(z_x, h, c, recurrent_kernel)
            return outputs, outputs[-1], c
        outputs = []
        z_steps = ops.unstack(z_x, num=steps, axis=0)
        mask_steps = None if mask is None else ops.unstack(mask, num=steps, axis=0)
        if self.go_backwards:  # read the steps from the end: no reversed copy of the sequence
            z_steps = z_steps[::-1]
            mask_steps = None if mask is None else mask_steps[::-1]
        output = ops.zeros_like(h)
        for t in range(steps):
            h_new, c_new = self.cell.step(z_steps[t], h, c, recurrent_mask, recurrent_kernel=recurrent_kernel)
            if mask is None:
                output, h, c = h_new, h_new, c_new
            else:
                output, h, c = self._masked(mask_steps[t], h_new, c_new, h, c, output)
            outputs.append(output)
        return outputs, h, c

    def _scan(self, z_x, h, c, mask, recurrent_mask, recurrent_kernel):
        # keras.ops.scan on TensorFlow wants each step's output shaped like the
        # carry, so the carry (h, c, output) is what every step emits.
        def body(carry, step_inputs):
            h, c, output = carry
            z, m = step_inputs
            h_new, c_new = self.cell.step(z, h, c, recurrent_mask, recurrent_kernel=recurrent_kernel)
            if mask is None:
                carry = (h_new, c_new, h_new)
            else:
                output, h_new, c_new = self._masked(m, h_new, c_new, h, c, output)
                carry = (h_new, c_new, output)
            return carry, carry

        m = mask if mask is not None else ops.ones(ops.shape(z_x)[:2] + (1,), dtype="bool")
        (h, c, _), emitted = ops.scan(body, (h, c, ops.zeros_like(h)), (z_x, m))
        return emitted[2], h, c

    def gate_activations(self, sequences, initial_state=None):
        """Runs the layer on `sequences` and returns every gate at every step.

        For looking inside a trained model (it is not the training path).
        Returns a dict of `(batch, T, units)` arrays: "i", "f", "c" (the
        candidate C̃_t), "o", "cell" (C_t) and "h" (h_t), in reading order.
        """
        sequences = ops.convert_to_tensor(sequences, dtype=self.compute_dtype)
        if not self.built:
            self.build(sequences.shape)
        batch = ops.shape(sequences)[0]
        if initial_state is None:
            initial_state = self.get_initial_state(batch)
        h, c = [ops.convert_to_tensor(s, dtype=self.compute_dtype) for s in initial_state]
        time_major = ops.transpose(sequences, (1, 0, 2))
        if self.go_backwards:
            time_major = ops.flip(time_major, axis=0)
        z_x = self.cell.project_inputs(time_major)
        trace = {key: [] for key in ("i", "f", "c", "o", "cell", "h")}
        for z in ops.unstack(z_x, num=sequences.shape[1], axis=0):
            h, c, gates = self.cell.step(z, h, c, return_gates=True)
            for key, value in {**gates, "cell": c, "h": h}.items():
                trace[key].append(value)
        return {key: ops.convert_to_numpy(ops.stack(values, axis=1)) for key, values in trace.items()}

    # The cell's arguments, read through to the cell as in keras.layers.LSTM.

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
    def unit_forget_bias(self):
        """The cell's `unit_forget_bias`."""
        return self.cell.unit_forget_bias

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
        config.update({name: cell_config[name] for name in _CELL_ARGUMENTS})
        config["weight_dropout"] = self.weight_dropout
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

