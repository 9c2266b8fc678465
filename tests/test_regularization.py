"""AWD-LSTM's regularization: locked and embedding dropout, weight drop, AR/TAR, averaged SGD, the awd presets."""

import json
import math

import numpy as np
import pytest

import keras
from keras import ops

import train_ptb
from models import LSTM, LanguageModelSpec, build_model, find_layer, lstm_layers
from models.language_model import ActivationPenalty, EmbeddingDropout
from tests.conftest import script_error, write_corpus
from training.averaging import AveragedAdam, AveragedSGD, evaluation_weights, not_improving


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


def awd_spec(**changes):
    spec = dict(vocab_size=30, units=12, layers=2, embedding_size=6, dropout=0.3, locked_dropout=True, seed=5)
    return LanguageModelSpec(**{**spec, **changes})


def test_locked_dropout_masks_are_shared_over_time_and_differ_between_sequences():
    model = build_model(awd_spec(), batch_size=8, num_steps=10)
    dropout = find_layer(model, "lstm_0_dropout")
    dropped = np_(dropout(np.ones((8, 10, 12), "float32"), training=True))
    assert np.all(np.isclose(dropped, 0.0) | np.isclose(dropped, 1 / 0.7))
    np.testing.assert_array_equal(dropped, np.repeat(dropped[:, :1], 10, axis=1))  # one mask per sequence
    assert len({row.tobytes() for row in dropped[:, 0]}) == 8  # and a different one for each
    per_step = find_layer(build_model(awd_spec(locked_dropout=False), batch_size=8, num_steps=10), "lstm_0_dropout")
    varying = np_(per_step(np.ones((8, 10, 12), "float32"), training=True))
    assert not np.array_equal(varying[:, 0], varying[:, 1])  # Zaremba's dropout: a new mask every step
    np.testing.assert_array_equal(np_(dropout(np.ones((8, 10, 12), "float32"), training=False)), 1.0)


def test_embedding_dropout_drops_whole_words():
    layer = EmbeddingDropout(0.5, vocab_size=20, seed=1)
    tokens = np.tile(np.arange(20, dtype="int32"), (4, 3))  # every word 12 times
    embedded = np.ones((4, 60, 3), "float32")
    out = np_(layer(embedded, tokens, training=True))
    for word in range(20):  # every occurrence of a word is dropped, or none (and then scaled by 2)
        values = out[tokens == word]
        assert np.all(values == 0.0) or np.all(values == 2.0)
    assert 0 < np.sum(out[..., 0] == 0.0) < out[..., 0].size
    np.testing.assert_array_equal(np_(layer(embedded, tokens, training=False)), embedded)


def test_activation_penalties_by_hand():
    rng = np.random.default_rng(0)
    dropped, raw = rng.normal(size=(2, 4, 3)).astype("float32"), rng.normal(size=(2, 4, 3)).astype("float32")
    layer = ActivationPenalty(2.0, 1.0)
    layer(dropped, raw, training=True)
    ar = 2.0 * sum(np.mean(dropped[:, t] ** 2) for t in range(4))
    tar = 1.0 * sum(np.mean((raw[:, t] - raw[:, t - 1]) ** 2) for t in range(1, 4))
    assert float(np_(layer.losses[0])) == pytest.approx(ar + tar, rel=1e-5)
    assert layer.mean_penalty() == pytest.approx(ar + tar, rel=1e-5)
    fresh = ActivationPenalty(2.0, 1.0)
    fresh(dropped, raw, training=False)
    assert not fresh.losses  # only while training


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="uses TensorFlow's GradientTape")
def test_weight_drop_masks_the_recurrent_kernel_and_its_gradient():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 6, 4)).astype("float32")
    rate = 0.5
    layer = LSTM(5, return_sequences=True, weight_dropout=rate, seed=7)
    layer.build(x.shape)
    state = np_(layer.cell.seed_generator.state)
    dropped = np_(layer._recurrent_kernel(training=True))  # the mask the next training call will draw
    layer.cell.seed_generator.state.assign(state)
    kept = dropped != 0
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(dropped[kept], np_(layer.cell.recurrent_kernel)[kept] / (1 - rate), rtol=1e-6)

    plain = LSTM(5, return_sequences=True)  # the same LSTM with W_h replaced by the dropped matrix
    plain.build(x.shape)
    plain.set_weights([layer.get_weights()[0], dropped, layer.get_weights()[2]])
    upstream = rng.normal(size=(3, 6, 5)).astype("float32")
    with tf.GradientTape(persistent=True) as tape:
        y_drop = layer(x, training=True)
        y_plain = plain(x, training=False)
        loss_drop, loss_plain = tf.reduce_sum(y_drop * upstream), tf.reduce_sum(y_plain * upstream)
    np.testing.assert_allclose(np_(y_drop), np_(y_plain), atol=1e-6)
    grad = np_(tape.gradient(loss_drop, layer.cell.recurrent_kernel))
    by_hand = np.where(kept, np_(tape.gradient(loss_plain, plain.cell.recurrent_kernel)) / (1 - rate), 0.0)
    np.testing.assert_allclose(grad, by_hand, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np_(layer(x, training=False)), np_(layer(x, training=False)))  # off at inference
    assert not np.allclose(np_(layer(x, training=True)), np_(layer(x, training=False)))


