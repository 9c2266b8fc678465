"""The experiments: long memory and gradient flow, the gate pictures, the averages of the weight-averaging study,
the LSTM against the transformer at equal budgets."""

import json

import numpy as np
import pytest

from experiments import gate_pictures, long_memory, lstm_vs_transformer, variants
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


@pytest.mark.slow  # four trainings of 100 steps
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


def test_gate_pictures_on_a_char_run(char_run, tmp_path):
    from datasets import load_shakespeare

    run, _, data_dir = char_run
    text = tmp_path / "passage.txt"  # the start of the test split, as without --text, but shorter
    text.write_text(load_shakespeare(data_dir)[2][:600])
    picture = tmp_path / "gates.png"  # beside the shared run, not in it
    found = gate_pictures.main([str(run), "--chars", "60", "--text", str(text), "--output", str(picture)])
    assert set(found) == {"speaker-name line", "position in line", "inside a word"}
    for units in found.values():  # the 3 best of the test preset's 32 units, best first
        assert len(units) == 3 and len({u for u, _ in units}) == 3 and all(0 <= u < 32 for u, _ in units)
        correlations = [abs(r) for _, r in units]
        assert correlations == sorted(correlations, reverse=True) and 0 < correlations[0] <= 1
    assert picture.stat().st_size > 1000


def test_weight_averaging_keeps_every_average_of_the_iterates_by_hand():
    """make_optimizer(averages=...), the study's optimizer: each average starts at its step; mean@E is the plain mean
    of the iterates from then on, ema N@E the mean of the first N, then w̄ += (w − w̄)/N."""
    import keras

    from training.optimizers import make_optimizer

    rng = np.random.default_rng(7)
    averages = {"mean@1": (1, 0), "mean@2": (2, 0), "ema 2@1": (1, 2)}
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    schedule = {name: ((first - 1) * 2, window) for name, (first, window) in averages.items()}  # epochs of 2 steps
    model.compile(optimizer=make_optimizer("sgd", 0.1, averages=schedule), loss="mse")
    x, y = rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=(4, 2)).astype("float32")
    iterates = []
    for _ in range(5):  # epochs of 2 steps: epoch 2 starts with the third step
        model.train_on_batch(x, y)
        iterates.append(model.get_weights())
    ema = iterates[0]
    for k, w in enumerate(iterates[1:], start=2):
        ema = [e + (v - e) * max(1 / k, 1 / 2) for e, v in zip(ema, w)]
    expected = {"mean@1": [np.mean(w, axis=0) for w in zip(*iterates)],
                "mean@2": [np.mean(w, axis=0) for w in zip(*iterates[2:])], "ema 2@1": ema}
    for name, by_hand in expected.items():
        for got, want in zip(model.optimizer.averaged_weights(model, name), by_hand):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
    assert not np.allclose(model.optimizer.averaged_weights(model, "mean@1")[0], model.get_weights()[0])


def tiny_data(seed=0):
    """A random 30-word stream instead of PTB, for weight_averaging.run: the same interface, in a second."""
    from datasets import Vocabulary
    from training.recipe import LanguageModelData

    rng = np.random.default_rng(seed)
    stream = rng.integers(0, 30, 3000).astype("int32")
    return LanguageModelData(stream[:2000], stream[2000:2500], stream[2500:],
                             Vocabulary("words", [f"w{i}" for i in range(30)]), source="random", unit="word")


