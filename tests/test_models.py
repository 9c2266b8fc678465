"""The hand-written LSTM against keras.layers.LSTM, the NumPy reference and Keras' golden case."""

import numpy as np
import pytest

import keras
from keras import ops

import models.backward
from models import GRU, LSTM, LSTMCell, LSTMStack
from models.reference import lstm_backward, lstm_forward
from tests.conftest import gradients, numeric_gradients, reloaded_in_fresh_process, run_python

ATOL = 1e-5
TWIN_CLASSES = [(LSTM, keras.layers.LSTM), (GRU, keras.layers.GRU)]  # ours and Keras' layer


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


def twin_models(make_layer_kwargs, input_shape, batch_size=None, bidirectional=False, with_state_inputs=False,
                classes=(LSTM, keras.layers.LSTM), states=2):
    """The same functional model built on our layer and on Keras' (`classes`), with copied weights.

    With `with_state_inputs` the model's inputs are the sequences and the layer's `states` initial states.
    """
    models_ = []
    for layer_class in classes:
        inputs = keras.Input(shape=input_shape, batch_size=batch_size)
        layer = layer_class(**make_layer_kwargs)
        if bidirectional:
            layer = keras.layers.Bidirectional(layer)
        if with_state_inputs:
            initial = [keras.Input(shape=(make_layer_kwargs["units"],), batch_size=batch_size) for _ in range(states)]
            outputs = layer(inputs, initial_state=initial)
            models_.append(keras.Model([inputs, *initial], outputs))
        else:
            models_.append(keras.Model(inputs, layer(inputs)))
    ours, builtin = models_
    builtin.set_weights(ours.get_weights())
    return ours, builtin


def weighted_sum(weights):
    """A loss Σ w_k·y_k over the model's outputs, so every output gets a distinct upstream gradient."""

    def loss(outputs):
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return sum(ops.sum(ops.convert_to_tensor(w) * y) for w, y in zip(weights, outputs))

    return loss


def as_list(outputs):
    return [np_(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(units=6),
        dict(units=6, return_sequences=True),
        dict(units=6, return_state=True),
        dict(units=6, return_sequences=True, return_state=True, go_backwards=True),
        dict(units=6, go_backwards=True),
        dict(units=6, return_sequences=True, use_bias=False),
    ],
    ids=["last", "sequences", "state", "sequences-state-backwards", "backwards", "no-bias"],
)
@pytest.mark.parametrize("classes", TWIN_CLASSES, ids=["lstm", "gru"])
def test_outputs_states_and_gradients_equal_builtin(kwargs, classes, rng):
    x = rng.normal(size=(4, 7, 5)).astype("float32")
    ours, builtin = twin_models({"bias_initializer": "random_normal", **kwargs}, (7, 5), classes=classes)
    y_ours, y_builtin = as_list(ours(x)), as_list(builtin(x))
    assert len(y_ours) == len(y_builtin)
    for a, b in zip(y_ours, y_builtin):
        np.testing.assert_allclose(a, b, atol=ATOL)
    loss = weighted_sum([rng.normal(size=y.shape).astype("float32") for y in y_ours])
    for g_ours, g_builtin in zip(gradients(ours, x, loss, wrt_inputs=True), gradients(builtin, x, loss, wrt_inputs=True)):
        np.testing.assert_allclose(g_ours, g_builtin, atol=ATOL)


def test_initial_state_equals_builtin(rng):
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    h0, c0 = rng.normal(size=(2, 3, 6)).astype("float32")
    ours, builtin = twin_models(dict(units=6, return_sequences=True, return_state=True), (5, 4),
                                with_state_inputs=True)
    for a, b in zip(as_list(ours([x, h0, c0])), as_list(builtin([x, h0, c0]))):
        np.testing.assert_allclose(a, b, atol=ATOL)
    zero_start = as_list(ours([x, 0 * h0, 0 * c0]))[0]
    assert not np.allclose(zero_start, as_list(ours([x, h0, c0]))[0], atol=1e-3)