def test_weight_drop_in_config_and_builtin_refused():
    layer = LSTM(4, weight_dropout=0.25)
    assert LSTM.from_config(layer.get_config()).weight_dropout == 0.25
    with pytest.raises(ValueError, match="weight_dropout"):
        LSTM(4, weight_dropout=1.0)
    with pytest.raises(ValueError, match="keras.layers.LSTM has no such option"):
        build_model(awd_spec(weight_dropout=0.2, cell="builtin"))


def test_averaged_weights_are_the_mean_of_the_iterates():
    rng = np.random.default_rng(2)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=AveragedSGD(0.1, global_clipnorm=1.0), loss="mse")
    x, y = rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=(4, 2)).astype("float32")
    for _ in range(3):
        model.train_on_batch(x, y)
    assert not model.optimizer.averaging
    assert evaluation_weights(model)[0].tolist() == model.get_weights()[0].tolist()
    model.optimizer.start_averaging()
    iterates = []
    for _ in range(5):
        model.train_on_batch(x, y)
        iterates.append(model.get_weights())
    assert model.optimizer.averaged_steps == 5
    for averaged, *values in zip(evaluation_weights(model), *iterates):
        np.testing.assert_allclose(averaged, np.mean(values, axis=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer", [AveragedSGD(0.1, average_window=3), AveragedAdam(0.05, average_window=3)],
                         ids=["sgd", "adam"])
def test_windowed_average_is_the_mean_then_an_exponential_average(optimizer):
    # a_k = max(1/k, 1/3): w̄ is the plain mean of the first 3 iterates, then w̄ += (w_k − w̄)/3.
    rng = np.random.default_rng(5)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=optimizer, loss="mse")
    x, y = rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=(4, 2)).astype("float32")
    model.train_on_batch(x, y)
    model.optimizer.start_averaging()
    expected = None
    for k in range(1, 8):
        model.train_on_batch(x, y)
        weight = max(1 / k, 1 / 3)
        expected = [w.copy() if expected is None else e + (w - e) * weight
                    for w, e in zip(model.get_weights(), expected or model.get_weights())]
    for averaged, by_hand in zip(evaluation_weights(model), expected):
        np.testing.assert_allclose(averaged, by_hand, rtol=1e-5, atol=1e-6)
    assert not np.allclose(evaluation_weights(model)[0], model.get_weights()[0])
    restored = type(optimizer).from_config(optimizer.get_config())
    assert restored.average_window == 3
    with pytest.raises(ValueError, match="average_window"):
        AveragedSGD(0.1, average_window=-1)


def test_non_monotonic_trigger():
    assert not_improving([100, 90, 85, 86], 2) is False  # 86 beats min(100, 90)
    assert not_improving([100, 90, 85, 91], 2) is True
    assert not_improving([100, 90], 2) is False and not_improving([100, 90, 95], 0) is False


@pytest.mark.slow  # three epochs of the awd-test preset on PTB, and PTB's test split in a fresh process
def test_awd_run_saves_the_averaged_model(awd_run, shared_runs_in_fresh_process):
    """The awd-test run (every technique on, averaging from epoch 2); its resume is a case of tests/test_resume.py."""
    whole_dir, whole, _ = awd_run
    config = json.load(open(whole_dir / "config.json"))["model"]
    assert config["tie_weights"] and config["weight_dropout"] == 0.3 and config["locked_dropout"]
    # model.keras holds the averaged weights: a fresh process evaluates it to the run's test perplexity
    # (sample.py --evaluate PTB's test split, and 20 words sampled there).
    fresh = shared_runs_in_fresh_process["awd"]
    assert math.exp(fresh["nats"]) == pytest.approx(whole["test_perplexity"], rel=5e-3)
    assert len(fresh["ids"]) == 20
    # ... and not the raw iterates, which the checkpoint keeps for training on.
    saved = keras.models.load_model(str(whole_dir / "model.keras"), compile=False).get_weights()
    state = json.load(open(whole_dir / "state.json"))
    raw = keras.models.load_model(str(whole_dir / state["checkpoint"]), compile=False).get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(saved, raw))


