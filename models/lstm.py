"""A hand-written LSTM cell and a fast LSTM sequence layer, in `keras.ops` only.

The cell follows the gate equations of Hochreiter & Schmidhuber (1997) with the
forget gate of Gers et al. (2000), in the notation of Christopher Olah's
"Understanding LSTM Networks" that the README uses. The weights have exactly the
layout of `keras.layers.LSTMCell`, so `set_weights(get_weights())` moves a
trained model between this layer and `keras.layers.LSTM` in both directions.
"""

import keras
from keras import activations, constraints, initializers, ops, regularizers

# `keras.layers.RNN` draws one dropout mask per sequence (and resets it after
# the sequence) only for cells that carry this mixin: Keras' own protocol for
# RNN cells, not exported under `keras.layers` (Keras is pinned in requirements.txt).
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

SERIALIZATION_PACKAGE = "lstm_tf"
GATES = ("i", "f", "c", "o")  # column blocks of kernel, recurrent_kernel, bias


def _check_rate(name, value):
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(
            f"`{name}` is the fraction of units to drop and must lie in [0, 1); got {value!r}. "
            f"Pass for example {name}=0.5, or 0 to switch it off."
        )
    return float(value)


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
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c_tilde = self.activation(z_c)
        o = self.recurrent_activation(z_o)
        c = f * c_tm1 + i * c_tilde
        h = o * self.activation(c)
        if return_gates:
            return h, c, {"i": i, "f": f, "c": c_tilde, "o": o}
        return h, c

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
        unroll: `None` (default) unrolls when the number of steps is static;
            `True` insists on unrolling; `False` always uses the scan loop.
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
        unrolled = self.unroll is not False and steps is not None
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
        if mask is None and recurrent_mask is None and self._has_fused_gradient():
            if self.go_backwards:
                z_x = ops.flip(z_x, axis=0)
            outputs, c = _fused_recurrence(z_x, h, c, recurrent_kernel)
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

    def _has_fused_gradient(self):
        # The hand-written backward pass knows σ and tanh only, and needs a
        # backend whose custom_gradient Keras implements.
        return (
            self.cell.recurrent_activation is activations.sigmoid
            and self.cell.activation is activations.tanh
            and keras.backend.backend() in ("tensorflow", "jax")
        )

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

    def get_config(self):
        config = super().get_config()
        cell_config = config.pop("cell")["config"]
        config.update({name: cell_config[name] for name in _CELL_ARGUMENTS})
        config["weight_dropout"] = self.weight_dropout
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


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
    together (`_fused_stack`), so layer 2's step t waits only for layer 1's
    step t and runs beside layer 1's step t + 1, forward and backward. On a
    CPU that keeps two cores busy where one layer's chain of small products
    kept one. Layers 2, 3, … then project their input step by step inside the
    loop instead of in one product before it (the same arithmetic).

    The fused loop needs what `_fused_stack` knows: σ and tanh, biases, no
    cell `dropout`/`recurrent_dropout`, no mask, a number of steps known when
    the model is built, and the TensorFlow or JAX backend. Otherwise the
    layers run one after the other (same results).

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
        self.dropout = _check_rate("dropout", dropout)
        self.locked_dropout = bool(locked_dropout)
        self.seed = seed
        noise_shape = (None, 1, None) if self.locked_dropout else None
        self.dropouts = [
            keras.layers.Dropout(self.dropout, noise_shape=noise_shape, seed=None if seed is None else seed + l,
                                 name=f"{below.name}_dropout")
            for l, below in enumerate(lstms[:-1], start=1)
        ]

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

    def _fusable(self, sequences, mask):
        return (
            mask is None
            and sequences.shape[1] is not None
            and all(
                layer._has_fused_gradient() and layer.unroll is not False and layer.cell.use_bias
                and not layer.cell.dropout and not layer.cell.recurrent_dropout
                and layer.activity_regularizer is None
                for layer in self.lstms
            )
        )

    def call(self, sequences, training=False, mask=None):
        _check_sequence_shape(sequences.shape)
        if not self._fusable(sequences, mask):
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
        outputs, finals = _fused_stack(
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


def _fused_recurrence(z_x, h_0, c_0, recurrent_kernel):
    """One layer's unrolled recurrence with the hand-written backward pass of `_fused_stack`.

    Returns `(outputs, C_T)`: h_t of every step `(T, batch, units)` and the last cell state.
    """
    outputs, [(_, c)] = _fused_stack(z_x, [(h_0, c_0)], [recurrent_kernel])
    return outputs, c


def _fused_stack(z_x, states, recurrent_kernels, input_kernels=(), biases=(), masks=()):
    """Stacked LSTMs (σ, tanh) unrolled as one recurrence, with a hand-written backward pass.

    Args:
        z_x: `(T, batch, 4·units_1)`, x_t·W_x + b of the first layer for every step,
            gate blocks i, f, C̃, o.
        states: `[(h_0, C_0)]` per layer, each `(batch, units_l)`.
        recurrent_kernels: W_h of every layer, `(units_l, 4·units_l)`.
        input_kernels, biases: W_x and b of layers 2, 3, …: their input is the
            layer below's h_t, so it is projected step by step inside the loop.
        masks: for layers 2, 3, …, None or the dropout mask (already scaled) on
            the layer below's h_t: `(T, batch, units)`, or `(1, batch, units)`
            for one mask per sequence (locked dropout).

    Returns:
        `(outputs, finals)`: the top layer's h_t of every step `(T, batch, units)`
        and the last `(h_T, C_T)` of every layer.

    Written as one loop over steps and layers, step t of layer l depends only on
    step t of layer l − 1 and step t − 1 of layer l, so the graph is a wavefront:
    layer 2's step t can run beside layer 1's step t + 1 (TensorFlow schedules
    independent ops on its inter-op threads), and the backward pass likewise in
    reverse. Automatic differentiation of the same loop would emit a few dozen
    small ops per step and layer (the gradient of every split, product and
    activation, a weight product per step); here the factors below that do
    not depend on the gradient are computed once (on TensorFlow in the forward
    pass, step by step while the step's gates are fresh in cache; on JAX for
    all steps at once before the backward loop, from fewer kept tensors, which
    XLA fuses: each the faster there, measured 2026-12-02), the backward pass
    runs 7 ops per step
    and layer (dh, dC, dz, dh_{t-1}, dC_{t-1}, plus the input gradient
    dz·W_xᵀ handed to the layer below), and forms every weight gradient as
    one product over all steps, e.g. Σ_t h_{t-1}ᵀ·dz_t = H_prevᵀ·dZ. With a_t the
    gate activations (i, f, C̃, o) and their derivatives σ' = a(1−a), tanh' = 1−a²:

        dh_t     = ∂L/∂h_t (from above) + dh_t (from step t+1)
        dC_t     = dC_{t+1}·f_{t+1} + dh_t·o_t·(1 − tanh²C_t)
        dz_t     = [dC_t·C̃_t·σ'_i, dC_t·C_{t-1}·σ'_f, dC_t·i_t·tanh'_C̃, dh_t·tanh C_t·σ'_o]
        dh_{t-1} = dz_t·W_hᵀ        ∂L/∂x_t = dz_t·W_xᵀ (the layer below's "from above")
    """
    layers = len(recurrent_kernels)
    masks = list(masks) or [None] * (layers - 1)
    has_mask = tuple(m is not None for m in masks)
    flat = [z_x, *(s for state in states for s in state), *recurrent_kernels, *input_kernels, *biases]
    flat += [m for m in masks if m is not None]
    outputs, *finals = _stack_function(layers, has_mask)(*flat)
    return outputs, [tuple(finals[2 * l:2 * l + 2]) for l in range(layers)]


def _stack_function(layers, has_mask):
    """The custom-gradient function of `_fused_stack` for a number of layers and which masks are given."""

    def unpack(args):
        args = list(args)
        z_x = args.pop(0)
        states = [(args.pop(0), args.pop(0)) for _ in range(layers)]
        w_h = [args.pop(0) for _ in range(layers)]
        w_x = [None] + [args.pop(0) for _ in range(layers - 1)]
        b = [None] + [args.pop(0) for _ in range(layers - 1)]
        masks = [None] + [args.pop(0) if present else None for present in has_mask]
        return z_x, states, w_h, w_x, b, masks

    @ops.custom_gradient
    def stack(*args):
        z_x, states, w_h, w_x, b, masks = unpack(args)
        steps = z_x.shape[0]
        z_first = ops.unstack(z_x, num=steps, axis=0)
        mask_t = [None if m is None else (ops.unstack(m, num=steps, axis=0) if m.shape[0] != 1 else [m[0]] * steps)
                  for m in masks]
        h = [s[0] for s in states]
        c = [s[1] for s in states]
        # per layer and step: h_t, the layer's input, and what the backward pass needs of the step
        hs, inputs, saved = ([[] for _ in range(layers)] for _ in range(3))
        factors_per_step = keras.backend.backend() == "tensorflow"
        for t in range(steps):
            for l in range(layers):
                if l == 0:
                    z = z_first[t] + ops.matmul(h[0], w_h[0])
                else:
                    x = hs[l - 1][t] if mask_t[l] is None else hs[l - 1][t] * mask_t[l][t]
                    inputs[l].append(x)
                    z = ops.matmul(x, w_x[l]) + b[l] + ops.matmul(h[l], w_h[l])
                z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
                i, f, c_tilde, o = ops.sigmoid(z_i), ops.sigmoid(z_f), ops.tanh(z_c), ops.sigmoid(z_o)
                c_prev = c[l]
                c[l] = f * c_prev + i * c_tilde
                tanh_c = ops.tanh(c[l])
                h[l] = o * tanh_c
                hs[l].append(h[l])
                if factors_per_step:  # (a graph without the gradient prunes them)
                    saved[l].append((*_backward_factors(i, f, c_tilde, o, c_prev, tanh_c), f))
                else:
                    saved[l].append((i, f, c_tilde, o, c[l]))
        outputs = ops.stack(hs[-1], axis=0)
        finals = [s for l in range(layers) for s in (h[l], c[l])]

        def backward(*upstream):
            if len(upstream) == 1:  # JAX hands the cotangents as one tuple, TensorFlow one by one
                upstream = upstream[0]
            d_outputs, d_finals = upstream[0], upstream[1:]
            d_outputs = ops.zeros_like(outputs) if d_outputs is None else d_outputs
            d_h = [ops.zeros_like(h[l]) if d_finals[2 * l] is None else d_finals[2 * l] for l in range(layers)]
            d_c = [ops.zeros_like(c[l]) if d_finals[2 * l + 1] is None else d_finals[2 * l + 1] for l in range(layers)]
            if factors_per_step:
                factors = saved
            else:  # for all steps at once (C_{t-1} and tanh C_t again from the C_t kept), then taken apart
                factors = []
                for l in range(layers):
                    i, f, c_tilde, o, cell = (ops.stack(a, axis=0) for a in zip(*saved[l]))
                    c_prev = ops.concatenate([ops.expand_dims(states[l][1], 0), cell[:-1]], axis=0)
                    every_step = (*_backward_factors(i, f, c_tilde, o, c_prev, ops.tanh(cell)), f)
                    factors.append(list(zip(*(ops.unstack(a, num=steps, axis=0) for a in every_step))))
            w_h_t = [ops.transpose(w) for w in w_h]
            w_x_t = [None] + [ops.transpose(w) for w in w_x[1:]]
            d_out_t = ops.unstack(d_outputs, num=steps, axis=0)
            d_z = [[None] * steps for _ in range(layers)]
            for t in reversed(range(steps)):
                from_above = d_out_t[t]
                for l in reversed(range(layers)):
                    d_h_l = d_h[l] + from_above
                    gate_factor, dc_from_h, forget = factors[l][t]
                    d_c[l] = d_c[l] + d_h_l * dc_from_h
                    d_z[l][t] = ops.concatenate([d_c[l], d_c[l], d_c[l], d_h_l], axis=-1) * gate_factor
                    d_h[l] = ops.matmul(d_z[l][t], w_h_t[l])
                    d_c[l] = d_c[l] * forget
                    if l:
                        from_above = ops.matmul(d_z[l][t], w_x_t[l])
                        if mask_t[l] is not None:
                            from_above = from_above * mask_t[l][t]
            d_z = [ops.stack(d, axis=0) for d in d_z]
            d_states, d_w_h, d_w_x, d_b = [], [], [], []
            for l in range(layers):
                units = w_h[l].shape[0]
                d_z_2d = ops.reshape(d_z[l], (-1, 4 * units))
                h_prev = ops.stack([states[l][0]] + hs[l][:-1], axis=0)
                d_w_h.append(ops.matmul(ops.transpose(ops.reshape(h_prev, (-1, units))), d_z_2d))
                d_states += [d_h[l], d_c[l]]
                if l:
                    x = ops.stack(inputs[l], axis=0)
                    d_w_x.append(ops.matmul(ops.transpose(ops.reshape(x, (-1, x.shape[-1]))), d_z_2d))
                    d_b.append(ops.sum(d_z_2d, axis=0))
            d_masks = [ops.zeros_like(m) for m in masks if m is not None]  # masks are constants
            return (d_z[0], *d_states, *d_w_h, *d_w_x, *d_b, *d_masks)

        return (outputs, *finals), backward

    return stack


def _backward_factors(i, f, c_tilde, o, c_prev, tanh_c):
    """What `_fused_stack`'s backward pass multiplies by: dz = [dC, dC, dC, dh]·gate_factor, dC += dh·dc_from_h.

    One step `(batch, units)` or all steps `(T, batch, units)` alike.
    """
    gate_factor = ops.concatenate(
        [c_tilde * i * (1 - i), c_prev * f * (1 - f), i * (1 - c_tilde * c_tilde), tanh_c * o * (1 - o)], axis=-1
    )
    return gate_factor, o * (1 - tanh_c * tanh_c)


def _cell_property(name):
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's `{name}`.")


# layer.units, layer.dropout, layer.kernel_initializer, ... read through to the cell, as in Keras.
for _name in _CELL_ARGUMENTS:
    setattr(LSTM, _name, _cell_property(_name))