@pytest.mark.parametrize("classes", TWIN_CLASSES, ids=["lstm", "gru"])
def test_bidirectional_equals_builtin_outputs_and_gradients(classes, rng):
    x = rng.normal(size=(4, 6, 3)).astype("float32")
    for return_sequences in (False, True):
        ours, builtin = twin_models(dict(units=5, return_sequences=return_sequences, bias_initializer="random_normal"),
                                    (6, 3), bidirectional=True, classes=classes)
        assert len(ours.get_weights()) == 6  # forward kernel, recurrent, bias; then backward
        np.testing.assert_allclose(np_(ours(x)), np_(builtin(x)), atol=ATOL)
        loss = weighted_sum([rng.normal(size=ours(x).shape).astype("float32")])
        for a, b in zip(gradients(ours, x, loss, wrt_inputs=True), gradients(builtin, x, loss, wrt_inputs=True)):
            np.testing.assert_allclose(a, b, atol=ATOL)


def test_weights_move_both_ways_inside_bidirectional(rng):
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    builtin = keras.layers.Bidirectional(keras.layers.LSTM(5))
    ours = keras.layers.Bidirectional(LSTM(5))
    builtin(x), ours(x)
    ours.set_weights(builtin.get_weights())  # builtin -> ours
    np.testing.assert_allclose(np_(ours(x)), np_(builtin(x)), atol=ATOL)
    builtin2 = keras.layers.Bidirectional(keras.layers.LSTM(5))
    builtin2(x)
    builtin2.set_weights(ours.get_weights())  # ours -> builtin
    np.testing.assert_allclose(np_(builtin2(x)), np_(ours(x)), atol=ATOL)


@pytest.mark.parametrize("classes", TWIN_CLASSES, ids=["lstm", "gru"])
def test_stateful_carries_state_over_two_batches(classes, rng):
    """Two half-sequences through a stateful layer equal the whole sequence; reset_state starts over."""
    x = rng.normal(size=(3, 8, 4)).astype("float32")
    ours, builtin = twin_models(dict(units=5, return_sequences=True, stateful=True, bias_initializer="random_normal"),
                                (4, 4), batch_size=3, classes=classes)
    whole = classes[0](5, return_sequences=True)
    whole.build(x.shape)
    whole.set_weights(ours.get_weights())
    halves = [np_(ours(x[:, :4])), np_(ours(x[:, 4:]))]
    np.testing.assert_allclose(np.concatenate(halves, axis=1), np_(whole(x)), atol=ATOL)
    if keras.backend.backend() == "tensorflow":  # the builtin carries state on TensorFlow only
        builtin_halves = [np_(builtin(x[:, :4])), np_(builtin(x[:, 4:]))]
        np.testing.assert_allclose(np.concatenate(builtin_halves, axis=1), np.concatenate(halves, axis=1), atol=ATOL)
    ours.layers[1].reset_state()
    np.testing.assert_allclose(np_(ours(x[:, :4])), halves[0], atol=ATOL)


@pytest.mark.parametrize("layer_class", [LSTM, GRU])
def test_stateful_state_is_carried_by_the_trainer_on_every_backend(layer_class, rng):
    """predict_on_batch / train_on_batch go through the backend's trainer (stateless on JAX)."""
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    inputs = keras.Input(shape=(3, 3), batch_size=2)
    layer = layer_class(4, return_sequences=True, stateful=True)
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer="sgd", loss="mse")
    first, second = model.predict_on_batch(x[:, :3]), model.predict_on_batch(x[:, 3:])
    plain = layer_class(4, return_sequences=True)
    plain.build((2, 6, 3))
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), np_(plain(x)), atol=ATOL)
    state_before = np_(layer.states[0]).copy()
    model.train_on_batch(x[:, :3], np.zeros((2, 3, 4), "float32"))
    assert not np.allclose(np_(layer.states[0]), state_before)
    layer.reset_state()
    assert np.all(np_(layer.states[0]) == 0)


def test_mask_equals_builtin(rng):
    x = rng.normal(size=(3, 6, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 1, 1, 0, 1]], bool)
    for kwargs in (dict(units=5, return_sequences=True, return_state=True), dict(units=5, go_backwards=True)):
        ours, builtin = LSTM(**kwargs), keras.layers.LSTM(**kwargs)
        ours.build(x.shape), builtin.build(x.shape)
        builtin.set_weights(ours.get_weights())
        for a, b in zip(as_list(ours(x, mask=mask)), as_list(builtin(x, mask=mask))):
            np.testing.assert_allclose(a, b, atol=ATOL)