def test_weight_averaging_study_on_a_tiny_task(tmp_path):
    """The study's averages kept apart, on a random stream instead of PTB (the same assertions held on PTB;
    reading a data set from data_dir is the char study's below)."""
    import dataclasses

    import train_ptb
    from experiments import weight_averaging

    config = dataclasses.replace(train_ptb.PRESETS["awd-test"], average_after=0)
    averages = {"mean@1": (1, 0), "ema 1000@1": (1, 1000), "ema 5@2": (2, 5)}
    table = weight_averaging.run("ptb", 2, steps_per_epoch=10, averages=averages, config=config, data=tiny_data())
    first, second = table
    assert [row["epoch"] for row in table] == [1, 2] and "ema 5@2" not in first and set(averages) | {"raw"} <= set(second)
    np.testing.assert_allclose(second["ema 1000@1"], second["mean@1"], rtol=1e-4)  # a longer window: the mean
    assert abs(second["mean@1"] - second["raw"]) > 1e-3 and abs(second["ema 5@2"] - second["mean@1"]) > 1e-3
    weight_averaging.plot(table, tmp_path / "averages.png")
    assert (tmp_path / "averages.png").stat().st_size > 1000


@pytest.mark.slow  # three passes over Tiny Shakespeare's valid split
def test_weight_averaging_study_of_the_char_model_averages_adam(tmp_path, data_dir):
    from experiments import weight_averaging

    averages = {"mean@1": (1, 0), "ema 3@1": (1, 3)}
    table = weight_averaging.run("char", 1, steps_per_epoch=12, averages=averages, data_dir=data_dir)
    (row,) = table
    assert 1.0 < row["raw"] < 5.0  # nats per character (65 characters: ln 65 = 4.17 at chance)
    assert len({row["raw"], row["mean@1"], row["ema 3@1"]}) == 3


