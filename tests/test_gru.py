"""The hand-written GRU against keras.layers.GRU and the NumPy reference."""

import numpy as np
import pytest

import keras

from models import GRU, GRUCell
from models.reference import gru_backward, gru_forward
from tests.conftest import gradients, numeric_gradients, reloaded_in_fresh_process
from tests.test_models import ATOL, as_list, np_, twin_models, weighted_sum

TWINS = dict(classes=(GRU, keras.layers.GRU), states=1)
RANDOM_BIAS = dict(bias_initializer="random_normal")


# The outputs, states and gradients equal keras.layers.GRU's, also inside Bidirectional and stateful:
# tests/test_models.py (parametrized over LSTM and GRU).


def test_initial_state_and_mask_equal_builtin(rng):
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    h0 = rng.normal(size=(3, 6)).astype("float32")
    ours, builtin = twin_models(dict(units=6, return_sequences=True, return_state=True, **RANDOM_BIAS), (5, 4),
                                with_state_inputs=True, **TWINS)
    for a, b in zip(as_list(ours([x, h0])), as_list(builtin([x, h0]))):
        np.testing.assert_allclose(a, b, atol=ATOL)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 1, 1, 0]], bool)
    for kwargs in (dict(units=5, return_sequences=True, return_state=True), dict(units=5, go_backwards=True)):
        ours, builtin = GRU(**kwargs, **RANDOM_BIAS), keras.layers.GRU(**kwargs)
        ours.build(x.shape), builtin.build(x.shape)
        builtin.set_weights(ours.get_weights())
        for a, b in zip(as_list(ours(x, mask=mask)), as_list(builtin(x, mask=mask))):
            np.testing.assert_allclose(a, b, atol=ATOL)


def test_cell_in_keras_rnn_equals_builtin_cell(rng):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    ours = keras.layers.RNN(GRUCell(4, **RANDOM_BIAS), return_sequences=True, return_state=True)
    builtin = keras.layers.RNN(keras.layers.GRUCell(4), return_sequences=True, return_state=True)
    ours.build(x.shape), builtin.build(x.shape)
    builtin.set_weights(ours.get_weights())
    for a, b in zip(as_list(ours(x)), as_list(builtin(x))):
        np.testing.assert_allclose(a, b, atol=ATOL)


def test_layer_equals_numpy_reference(rng):
    x = rng.normal(size=(3, 6, 4)).astype("float32")
    layer = GRU(5, return_sequences=True, return_state=True, **RANDOM_BIAS)
    model = keras.Model(inputs := keras.Input((6, 4)), layer(inputs))
    kernel, recurrent, bias = (w.astype("float64") for w in model.get_weights())
    outputs, h_last, cache = gru_forward(x.astype("float64"), kernel, recurrent, bias)
    for ours, ref in zip(as_list(model(x)), (outputs, h_last)):
        np.testing.assert_allclose(ours, ref, atol=ATOL)
    w_out, w_h = (rng.normal(size=s).astype("float32") for s in (outputs.shape, h_last.shape))
    g_kernel, g_recurrent, g_bias, g_x = gradients(model, x, weighted_sum([w_out, w_h]), wrt_inputs=True)
    ref = gru_backward(w_out.astype("float64"), cache, d_h_last=w_h.astype("float64"))
    for ours, name in ((g_kernel, "kernel"), (g_recurrent, "recurrent_kernel"), (g_bias, "bias"), (g_x, "x")):
        np.testing.assert_allclose(ours, ref[name], atol=1e-4, err_msg=name)


def test_numpy_reference_passes_finite_difference_check(rng):
    args = dict(x=rng.normal(size=(2, 4, 3)), kernel=rng.normal(size=(3, 12)) * 0.5,
                recurrent_kernel=rng.normal(size=(4, 12)) * 0.5, bias=rng.normal(size=(2, 12)) * 0.5,
                h0=rng.normal(size=(2, 4)))
    w_out, w_h = rng.normal(size=(2, 4, 4)), rng.normal(size=(2, 4))

    def loss(**args):
        outputs, h_last, _ = gru_forward(**args)
        return np.sum(w_out * outputs) + np.sum(w_h * h_last)

    analytic = gru_backward(w_out, gru_forward(**args)[2], d_h_last=w_h)
    for name, numeric in numeric_gradients(loss, args).items():
        np.testing.assert_allclose(analytic[name], numeric, rtol=1e-5, atol=1e-7, err_msg=name)


def test_parameter_count_by_hand():
    """Input 3, units 4: three blocks of W (3×4), U (4×4) and two biases (4 + 4): 3·(12 + 16 + 8) = 108."""
    layer = GRU(4)
    layer.build((1, 2, 3))
    assert layer.count_params() == 108
    assert [tuple(w.shape) for w in layer.weights] == [(3, 12), (4, 12), (2, 12)]
    builtin = keras.layers.GRU(4)
    builtin.build((1, 2, 3))
    assert builtin.count_params() == 108


def test_weight_dropout_drops_recurrent_entries_while_training(rng):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    layer, plain = GRU(4, weight_dropout=0.5, seed=1), GRU(4)
    layer.build(x.shape), plain.build(x.shape)
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(np_(layer(x, training=False)), np_(plain(x)), atol=ATOL)
    assert not np.allclose(np_(layer(x, training=True)), np_(plain(x)), atol=1e-3)


def test_config_round_trip_and_keras_config(tmp_path, rng):
    layer = GRU(7, return_sequences=True, go_backwards=True, dropout=0.1, weight_dropout=0.2, seed=3)
    config = layer.get_config()
    assert GRU.from_config(config).get_config() == config
    cell_config = GRUCell(4, recurrent_dropout=0.2).get_config()
    assert GRUCell.from_config(cell_config).get_config() == cell_config
    assert GRU.from_config(keras.layers.GRU(5, return_sequences=True).get_config()).return_sequences


@reloaded_in_fresh_process("gru", probe='{"types": [type(l).__name__ for l in m.layers] '
                                        '+ [type(m.layers[1].forward_layer).__name__]}')
def _gru_model(rng):
    inputs = keras.Input((5, 3))
    x = keras.layers.Bidirectional(GRU(4, return_sequences=True, **RANDOM_BIAS))(inputs)
    return keras.Model(inputs, GRU(3, **RANDOM_BIAS)(x)), rng.normal(size=(2, 5, 3)).astype("float32")


def test_keras_file_reloads_in_a_fresh_process(reloaded):
    found = reloaded["gru"]  # saved here, loaded and predicted by the session's fresh process
    np.testing.assert_allclose(found["outputs"], found["expected"], atol=1e-6)
    assert found["types"][-2:] == ["GRU", "GRU"]


def test_bad_arguments_give_a_clear_error():
    with pytest.raises(ValueError, match="reset_after=True form only"):
        GRU(4, reset_after=False)
    with pytest.raises(ValueError, match="the GRU's hidden state and must be a positive integer"):
        GRUCell(0)
    with pytest.raises(ValueError, match="timesteps"):
        GRU(4)(np.zeros((2, 3), "float32"))