def test_without_switches_techniques_off_and_bad_uses_are_clear(tmp_path, data_dir, capsys):
    assert "--without: invalid choice: 'magic'" in script_error(
        train_ptb.main, ["--preset", "awd-test", "--without", "magic"], capsys)
    message = script_error(train_ptb.main, ["--preset", "awd-test", "--cell", "builtin", "--data-dir", data_dir,
                                            "--output-dir", str(tmp_path / "b")], capsys)
    assert "--without weight-drop" in message and not (tmp_path / "b").exists()
    corpus = write_corpus(tmp_path / "corpus")  # a small corpus: the run is about its settings
    train_ptb.main(["--preset", "awd-test", "--steps-per-epoch", "5", "--epochs", "1", "--corpus", str(corpus),
                    "--without", "tying", "weight-drop", "averaging", "--cell", "builtin", "--output-dir", str(tmp_path / "w")])
    config = json.load(open(tmp_path / "w" / "config.json"))["config"]
    assert not config["tie_weights"] and config["weight_dropout"] == 0 and config["average_after"] == 0


def test_awd_preset_is_the_papers_setting():
    awd = train_ptb.PRESETS["awd"]
    assert (awd.layers, awd.units, awd.embedding_size, awd.num_steps) == (3, 1150, 400, 70)
    assert (awd.input_dropout, awd.dropout, awd.output_dropout, awd.embedding_dropout, awd.weight_dropout) == \
        (0.4, 0.25, 0.4, 0.1, 0.5)
    assert awd.tie_weights and awd.locked_dropout and awd.average_patience == 5
    assert awd.learning_rate * awd.num_steps == pytest.approx(30) and awd.max_grad_norm / awd.num_steps == 0.25


def test_char_rnn_takes_the_same_techniques_and_without():
    import dataclasses

    import train_char_rnn
    from training.recipe import model_spec
    from training.regularization import switched_off

    config = train_char_rnn.PRESETS["awd-small"]
    spec = model_spec(config, 65, "custom", 3)
    assert spec.locked_dropout and spec.weight_dropout == config.weight_dropout > 0
    assert (spec.units, spec.layers, spec.embedding_size, spec.seed) == (config.units, config.layers, 64, 3)
    model = build_model(spec, batch_size=2, num_steps=5)
    assert all(layer.weight_dropout == config.weight_dropout for layer in lstm_layers(model))
    assert find_layer(model, "lstm_0_dropout").noise_shape == (None, 1, None)  # locked
    plain = model_spec(dataclasses.replace(config, **switched_off(["weight-drop", "locked-dropout"])), 65,
                       "builtin", 3)
    assert not plain.locked_dropout and plain.weight_dropout == 0
    build_model(plain, batch_size=2, num_steps=5)  # the builtin cell takes the rest


@pytest.mark.slow  # two trainings of train_char_rnn.py
def test_char_rnn_averages_adams_iterates_and_keeps_the_average(tmp_path, monkeypatch, capsys):
    import dataclasses

    import train_char_rnn

    averaged = dataclasses.replace(train_char_rnn.PRESETS["test"], epochs=2, average_after=1, average_window=10)
    monkeypatch.setitem(train_char_rnn.PRESETS, "test", averaged)
    text = tmp_path / "text.txt"  # a short text: quick valid and test passes
    text.write_text("The quick brown fox jumps over the lazy dog.\nPack my box with five dozen liquor jugs!\n" * 100)
    common = ["--preset", "test", "--steps-per-epoch", "20", "--text", str(text)]
    capsys.readouterr()
    train_char_rnn.main(common + ["--output-dir", str(tmp_path / "avg")])
    assert "Averaging the weights from epoch 2 on (over a window of ~10 steps)" in capsys.readouterr().out
    # model.keras holds Adam's averaged iterates: those the checkpoint's optimizer keeps, not its raw weights.
    state = json.load(open(tmp_path / "avg" / "state.json"))
    trained = keras.models.load_model(str(tmp_path / "avg" / state["checkpoint"]))
    assert isinstance(trained.optimizer, AveragedAdam) and trained.optimizer.average_window == 10
    saved = keras.models.load_model(str(tmp_path / "avg" / "model.keras"), compile=False).get_weights()
    for kept, average in zip(saved, evaluation_weights(trained)):
        np.testing.assert_allclose(kept, average, rtol=1e-6, atol=1e-7)
    assert any(not np.allclose(a, b) for a, b in zip(saved, trained.get_weights()))

    train_char_rnn.main(common + ["--without", "averaging", "--output-dir", str(tmp_path / "plain")])
    assert "Averaging" not in capsys.readouterr().out
    assert json.load(open(tmp_path / "plain" / "config.json"))["config"]["average_after"] == 0
