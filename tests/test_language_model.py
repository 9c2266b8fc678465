"""models.build_language_model from its spec: a tied model through the run folder, sampling and evaluation."""

import json
import math

import numpy as np
import pytest

import keras

import sample
from datasets import Vocabulary
from models import LanguageModelSpec, build_model, load_model
from tests.conftest import python_result
from training.inference import Sampler
from datasets.batching import whole_stream_rows
from training.language_model import compile_evaluator, evaluate_perplexity
from training.run import RunFolder

TEXT = "the quick brown fox jumps over the lazy dog.\nPack my box with five dozen liquor jugs!\n" * 4


def tied_spec(vocab_size):
    return LanguageModelSpec(vocab_size=vocab_size, units=16, layers=2, embedding_size=8, tie_weights=True, seed=4)


def test_tied_weights_are_one_variable_and_the_parameter_count_is_by_hand():
    model = build_model(tied_spec(30))
    embeddings = [w for w in model.weights if "embedding" in w.path]
    assert len(embeddings) == 1 and tuple(embeddings[0].shape) == (30, 8)  # used by the input and the softmax
    lstm_0 = 4 * (16 * (8 + 16) + 16)  # input 8, 16 units
    lstm_1 = 4 * (8 * (16 + 8) + 8)  # the last LSTM is sized to the embedding: 8 units
    assert model.count_params() == 30 * 8 + lstm_0 + lstm_1 + 30  # + the softmax bias
    with pytest.raises(ValueError, match="embedding_size"):
        build_model(LanguageModelSpec(vocab_size=30, units=16, layers=1, tie_weights=True))


def test_tied_softmax_is_the_embedding_transposed(rng):
    model = build_model(tied_spec(30), batch_size=2, num_steps=3)
    bias = rng.normal(size=30).astype("float32")
    model.get_layer("logits").set_weights([bias])
    tokens = rng.integers(0, 30, size=(2, 3)).astype("int32")
    h = keras.Model(model.inputs[0], model.get_layer("lstms").output)(tokens)
    expected = keras.ops.convert_to_numpy(h) @ model.get_layer("embedding").get_weights()[0].T + bias
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(tokens)), expected, atol=1e-5)


@pytest.mark.slow  # a training, and sampling and evaluation here and in a fresh process
def test_tied_model_saves_reloads_samples_and_evaluates_as_in_memory(tmp_path):
    vocabulary = Vocabulary.of_chars(TEXT)
    spec = tied_spec(len(vocabulary))
    keras.utils.set_random_seed(4)
    trained = build_model(spec, batch_size=4, num_steps=10, stateful=True)
    trained.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = vocabulary.encode(TEXT)
    x = np.stack([ids[i:i + 10] for i in range(0, 320, 10)])
    y = np.stack([ids[i + 1:i + 11] for i in range(0, 320, 10)])
    trained.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)

    run = RunFolder.open(str(tmp_path / "run"), {"script": "train_char_rnn.py", "preset": "test", "cell": "custom",
                                                 "seed": 4, "config": {}}, resume=False)
    run.begin(spec, vocabulary, title="tied", plots={}, keep=("valid_nats", "min"))
    run.save_model(trained)
    assert json.load(open(tmp_path / "run" / "config.json"))["model"]["tie_weights"] is True

    stepper = build_model(spec, batch_size=1, num_steps=1, stateful=True)
    stepper.set_weights(trained.get_weights())
    in_memory = Sampler(stepper).generate(vocabulary.encode("the "), 60, temperature=0.9, seed=3)
    evaluator = compile_evaluator(build_model(spec, batch_size=1, num_steps=100, stateful=True))
    evaluator.set_weights(trained.get_weights())
    text_file = tmp_path / "text.txt"
    text_file.write_text(TEXT[:200])
    x_text, y_text, w_text = whole_stream_rows(vocabulary.encode(TEXT[:200]), 100)  # sample.py's window: 100
    nats = math.log(evaluate_perplexity(evaluator, x_text, y_text, 1, sample_weight=w_text))

    code = f"""
import json, sample
ids = sample.main([r"{tmp_path / 'run'}", "--prime", "the ", "--length", "60", "--temperature", "0.9", "--seed", "3"])
nats = sample.main([r"{tmp_path / 'run'}", "--evaluate", r"{text_file}"])
print("RESULT", json.dumps({{"ids": ids, "nats": nats}}))
"""
    fresh = python_result(code)
    assert fresh["ids"] == in_memory
    assert fresh["nats"] == pytest.approx(nats, rel=1e-5)
    reloaded = load_model(str(tmp_path / "run" / "model.keras"))  # the portable artifact, as Keras loads it
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(x[:2])),
                               keras.ops.convert_to_numpy(build_with(spec, trained)(x[:2])), atol=1e-5)