def test_scan_loop_equals_unrolled_loop(rng):
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    unrolled = LSTM(6, return_sequences=True, return_state=True)
    scanned = LSTM(6, return_sequences=True, return_state=True, unroll=False)
    unrolled.build(x.shape), scanned.build(x.shape)
    scanned.set_weights(unrolled.get_weights())
    for a, b in zip(as_list(unrolled(x)), as_list(scanned(x))):
        np.testing.assert_allclose(a, b, atol=ATOL)


def test_hand_written_backward_equals_automatic_differentiation(rng):
    """The unrolled loop's own gradient (models.backward.fused_recurrence) against autodiff of the scan loop.

    Every output (h of each step, h_T, C_T) gets its own upstream gradient, and the
    initial state is an input, so ∂/∂x, ∂/∂h_0, ∂/∂C_0 and all three weights are checked.
    """
    x = rng.normal(size=(3, 6, 4)).astype("float32")
    h0, c0 = (rng.normal(size=(3, 5)).astype("float32") for _ in range(2))
    models_ = []
    for unroll in (None, False):  # None: unrolled, the hand-written gradient; False: scan, autodiff
        inputs = [keras.Input((6, 4), batch_size=3), keras.Input((5,), batch_size=3), keras.Input((5,), batch_size=3)]
        layer = LSTM(5, return_sequences=True, return_state=True, unroll=unroll, go_backwards=False)
        models_.append(keras.Model(inputs, layer(inputs[0], initial_state=inputs[1:])))
    models_[1].set_weights(models_[0].get_weights())
    weights = [rng.normal(size=s).astype("float32") for s in [(3, 6, 5), (3, 5), (3, 5)]]
    grads = []
    for model in models_:
        packed = np.concatenate([x.reshape(3, -1), h0, c0], axis=1)  # one input array for the helper

        class Unpack(keras.Model):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def call(self, packed):
                return self.inner([ops.reshape(packed[:, :24], (3, 6, 4)), packed[:, 24:29], packed[:, 29:]])

        wrapper = Unpack(model)
        wrapper(packed)
        grads.append(gradients(wrapper, packed, weighted_sum(weights), wrt_inputs=True))
    assert len(grads[0]) == 4  # kernel, recurrent_kernel, bias, inputs
    for fused, autodiff in zip(*grads):
        np.testing.assert_allclose(fused, autodiff, rtol=1e-4, atol=1e-5)


CONSTANT_WEIGHTS = dict(kernel_initializer=keras.initializers.Constant(0.01),
                        recurrent_initializer=keras.initializers.Constant(0.02),
                        bias_initializer=keras.initializers.Constant(0.03))


@pytest.mark.parametrize("kwargs, expected", [  # the last output of every sequence; each unit is alike
    ({}, [0.6288687, 0.86899143, 0.9460773]),
    ({"unroll": False}, [0.6288687, 0.86899143, 0.9460773]),
    ({"go_backwards": True}, [0.35622165, 0.74789524, 0.8872726]),
    ({"unit_forget_bias": False}, [0.57019705, 0.8661914, 0.9459622]),
    ({"use_bias": False}, [0.54986924, 0.86226785, 0.9443936]),
])
def test_keras_golden_outputs(kwargs, expected):
    """Keras' own lstm_test.py: constant weights, input arange(72).reshape(3, 6, 4), 3 units."""
    layer = LSTM(3, **CONSTANT_WEIGHTS, **kwargs)
    output = np_(layer(np.arange(72).reshape(3, 6, 4).astype("float32")))
    np.testing.assert_allclose(output, np.repeat(np.array(expected, "float32")[:, None], 3, axis=1), atol=1e-5)


def test_keras_golden_stateful():
    """Keras' lstm_test.py: the second call of a stateful layer starts from the first call's state."""
    sequence = np.arange(24).reshape(2, 3, 4).astype("float32")
    layer = LSTM(4, stateful=True, **CONSTANT_WEIGHTS)
    expected = np.repeat(np.array([[0.3124785], [0.6863672]], "float32"), 4, axis=1)
    for _ in range(2):  # and again after reset_state()
        first = np_(layer(sequence))
        np.testing.assert_allclose(np_(layer(sequence)), expected, atol=1e-5)
        assert np.abs(first - expected).max() > 0.01  # the first call, from zeros, is another output
        layer.reset_state()


