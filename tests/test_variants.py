"""The LSTM variants (models.cell.VARIANTS): weights, parameter counts, the NumPy reference, the Keras layer and
stack against it, which loop runs, saving and reloading."""

import numpy as np
import pytest

import keras

import models.backward
from models import LSTM, LSTMCell, LSTMStack
from models.cell import VARIANTS
from models.reference import lstm_backward, lstm_forward
from tests.conftest import gradients, numeric_gradients, reloaded_in_fresh_process
from tests.test_models import ATOL, as_list, np_, weighted_sum

FIXED_GATE = {"coupled", "no-forget-gate", "no-input-gate", "no-output-gate"}


# Input 3, units 4: a gate block has 4·(3 + 4 + 1) = 32 parameters (W_x 3×4, W_h 4×4, b 4); peepholes are 3×4 more.
PARAMETERS = {"vanilla": 4 * 32, "peephole": 4 * 32 + 3 * 4, "coupled": 3 * 32, "no-forget-gate": 3 * 32,
              "no-input-gate": 3 * 32, "no-output-gate": 3 * 32, "no-input-activation": 4 * 32,
              "no-output-activation": 4 * 32}


@pytest.mark.parametrize("variant", VARIANTS)
def test_parameter_count_by_hand(variant):
    layer = LSTM(4, variant=variant)
    layer.build((1, 2, 3))
    assert layer.count_params() == PARAMETERS[variant] == {"vanilla": 128, "peephole": 140}.get(
        variant, 96 if variant in FIXED_GATE else 128)
    columns = 12 if variant in FIXED_GATE else 16
    shapes = [tuple(w.shape) for w in layer.weights]
    assert shapes == [(3, columns), (4, columns), (columns,)] + ([(3, 4)] if variant == "peephole" else [])


def test_vanilla_is_the_default_and_loads_keras_weights(rng):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    builtin, ours = keras.layers.LSTM(4), LSTM(4)
    builtin.build(x.shape), ours.build(x.shape)
    ours.set_weights(builtin.get_weights())
    assert ours.variant == "vanilla" and ours.cell.has_standard_gates
    np.testing.assert_allclose(np_(ours(x)), np_(builtin(x)), atol=ATOL)


@pytest.mark.parametrize("variant, ones", [("vanilla", [0, 1, 0, 0]), ("coupled", [1, 0, 0]),
                                           ("no-forget-gate", [0, 0, 0]), ("no-output-gate", [0, 1, 0])])
def test_unit_forget_bias_finds_the_forget_block(variant, ones):
    layer = LSTM(2, variant=variant, bias_initializer="zeros")
    layer.build((1, 2, 3))
    np.testing.assert_array_equal(np_(layer.cell.bias), np.repeat(ones, 2))


def test_unknown_variant_is_a_clear_error():
    for make in (lambda: LSTMCell(4, variant="no-gates"), lambda: LSTM(4, variant="GRU")):
        with pytest.raises(ValueError, match="unknown LSTM variant") as error:
            make()
        assert all(name in str(error.value) for name in VARIANTS)


def _random_weights(layer, rng):
    """Weights of a fair size (biases and peepholes too), so that every part of the step matters."""
    layer.set_weights([rng.normal(size=w.shape).astype("float32") * 0.5 for w in layer.get_weights()])


@pytest.mark.parametrize("unroll", [None, False], ids=["unrolled", "scan"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_layer_equals_numpy_reference(variant, unroll, rng):
    """Outputs, final states and the gradients of every weight and of the input, against models.reference."""
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    layer = LSTM(5, return_sequences=True, return_state=True, variant=variant, unroll=unroll)
    model = keras.Model(inputs := keras.Input((5, 4)), layer(inputs))
    _random_weights(model, rng)
    weights = [w.astype("float64") for w in model.get_weights()]
    outputs, h_last, c_last, cache = lstm_forward(x.astype("float64"), *weights[:3], variant=variant,
                                                  peephole=weights[3] if variant == "peephole" else None)
    for ours, ref in zip(as_list(model(x)), (outputs, h_last, c_last)):
        np.testing.assert_allclose(ours, ref, atol=ATOL)
    w_out, w_h, w_c = (rng.normal(size=s).astype("float32") for s in (outputs.shape, h_last.shape, c_last.shape))
    *g_weights, g_x = gradients(model, x, weighted_sum([w_out, w_h, w_c]), wrt_inputs=True)
    ref = lstm_backward(w_out.astype("float64"), cache, d_h_last=w_h.astype("float64"), d_c_last=w_c.astype("float64"))
    names = ["kernel", "recurrent_kernel", "bias"] + (["peephole"] if variant == "peephole" else [])
    assert len(g_weights) == len(names)
    for ours, name in zip([*g_weights, g_x], [*names, "x"]):
        np.testing.assert_allclose(ours, ref[name], atol=1e-4, err_msg=name)


@pytest.mark.parametrize("variant", VARIANTS)
def test_numpy_reference_passes_finite_difference_check(variant, rng):
    blocks = 3 if variant in FIXED_GATE else 4
    args = dict(x=rng.normal(size=(2, 3, 3)), kernel=rng.normal(size=(3, 4 * blocks)) * 0.5,
                recurrent_kernel=rng.normal(size=(4, 4 * blocks)) * 0.5, bias=rng.normal(size=4 * blocks) * 0.5,
                h0=rng.normal(size=(2, 4)), c0=rng.normal(size=(2, 4)))
    if variant == "peephole":
        args["peephole"] = rng.normal(size=(3, 4)) * 0.5
    w_out, w_h, w_c = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4))

    def loss(**args):
        outputs, h_last, c_last, _ = lstm_forward(**args, variant=variant)
        return np.sum(w_out * outputs) + np.sum(w_h * h_last) + np.sum(w_c * c_last)

    _, _, _, cache = lstm_forward(**args, variant=variant)
    analytic = lstm_backward(w_out, cache, d_h_last=w_h, d_c_last=w_c)
    for name, numeric in numeric_gradients(loss, args).items():
        np.testing.assert_allclose(analytic[name], numeric, rtol=1e-5, atol=1e-7, err_msg=f"{variant}: {name}")


