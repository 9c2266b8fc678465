"""The LSTM sequence layer: `LSTMCell`'s equations over whole sequences, fast.

A `models.sequence.SequenceLayer` (a `keras.layers.RNN`) that takes the input
projection out of the loop and unrolls the loop when the number of steps is
static; on TensorFlow and JAX the unrolled loop of the vanilla LSTM runs on
the hand-written backward pass of `models.backward`.
"""

import keras
from keras import ops

from models import backward
from models.cell import LSTMCell
from models.sequence import SequenceLayer
from models.serialization import SERIALIZATION_PACKAGE


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class LSTM(SequenceLayer):
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

    `variant` runs one of the LSTM variants of `models.cell.VARIANTS`
    instead of the vanilla cell (see `LSTMCell`). The fast paths differ:
    every variant gets the hoisted input product and the unrolled loop, but
    only "vanilla" runs on the hand-written backward pass of
    `models.backward` (`fused_gradient_applies` asks
    `LSTMCell.has_standard_gates`); the other variants run `LSTMCell.step`
    in the unrolled (or scan) loop and automatic differentiation takes the
    gradient.

    Args:
        units, activation, recurrent_activation, use_bias,
        kernel_initializer, recurrent_initializer, bias_initializer,
        unit_forget_bias, kernel_regularizer, recurrent_regularizer,
        bias_regularizer, kernel_constraint, recurrent_constraint,
        bias_constraint, dropout, recurrent_dropout, seed, variant,
        peephole_initializer:
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

    # Arguments of LSTM that belong to its cell; get_config takes them from the cell.
    CELL_ARGUMENTS = (
        "units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
        "recurrent_initializer", "bias_initializer", "unit_forget_bias", "kernel_regularizer",
        "recurrent_regularizer", "bias_regularizer", "kernel_constraint", "recurrent_constraint",
        "bias_constraint", "dropout", "recurrent_dropout", "seed", "variant", "peephole_initializer",
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
        variant="vanilla",
        peephole_initializer="zeros",
        **kwargs,
    ):
        kwargs.pop("use_cudnn", None)  # a config of keras.layers.LSTM may carry it
        kwargs.pop("implementation", None)
        arguments = locals()
        cell = LSTMCell(
            **{name: arguments[name] for name in self.CELL_ARGUMENTS},
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
            weight_dropout=weight_dropout,
            **kwargs,
        )

    def _fused_unrolled(self, z_x, states, recurrent_kernel, steps, mask, recurrent_mask):
        """The unrolled loop on the hand-written backward pass, when `fused_gradient_applies` (vanilla only)."""
        if not backward.fused_gradient_applies([self], steps, mask=mask, recurrent_mask=recurrent_mask):
            return None
        if self.go_backwards:
            z_x = ops.flip(z_x, axis=0)
        outputs, c = backward.fused_recurrence(z_x, *states, recurrent_kernel)
        return outputs, (outputs[-1], c)

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

    # The cell's arguments of the LSTM only (the others: SequenceLayer).

    @property
    def unit_forget_bias(self):
        """The cell's `unit_forget_bias`."""
        return self.cell.unit_forget_bias

    @property
    def variant(self):
        """The cell's `variant`."""
        return self.cell.variant

    @property
    def peephole_initializer(self):
        """The cell's `peephole_initializer`."""
        return self.cell.peephole_initializer