def test_variants_cases_and_forget_bias_by_hand():
    config = variants.Config(forget_biases=(0.0, 3.0))
    assert variants.forget_biases("coupled", config) == (0.0, 3.0)  # f, C̃, o: a forget gate
    assert variants.forget_biases("no-forget-gate", config) == (None,)
    assert variants.forget_biases("gru", config) == (0.0, 3.0)  # its update gate
    np.testing.assert_array_equal(long_memory.update_bias_initializer(2, 3.0)((2, 6)),
                                  [[3, 3, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    initializer = long_memory.forget_bias_initializer(2, 3.0, ("f", "c", "o"))
    np.testing.assert_array_equal(initializer((6,)), [3, 3, 0, 0, 0, 0])


@pytest.mark.slow  # nine short trainings (recall, char-rnn, MNIST) of three models
def test_variants_quick_mode_end_to_end(tmp_path, data_dir, monkeypatch):
    config = variants.Config(lags=(3,), forget_biases=(1.0,), memory_steps=5, char_steps=3, mnist_steps=3,
                             char_preset="test", mnist_preset="test")
    models = ("vanilla", "no-forget-gate", "gru")
    found = variants.run(config, str(tmp_path), data_dir, models=models)
    assert set(found["results"]) == {f"{part}/{model}/{case}" for model in models for part, case in (
        ("char", "seed0/steps3"), ("mnist", "seed0/steps3"),
        ("memory", f"bias{None if model == 'no-forget-gate' else 1.0}/lag3/seed0/steps5"))}
    table = (tmp_path / "variants.md").read_text()
    assert "| no-forget-gate | — |" in table and "| recall lag 3, bias 1 | recall lag 3, no forget bias |" in table
    assert (tmp_path / "variants.png").stat().st_size > 1000
    assert (tmp_path / "char" / "gru-seed0" / "model.keras").is_file()
    monkeypatch.setattr(variants, "recall", lambda *a: pytest.fail("trained again"))
    monkeypatch.setattr(variants, "mnist_run", lambda *a: pytest.fail("trained again"))
    assert variants.run(config, str(tmp_path), data_dir, models=models)["table"] == found["table"]


@pytest.mark.slow  # two short trainings, each scored twice on nanoGPT's validation
def test_lstm_vs_transformer_with_tiny_budgets(tmp_path, data_dir):
    """Budgets of 3 and 6 seconds: the LSTM's `test` preset is stopped in its one long epoch, gpt-test's run (300
    steps) may end first; every budget has a row with both of nanoGPT's views."""
    out = tmp_path / "table"
    rows = lstm_vs_transformer.main(["--presets", "test", "gpt-test", "--budgets", "0.1", "0.05", "--nanogpt-batches",
                                     "1", "--data-dir", data_dir, "--output-dir", str(out)])
    assert [(row["preset"], row["budget_minutes"]) for row in rows] == [
        ("test", 0.05), ("test", 0.1), ("gpt-test", 0.05), ("gpt-test", 0.1)]
    lstm, gpt = rows[:2], rows[2:]
    assert 0 < lstm[0]["steps"] < lstm[1]["steps"] < 3000  # stopped inside its epoch of about 3,100 steps
    assert 0 < gpt[0]["steps"] <= gpt[1]["steps"] <= 300
    assert lstm[0]["training_seconds"] >= 3 and lstm[1]["training_seconds"] >= 6
    for row in lstm:
        assert {"nanogpt_val_carried", "nanogpt_val_windows_64", "nanogpt_val_windows_256"} <= set(row)
        assert row["in_order"] == row["nanogpt_val_carried"] and row["parameters"] == "17,777"
    for row in gpt:
        assert {"nanogpt_val_sliding", "nanogpt_val_windows_32"} <= set(row) and "nanogpt_val_windows_64" not in row
        assert row["parameters"] == "58,656 (+1,536 positions)"
    assert all(0 < row["in_order"] < np.log(65) for row in rows)
    table = (out / "table.md").read_text()
    assert table.count("| test | LSTM |") == 2 and table.count("| gpt-test | transformer |") == 2
    assert len(json.loads((out / "table.json").read_text())["rows"]) == 4
    assert (out / "test" / "config.json").is_file() and (out / "gpt-test" / "config.json").is_file()  # the runs


def test_lstm_vs_transformer_user_errors(tmp_path, capsys):
    from tests.conftest import script_error

    for budgets in (["5", "0"], ["five"]):
        assert "--budgets must be minutes above 0" in script_error(lstm_vs_transformer.main, ["--budgets", *budgets],
                                                                   capsys)
    assert "--presets: invalid choice: 'xl'" in script_error(lstm_vs_transformer.main, ["--presets", "wide", "xl"],
                                                            capsys)
    (tmp_path / "wide").mkdir()
    assert "already holds runs of wide" in script_error(
        lstm_vs_transformer.main, ["--presets", "wide", "--output-dir", str(tmp_path)], capsys)


def test_variants_seeds_option(monkeypatch, capsys):
    taken = []
    monkeypatch.setattr(variants, "run", lambda config, *a: taken.append(config))
    variants.main(["--seeds", "1", "0", "1"])
    variants.main(["--full", "--seeds", "4"])
    assert [c.seeds for c in taken] == [(0, 1), (4,)]  # sorted, each once
    assert taken[0].char_steps == variants.QUICK.char_steps and taken[1].char_steps == variants.FULL.char_steps
    for bad in ("", "a", "-1"):
        with pytest.raises(SystemExit) as stop:
            variants.main(["--seeds", bad])
        assert stop.value.code == 2 and "--seeds must be from 0 to" in capsys.readouterr().err
    assert len(taken) == 2


def test_lstm_batch_layout_reaches_the_lstm_presets_only(monkeypatch):
    seen = []

    class Scored(Exception):
        """Stands for the scoring after the training."""

    def train(argv, callbacks):
        seen.append(argv)
        raise lstm_vs_transformer.BudgetSpent()

    def score(*args):
        raise Scored()

    monkeypatch.setattr(lstm_vs_transformer.train_char_rnn, "main", train)
    monkeypatch.setattr(lstm_vs_transformer.nanogpt, "run_validation_ids", score)
    for preset in ("test", "gpt-test"):
        with pytest.raises(Scored):
            lstm_vs_transformer.train_preset(preset, [1.0], "folder", None, 1, 0, "windows")
    assert seen[0][-2:] == ["--batch-layout", "windows"]
    assert "--batch-layout" not in seen[1]  # a transformer reads windows whatever the option