def build_with(spec, trained):
    model = build_model(spec)
    model.set_weights(trained.get_weights())
    return model


def test_spec_round_trips_through_its_dict():
    from dataclasses import asdict

    from models import spec_from_dict

    spec = tied_spec(12)
    assert spec_from_dict(asdict(spec)) == spec
    with pytest.raises(ValueError, match="unknown model kind"):
        spec_from_dict({"kind": "transformer"})


def test_spec_saved_before_the_stack_rebuilds_separate_layers_with_the_same_numbers(rng):
    """A config.json without "fused_layers" (run folders before LSTMStack) gets the layers one after the other.

    Same weights in the same order, so either model takes the other's weights, and the same outputs.
    """
    from dataclasses import asdict

    spec = LanguageModelSpec(vocab_size=20, units=6, layers=3, embedding_size=5, dropout=0.2, seed=3)
    saved = {key: value for key, value in asdict(spec).items() if key != "fused_layers"}
    separate, stacked = build_model(saved, batch_size=2, num_steps=7), build_model(spec, batch_size=2, num_steps=7)
    assert [layer.name for layer in separate.layers if "lstm" in layer.name] == [
        "lstm_0", "lstm_0_dropout", "lstm_1", "lstm_1_dropout", "lstm_2", "lstm_2_dropout"]
    assert [layer.name for layer in stacked.layers if "lstm" in layer.name] == ["lstms", "lstm_2_dropout"]
    stacked.set_weights(separate.get_weights())
    tokens = rng.integers(0, 20, size=(2, 7)).astype("int32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(stacked(tokens)),
                               keras.ops.convert_to_numpy(separate(tokens)), atol=1e-5)


def test_batches_for_fit_read_the_rows_in_order():
    """datasets.batching.batches: on TensorFlow a tf.data pipeline (autotuning off) of the same batches, in order."""
    from datasets.batching import batches

    x = np.arange(20, dtype="int32").reshape(10, 2)
    y, w = x + 1, np.linspace(0, 1, 10).astype("float32")
    arguments = batches(x, y, 4, w)
    if keras.backend.backend() != "tensorflow":
        assert arguments["x"] is x and arguments["y"] is y and arguments["batch_size"] == 4
        return
    assert set(arguments) == {"x"} and not arguments["x"].options().autotune.enabled
    got = list(arguments["x"].as_numpy_iterator())
    for (bx, by, bw), start in zip(got, (0, 4, 8)):
        np.testing.assert_array_equal(bx, x[start:start + 4])
        np.testing.assert_array_equal(by, y[start:start + 4])
        np.testing.assert_array_equal(bw, w[start:start + 4])
    assert len(got) == 3


def test_validation_batches_are_the_batches_fit_validates_on():
    """datasets.batching.validation_batches: the (x, y) pairs in order, as one value for fit's validation_data."""
    from datasets.batching import validation_batches

    x = np.arange(20, dtype="float32").reshape(10, 2)
    y = np.arange(10, dtype="int32")
    data = validation_batches(x, y, 4)
    if keras.backend.backend() != "tensorflow":
        assert data[0] is x and data[1] is y
        return
    assert not data.options().autotune.enabled
    got = list(data.as_numpy_iterator())
    np.testing.assert_array_equal(np.concatenate([bx for bx, _ in got]), x)
    np.testing.assert_array_equal(np.concatenate([by for _, by in got]), y)
    assert [len(by) for _, by in got] == [4, 4, 2]