def test_keras_golden_initial_state_and_masks():
    """Keras' lstm_test.py: initial states (forwards and backwards) and masks, 2 units, input arange(24)."""
    sequence = np.arange(24).reshape(2, 4, 3).astype("float32")
    initial_state = [np.arange(4).reshape(2, 2).astype("float32")] * 2
    np.testing.assert_allclose(np_(LSTM(2, **CONSTANT_WEIGHTS)(sequence, initial_state=initial_state)),
                               [[0.20574439, 0.3558822], [0.64930826, 0.66276]], atol=1e-5)
    np.testing.assert_allclose(np_(LSTM(2, go_backwards=True, **CONSTANT_WEIGHTS)(sequence, initial_state=initial_state)),
                               [[0.13281618, 0.2790356], [0.5839337, 0.5992567]], atol=1e-5)
    mask = np.array([[True, True, True, False], [True, True, False, False]])
    np.testing.assert_allclose(np_(LSTM(2, **CONSTANT_WEIGHTS)(sequence, mask=mask)),
                               [[0.11755939] * 2, [0.28556206] * 2], atol=1e-5)
    sequences = np_(LSTM(2, return_sequences=True, zero_output_for_mask=True, **CONSTANT_WEIGHTS)(sequence, mask=mask))
    np.testing.assert_allclose(sequences[:, :, 0], [[0.0158891, 0.05552048, 0.11755939, 0.0],
                                                    [0.14185596, 0.28556206, 0.0, 0.0]], atol=1e-5)
    backwards_mask = np.array([[False, True, True, True], [False, False, True, True]])
    np.testing.assert_allclose(np_(LSTM(2, go_backwards=True, **CONSTANT_WEIGHTS)(sequence, mask=backwards_mask)),
                               [[0.15341201] * 2, [0.3844719] * 2], atol=1e-5)


def test_cell_in_keras_rnn_equals_our_layer(rng):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    ours = LSTM(4, return_sequences=True, return_state=True)
    rnn = keras.layers.RNN(LSTMCell(4), return_sequences=True, return_state=True)
    ours.build(x.shape), rnn.build(x.shape)
    rnn.set_weights(ours.get_weights())
    for a, b in zip(as_list(ours(x)), as_list(rnn(x))):
        np.testing.assert_allclose(a, b, atol=ATOL)
    h, states = LSTMCell(4)(x[:, 0], [np.zeros((2, 4), "float32")] * 2)
    assert h.shape == (2, 4) and len(states) == 2


def test_numpy_reference_forward_and_backward_agree_with_layer(rng):
    x = rng.normal(size=(3, 6, 4)).astype("float32")
    layer = LSTM(5, return_sequences=True, return_state=True, bias_initializer="random_normal")
    model = keras.Model(inputs := keras.Input((6, 4)), layer(inputs))
    kernel, recurrent, bias = model.get_weights()
    outputs, h_last, c_last, cache = lstm_forward(x.astype("float64"), *(w.astype("float64") for w in (kernel, recurrent, bias)))
    for ours, ref in zip(as_list(model(x)), (outputs, h_last, c_last)):
        np.testing.assert_allclose(ours, ref, atol=ATOL)
    w_out, w_h, w_c = (rng.normal(size=s).astype("float32") for s in (outputs.shape, h_last.shape, c_last.shape))
    g_kernel, g_recurrent, g_bias, g_x = gradients(model, x, weighted_sum([w_out, w_h, w_c]), wrt_inputs=True)
    ref = lstm_backward(w_out.astype("float64"), cache, d_h_last=w_h.astype("float64"), d_c_last=w_c.astype("float64"))
    for ours, name in ((g_kernel, "kernel"), (g_recurrent, "recurrent_kernel"), (g_bias, "bias"), (g_x, "x")):
        np.testing.assert_allclose(ours, ref[name], atol=1e-4, err_msg=name)


