"""The long-memory experiment, gradient flow and the gate pictures."""

import numpy as np

from experiments import gate_pictures, long_memory
from models import LSTM
from models.reference import lstm_forward


def test_recall_task_by_hand():
    x, y = long_memory.recall_task(5, 3, symbols=2, distractors=1, rng=np.random.default_rng(0))
    assert x.shape == (5, 4) and y.shape == (5,)
    np.testing.assert_array_equal(x[:, 0], y)
    np.testing.assert_array_equal(x[:, 1:], 2)  # the one distractor token, three times
    x, y = long_memory.recall_task(2000, 7, symbols=8, distractors=8, rng=np.random.default_rng(1))
    assert set(np.unique(y)) == set(range(8)) and x[:, 1:].min() == 8 and x[:, 1:].max() == 15
    np.testing.assert_array_equal(long_memory.one_hot(np.array([[0, 2]]), 3), [[[1, 0, 0], [0, 0, 1]]])


def test_quick_mode_end_to_end(tmp_path):
    config = long_memory.Config(units=8, steps=100, batch_size=16, test_sequences=64)
    table, flows = long_memory.run(config, [3, 6], str(tmp_path))
    assert [row["lag"] for row in table] == [3, 6]
    # at lag 3 both have learnt to recall (measured 0.97 and 0.66; chance is 1/8)
    assert table[0]["rnn"] > 0.5 and table[0]["lstm"] > 0.4
    for name in ("memory_accuracy.png", "gradient_flow.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert '"lag": 6' in (tmp_path / "memory_table.json").read_text()
    before, after = flows[("lstm", 6)]
    assert before.shape == (7,) and np.all(np.isfinite(after)) and np.all(before > 0)


def test_gradient_reaching_far_inputs_of_a_plain_rnn_vanishes():
    """‖∂loss/∂x_t‖ of a SimpleRNN at initialisation, 40 steps back: measured about 0.003 of the nearest."""
    config = long_memory.Config(units=16)
    x, y = long_memory.recall_task(64, 40, config.symbols, config.distractors, np.random.default_rng(0))
    norms = long_memory.gradient_norms(long_memory.build("rnn", config, 40, seed=0),
                                       long_memory.one_hot(x, config.symbols + config.distractors), y)
    assert norms.shape == (41,) and np.all(norms > 0)
    assert norms[0] / norms[-1] < 0.01


def test_gate_activations_equal_numpy_reference(rng):
    x = rng.normal(size=(2, 9, 5)).astype("float32")
    layer = LSTM(6, bias_initializer="random_normal")
    layer.build(x.shape)
    trace = layer.gate_activations(x)
    outputs, _, _, cache = lstm_forward(x.astype("float64"), *(w.astype("float64") for w in layer.get_weights()))
    for key, ref_key in (("i", "i"), ("f", "f"), ("c", "c_tilde"), ("o", "o"), ("cell", "c")):
        reference = np.stack([step[ref_key] for step in cache["steps"]], axis=1)
        np.testing.assert_allclose(trace[key], reference, atol=1e-5, err_msg=key)
    np.testing.assert_allclose(trace["h"], outputs, atol=1e-5)


def test_text_features_and_best_units():
    text = "ROMEO:\nHi there.\nJULIET:\nYes.\n"
    features = gate_pictures.text_features(text)
    name = features["speaker-name line"]
    assert name[:7].tolist() == [1.0] * 7 and name[7] == 0.0 and name[text.index("JULIET")] == 1.0
    assert features["position in line"][:8].tolist() == [0, 1, 2, 3, 4, 5, 6, 0]
    values = np.random.default_rng(0).normal(size=(len(text), 5))
    values[:, 3] = name * 2 - 1 + 0.01 * values[:, 0]  # a unit that tracks the name lines
    assert gate_pictures.best_units(values, features)["speaker-name line"][0][0] == 3


def test_gate_pictures_on_a_char_run(tmp_path, data_dir):
    import train_char_rnn

    run = tmp_path / "char"
    train_char_rnn.main(["--preset", "test", "--steps-per-epoch", "30", "--data-dir", data_dir, "--output-dir", str(run)])
    found = gate_pictures.main([str(run), "--chars", "60", "--data-dir", data_dir])
    assert set(found) == {"speaker-name line", "position in line", "inside a word"}
    assert (run / "gates.png").stat().st_size > 1000


def test_weight_averaging_study_keeps_its_averages_apart(tmp_path, data_dir):
    import dataclasses

    import train_ptb
    from experiments import weight_averaging

    config = dataclasses.replace(train_ptb.PRESETS["awd-test"], asgd_after=0)
    averages = {"mean@1": (1, 0), "ema 1000@1": (1, 1000), "ema 5@2": (2, 5)}
    table = weight_averaging.run(config, 2, steps_per_epoch=40, averages=averages, data_dir=data_dir)
    first, second = table
    assert "ema 5@2" not in first and set(averages) | {"raw"} <= set(second)
    # a window longer than the run is the plain mean
    np.testing.assert_allclose(second["ema 1000@1"], second["mean@1"], rtol=1e-4)
    assert abs(second["mean@1"] - second["raw"]) > 1e-3 and abs(second["ema 5@2"] - second["mean@1"]) > 1e-3
    weight_averaging.plot(table, tmp_path / "averages.png")
    assert (tmp_path / "averages.png").stat().st_size > 1000


def test_weight_averaging_study_of_the_char_model_averages_adam(tmp_path, data_dir):
    from experiments import weight_averaging

    averages = {"mean@1": (1, 0), "ema 3@1": (1, 3)}
    table = weight_averaging.run(weight_averaging.char_recipe(), 1, steps_per_epoch=12, averages=averages,
                                 data_dir=data_dir, task=weight_averaging.char_task)
    (row,) = table
    assert 1.0 < row["raw"] < 5.0  # nats per character (65 characters: ln 65 = 4.17 at chance)
    assert len({row["raw"], row["mean@1"], row["ema 3@1"]}) == 3
