"""--precision and --matmul-precision: the number formats set, recorded in the run and kept by --resume."""

import json

import keras
import numpy as np
import pytest

import train_char_rnn
from experiments import lstm_vs_transformer
from models import DigitClassifierSpec, GPTSpec, LanguageModelSpec, build_model
from tests.conftest import copy_run, script_error
from training.precision import set_matmul_precision, set_precision


@pytest.fixture
def float32_after():
    """Leaves Keras' global dtype policy at float32 for the tests after, whatever this one does."""
    yield
    set_precision("float32")


def backend_precision():
    """The current backend's setting: "highest" when float32 products are computed in full."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.config.jax_default_matmul_precision or "default"
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return "default" if tf.config.experimental.tensor_float_32_execution_enabled() else "highest"
    pytest.skip("checked on JAX and TensorFlow")


def forget_setting(folder, key):
    """Makes a run folder look as if written before the option `key`: its saved settings lack it."""
    state = json.loads((folder / "state.json").read_text())
    del state["settings"][key]  # the settings a resume reads
    (folder / "state.json").write_text(json.dumps(state))


def test_set_matmul_precision_sets_the_backend():
    try:
        set_matmul_precision("highest")
        assert backend_precision() == "highest"
    finally:
        set_matmul_precision("default")
    assert backend_precision() == "default"
    with pytest.raises(ValueError, match="'float16'"):
        set_matmul_precision("float16")
    with pytest.raises(ValueError, match="'float16'"):
        set_precision("float16")


def test_a_run_records_it_and_resume_keeps_it(char_run, tmp_path, capsys):
    copy = copy_run(char_run, tmp_path / "run")
    assert json.loads((copy / "config.json").read_text())["matmul_precision"] == "default"
    message = script_error(train_char_rnn.main, ["--resume", "--output-dir", str(copy), "--matmul-precision",
                                                 "highest", "--data-dir", char_run[2]], capsys)
    assert "--matmul-precision highest (the run's: default)" in message
    forget_setting(copy, "matmul_precision")  # a run folder from before the option: it ran at the default
    message = script_error(train_char_rnn.main, ["--resume", "--output-dir", str(copy), "--matmul-precision",
                                                 "highest", "--data-dir", char_run[2]], capsys)
    assert "(the run's: default)" in message
    assert backend_precision() == "default"


def test_an_unknown_precision_is_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        train_char_rnn.main(["--matmul-precision", "tf32"])
    assert stop.value.code == 2 and "invalid choice: 'tf32'" in capsys.readouterr().err


SPECS = {  # small models of each kind, with the paths mixed precision changes: tied softmax, stack, attention
    "char LSTM": LanguageModelSpec(vocab_size=30, embedding_size=16, layers=2, units=24, dropout=0.1),
    "tied word LSTM": LanguageModelSpec(vocab_size=50, embedding_size=16, layers=2, units=24, tie_weights=True),
    "AR/TAR word LSTM": LanguageModelSpec(vocab_size=50, embedding_size=16, layers=2, units=24, tie_weights=True,
                                         activation_penalty=2.0, temporal_activation_penalty=1.0),
    "GRU": LanguageModelSpec(vocab_size=30, embedding_size=16, layers=1, units=24, cell="gru"),
    "transformer": GPTSpec(vocab_size=30, layers=2, width=32, heads=4, block_size=12),
    "BiLSTM digits": DigitClassifierSpec(units=16, layers=2),
}


def inputs_of(name, rng):
    if name == "BiLSTM digits":
        return rng.uniform(0, 1, (4, 28, 28)).astype("float32")
    return rng.integers(0, SPECS[name].vocab_size, (4, 12)).astype("int32")


@pytest.mark.parametrize("name", SPECS)
def test_mixed_bfloat16_computes_in_bfloat16_with_float32_weights_and_outputs(name, rng, float32_after):
    shape = {} if name == "BiLSTM digits" else {"batch_size": 4, "num_steps": 12}
    reference = build_model(SPECS[name], **shape)
    set_precision("mixed_bfloat16")
    model = build_model(SPECS[name], **shape)
    set_precision("float32")
    model.set_weights(reference.get_weights())
    assert {v.dtype for v in model.weights} == {"float32"}
    recurrent = [layer for layer in model.layers if layer.name.startswith(("lstm", "block", "bilstm"))]
    assert recurrent and all(layer.compute_dtype == "bfloat16" for layer in recurrent)
    x = inputs_of(name, rng)
    mixed, exact = model(x), reference(x)
    assert keras.backend.standardize_dtype(mixed.dtype) == "float32"  # logits (probabilities) for the loss
    mixed, exact = keras.ops.convert_to_numpy(mixed), keras.ops.convert_to_numpy(exact)
    relative = np.abs(mixed - exact).max() / np.abs(exact).max()
    assert 1e-4 < relative < 0.05, relative  # computed in bfloat16 (8 significant bits), not far from float32


@pytest.mark.parametrize("name", ["char LSTM", "AR/TAR word LSTM", "transformer"])
def test_a_mixed_training_step_updates_the_float32_weights(name, rng, float32_after):
    from training.recipe import compile_for_training

    set_precision("mixed_bfloat16")
    model = build_model(SPECS[name], batch_size=4, num_steps=12)
    config = (train_char_rnn.PRESETS["gpt-test"] if name == "transformer" else train_char_rnn.PRESETS["test"])
    compile_for_training(model, config, total_steps=10)
    if name == "AR/TAR word LSTM":
        penalty = model.get_layer("activation_penalty")
        penalty.batches.assign(256.0)  # as far as bfloat16 counts
    before = [w.copy() for w in model.get_weights()]
    x, y = inputs_of(name, rng), inputs_of(name, rng)
    losses = [float(model.train_on_batch(x, y)) for _ in range(3)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert {v.dtype for v in model.weights} == {"float32"}
    if name == "AR/TAR word LSTM":
        counted = [float(keras.ops.convert_to_numpy(v)) for v in (penalty.batches, penalty.penalty_sum)]
        assert counted[0] == 259.0 and counted[1] > 0
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()) if a.ndim == 2)


@pytest.mark.slow  # a run, its resume and two refusals
def test_a_mixed_run_records_it_and_resume_keeps_it(tmp_path, capsys, float32_after):
    text = tmp_path / "play.txt"
    text.write_text("ROMEO: What light through yonder window breaks?\nJULIET: It is the east.\n" * 60)
    out = tmp_path / "run"
    results = train_char_rnn.main(["--preset", "test", "--text", str(text), "--precision", "mixed_bfloat16",
                                   "--steps-per-epoch", "20", "--output-dir", str(out)])
    assert np.isfinite(results["test_nats"])
    assert json.loads((out / "config.json").read_text())["precision"] == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "mixed_bfloat16"  # the run's policy, set before its model
    message = script_error(train_char_rnn.main, ["--resume", "--output-dir", str(out), "--precision", "float32"],
                           capsys)
    assert "--precision float32 (the run's: mixed_bfloat16)" in message
    train_char_rnn.main(["--resume", "--output-dir", str(out), "--epochs", "2"])  # resumed in its own precision
    assert keras.config.dtype_policy().name == "mixed_bfloat16"
    forget_setting(out, "precision")  # a run folder from before the option: it ran in float32
    message = script_error(train_char_rnn.main, ["--resume", "--output-dir", str(out), "--precision",
                                                 "mixed_bfloat16"], capsys)
    assert "(the run's: float32)" in message


@pytest.mark.slow  # one short training, scored once
def test_lstm_vs_transformer_trains_and_scores_in_the_precision_asked(tmp_path, data_dir, float32_after):
    out = tmp_path / "table"
    rows = lstm_vs_transformer.main(["--presets", "test", "--budgets", "0.02", "--nanogpt-batches", "1",
                                     "--precision", "mixed_bfloat16", "--data-dir", data_dir, "--output-dir", str(out)])
    assert [row["preset"] for row in rows] == ["test (mixed_bfloat16)"]
    assert json.loads((out / "test" / "config.json").read_text())["precision"] == "mixed_bfloat16"
    assert "| test (mixed_bfloat16) | LSTM |" in (out / "table.md").read_text()