def test_numpy_reference_passes_finite_difference_check(rng):
    x = rng.normal(size=(2, 4, 3))
    kernel, recurrent = rng.normal(size=(3, 16)) * 0.5, rng.normal(size=(4, 16)) * 0.5
    bias, h0, c0 = rng.normal(size=16) * 0.5, rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    w_out, w_c = rng.normal(size=(2, 4, 4)), rng.normal(size=(2, 4))

    def loss(**args):
        outputs, _, c_last, _ = lstm_forward(**args)
        return np.sum(w_out * outputs) + np.sum(w_c * c_last)

    args = dict(x=x, kernel=kernel, recurrent_kernel=recurrent, bias=bias, h0=h0, c0=c0)
    _, _, _, cache = lstm_forward(**args)
    analytic = lstm_backward(w_out, cache, d_c_last=w_c)
    for name, numeric in numeric_gradients(loss, args).items():
        np.testing.assert_allclose(analytic[name], numeric, rtol=1e-5, atol=1e-7, err_msg=name)


def test_parameter_count():
    model = keras.Sequential([keras.Input((28, 28)), LSTM(128)])
    assert model.count_params() == 4 * (128 * (28 + 128) + 128) == 80_384
    kernel, recurrent, bias = model.layers[0].get_weights()
    assert kernel.shape == (28, 512) and recurrent.shape == (128, 512) and bias.shape == (512,)


def test_unit_forget_bias_initialises_forget_block_to_one():
    layer = LSTM(3, bias_initializer=keras.initializers.Constant(0.5))
    layer.build((1, 2, 4))
    np.testing.assert_allclose(np_(layer.cell.bias), [0.5] * 3 + [1.0] * 3 + [0.5] * 6)
    layer = LSTM(3, unit_forget_bias=False, bias_initializer=keras.initializers.Constant(0.5))
    layer.build((1, 2, 4))
    np.testing.assert_allclose(np_(layer.cell.bias), [0.5] * 12)


def test_dropout_honours_training(rng):
    x = rng.normal(size=(4, 5, 6)).astype("float32")
    layer = LSTM(8, dropout=0.5, recurrent_dropout=0.3, seed=1)
    plain = LSTM(8)
    layer.build(x.shape), plain.build(x.shape)
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(np_(layer(x, training=False)), np_(plain(x)), atol=ATOL)
    assert not np.allclose(np_(layer(x, training=True)), np_(plain(x)), atol=1e-3)


def test_config_round_trip_and_keras_file_in_fresh_process(reloaded):
    layer = LSTM(7, return_sequences=True, go_backwards=True, dropout=0.1, unit_forget_bias=False, seed=3)
    config = layer.get_config()
    clone = LSTM.from_config(config)
    assert clone.get_config() == config
    cell_config = LSTMCell(4, recurrent_dropout=0.2).get_config()
    assert LSTMCell.from_config(cell_config).get_config() == cell_config
    found = reloaded["layers"]  # Bidirectional(LSTM) → Dense → LSTM, saved and loaded in another process
    largest_difference = float(np.abs(found["outputs"] - found["expected"]).max())
    assert largest_difference <= 1e-6 and "Bidirectional" in found["layer_types"]


@reloaded_in_fresh_process("layers", probe='{"layer_types": [type(l).__name__ for l in m.layers]}')
def _layers_model(rng):
    inputs = keras.Input((5, 3))
    outputs = keras.layers.Dense(2)(keras.layers.Bidirectional(LSTM(4, return_sequences=True))(inputs))
    return keras.Model(inputs, LSTM(3)(outputs)), rng.normal(size=(2, 5, 3)).astype("float32")


@reloaded_in_fresh_process("stack", probe='{"units": [l.units for l in m.get_layer("lstms").lstms], '
                                          '"weight_dropout": [l.weight_dropout for l in m.get_layer("lstms").lstms]}')
def _stack_to_reload(rng):
    return _stack_model(True, stateful=False, locked=True), rng.normal(size=(4, 7, 3)).astype("float32")