@pytest.mark.parametrize("variant", ["peephole", "coupled", "no-output-activation"])
def test_cell_in_keras_rnn_equals_the_layer(variant, rng):
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    ours = LSTM(4, return_sequences=True, variant=variant)
    rnn = keras.layers.RNN(LSTMCell(4, variant=variant), return_sequences=True)
    ours.build(x.shape), rnn.build(x.shape)
    _random_weights(ours, rng)
    rnn.set_weights(ours.get_weights())
    np.testing.assert_allclose(np_(ours(x)), np_(rnn(x)), atol=ATOL)


@pytest.mark.parametrize("variant", ["vanilla", "peephole", "no-forget-gate", "no-output-gate"])
def test_gate_activations_of_a_variant(variant, rng):
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    layer = LSTM(5, return_sequences=True, variant=variant)
    layer.build(x.shape)
    _random_weights(layer, rng)
    trace = layer.gate_activations(x)
    np.testing.assert_allclose(trace["h"], np_(layer(x)), atol=ATOL)
    fixed = {"no-forget-gate": "f", "no-output-gate": "o"}.get(variant)
    for gate in "ifo":
        assert np.all(trace[gate] == 1.0) == (gate == fixed), gate


def _count_fused_calls(monkeypatch):
    calls = []
    fused_stack = models.backward.fused_stack
    monkeypatch.setattr(models.backward, "fused_stack", lambda *a, **k: calls.append(1) or fused_stack(*a, **k))
    return calls


@pytest.mark.parametrize("variant", ["vanilla", "peephole", "coupled"])
def test_only_vanilla_takes_the_hand_written_backward_pass(variant, rng, monkeypatch):
    """The documented fallback: a variant runs the cell's step in the plain loop (autodiff), alone or stacked."""
    calls = _count_fused_calls(monkeypatch)
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    layer = LSTM(4, return_sequences=True, variant=variant)
    gradients(keras.Sequential([keras.Input((4, 3)), layer]), x, weighted_sum([np.ones((2, 4, 4), "float32")]))
    stack = LSTMStack([LSTM(4, return_sequences=True, variant=variant) for _ in range(2)])
    gradients(keras.Sequential([keras.Input((4, 3)), stack]), x, weighted_sum([np.ones((2, 4, 4), "float32")]))
    assert len(calls) == (2 if variant == "vanilla" else 0)
    assert layer.cell.has_standard_gates == (variant == "vanilla")


@pytest.mark.parametrize("variant", ["peephole", "no-input-gate"])
def test_stack_of_a_variant_equals_its_layers_in_turn(variant, rng):
    x = rng.normal(size=(3, 6, 2)).astype("float32")
    lstms = [LSTM(units, return_sequences=True, variant=variant, name=f"l{units}") for units in (5, 4)]
    stack = LSTMStack(lstms, dropout=0.0)
    stack.build(x.shape)
    _random_weights(stack, rng)
    assert stack.variant == variant
    np.testing.assert_allclose(np_(stack(x)), np_(lstms[1](lstms[0](x))), atol=ATOL)


def test_stack_variant_of_mixed_layers():
    stack = LSTMStack([LSTM(3, return_sequences=True), LSTM(3, return_sequences=True, variant="coupled")])
    assert stack.variant == ("vanilla", "coupled")


def test_config_round_trip():
    for variant in VARIANTS:
        config = LSTM(3, variant=variant, peephole_initializer="ones").get_config()
        assert config["variant"] == variant and LSTM.from_config(config).get_config() == config
        cell_config = LSTMCell(3, variant=variant).get_config()
        assert LSTMCell.from_config(cell_config).get_config() == cell_config


def _variant_model(variant):
    """A BiLSTM and a stack of `variant`, random weights: saved here, predicted by the session's fresh process."""

    def build(rng):
        inputs = keras.Input((5, 3))
        x = keras.layers.Bidirectional(LSTM(4, return_sequences=True, variant=variant))(inputs)
        x = LSTMStack([LSTM(3, return_sequences=True, variant=variant) for _ in range(2)], name="lstms")(x)
        model = keras.Model(inputs, x)
        _random_weights(model, rng)
        return model, rng.normal(size=(2, 5, 3)).astype("float32")

    return build


for _variant in VARIANTS:
    reloaded_in_fresh_process(f"variant {_variant}", probe='{"variants": [l.variant for l in m.get_layer("lstms").lstms]'
                              ' + [m.layers[1].forward_layer.variant, m.layers[1].backward_layer.variant]}')(
        _variant_model(_variant))


def test_every_variant_reloads_in_a_fresh_process(reloaded):
    """A model of every variant (a BiLSTM and a stack of it) saved as .keras and predicted by another process."""
    for variant in VARIANTS:
        found = reloaded[f"variant {variant}"]
        np.testing.assert_allclose(found["outputs"], found["expected"], atol=1e-6, err_msg=variant)
        assert found["variants"] == [variant] * 4