class _Training(keras.Model):
    """`inner` called with training=True: dropout and weight drop on."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def call(self, x):
        return self.inner(x, training=True)


def _stack_model(fused, stateful, locked, weights=None):
    """Three LSTMs (6, 5, 4 units) with dropout 0.3 between them and weight drop 0.2, as one LSTMStack.

    fused=False gives every layer unroll=False, which the fused loop does not take: the
    layers then run one after the other, differentiated automatically.
    """
    lstms = [LSTM(units, return_sequences=True, stateful=stateful, weight_dropout=0.2, seed=10 + l,
                  unroll=None if fused else False, name=f"lstm_{l}") for l, units in enumerate((6, 5, 4))]
    inputs = keras.Input((7, 3), batch_size=4)
    model = keras.Model(inputs, LSTMStack(lstms, dropout=0.3, locked_dropout=locked, seed=5, name="lstms")(inputs))
    if weights is not None:
        model.set_weights(weights)
    return model


@pytest.mark.parametrize("stateful,locked", [(False, False), (True, True), (True, False)])
def test_stack_equals_its_layers_one_after_another(stateful, locked, rng, monkeypatch):
    """The fused wavefront loop and its hand-written gradient against the layers run in turn (autodiff).

    Same seeds, so the same dropout masks and weight-drop masks; with training on
    and off; two batches, so a stateful stack must carry every layer's state.
    """
    calls = []
    fused_stack = models.backward.fused_stack
    monkeypatch.setattr(models.backward, "fused_stack", lambda *a, **k: calls.append(1) or fused_stack(*a, **k))
    x = rng.normal(size=(2, 4, 7, 3)).astype("float32")
    upstream = rng.normal(size=(4, 7, 4)).astype("float32")
    results = []
    for fused in (True, False):
        model = _stack_model(fused, stateful, locked, weights=results[0]["weights"] if results else None)
        result = {"weights": model.get_weights(), "inference": [np_(model(batch)) for batch in x]}
        if stateful:
            model.get_layer("lstms").reset_state()
        result["training"] = [np_(model(batch, training=True)) for batch in x]
        training = _Training(model)
        training(x[0])  # built (JAX's stateless_call wants that); draws the same masks in both models
        result["gradients"] = gradients(training, x[0], weighted_sum([upstream]), wrt_inputs=True)
        results.append(result)
        assert bool(calls) == fused  # the fused loop was (or was not) the one that ran
        calls.clear()
    fused, one_by_one = results
    for key in ("inference", "training", "gradients"):
        for a, b in zip(fused[key], one_by_one[key]):
            np.testing.assert_allclose(a, b, atol=ATOL)
    assert not np.allclose(fused["inference"][1], fused["training"][1], atol=1e-3)  # dropout was on


def test_stack_saves_and_reloads_in_fresh_process(reloaded):
    model = _stack_model(True, stateful=False, locked=True)
    config = model.get_layer("lstms").get_config()
    assert LSTMStack.from_config(config).get_config() == config
    found = reloaded["stack"]  # the same stack, saved and loaded in another process
    assert float(np.abs(found["outputs"] - found["expected"]).max()) <= 1e-6
    assert found["units"] == [6, 5, 4] and found["weight_dropout"] == [0.2, 0.2, 0.2]


def test_stack_takes_only_sequence_returning_lstms():
    with pytest.raises(ValueError, match="return_sequences=True"):
        LSTMStack([LSTM(4)])
    with pytest.raises(ValueError, match="return_sequences=True"):
        LSTMStack([keras.layers.LSTM(4, return_sequences=True)])


def test_importing_models_does_not_import_tensorflow():
    result = run_python("import sys, models; print('tensorflow' in sys.modules)", env={"KERAS_BACKEND": "jax"})
    if "No module named 'jax'" in result.stderr:
        pytest.skip("jax is not installed")
    assert result.stdout.strip() == "False", result.stderr[-2000:]


@pytest.mark.parametrize("units", [0, -3, 2.5, "8", True])
def test_bad_units_give_a_clear_error(units):
    for cls in (LSTMCell, LSTM):
        with pytest.raises(ValueError, match="positive integer"):
            cls(units)


def test_bad_dropout_gives_a_clear_error():
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\)"):
        LSTM(4, dropout=1.5)


def test_wrong_input_rank_gives_a_clear_error():
    with pytest.raises(ValueError, match="timesteps"):
        LSTM(4)(np.zeros((2, 3), "float32"))
