"""--matmul-precision: the backend's float32 products set, recorded in the run and kept by --resume."""

import json

import keras
import pytest

import train_char_rnn
from tests.conftest import copy_run, script_error
from training.precision import set_matmul_precision


def backend_precision():
    """The current backend's setting: "highest" when float32 products are computed in full."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.config.jax_default_matmul_precision or "default"
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return "default" if tf.config.experimental.tensor_float_32_execution_enabled() else "highest"
    pytest.skip("checked on JAX and TensorFlow")


def test_set_matmul_precision_sets_the_backend():
    try:
        set_matmul_precision("highest")
        assert backend_precision() == "highest"
    finally:
        set_matmul_precision("default")
    assert backend_precision() == "default"
    with pytest.raises(ValueError, match="'float16'"):
        set_matmul_precision("float16")


def test_a_run_records_it_and_resume_keeps_it(char_run, tmp_path, capsys):
    copy = copy_run(char_run, tmp_path / "run")
    assert json.loads((copy / "config.json").read_text())["matmul_precision"] == "default"
    message = script_error(train_char_rnn.main, ["--resume", "--output-dir", str(copy), "--matmul-precision",
                                                 "highest", "--data-dir", char_run[2]], capsys)
    assert "--matmul-precision highest (the run's: default)" in message
    settings = json.loads((copy / "config.json").read_text())
    del settings["matmul_precision"]  # a run folder from before the option: it ran at the default
    (copy / "config.json").write_text(json.dumps(settings))
    message = script_error(train_char_rnn.main, ["--resume", "--output-dir", str(copy), "--matmul-precision",
                                                 "highest", "--data-dir", char_run[2]], capsys)
    assert "(the run's: default)" in message
    assert backend_precision() == "default"


def test_an_unknown_precision_is_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        train_char_rnn.main(["--matmul-precision", "tf32"])
    assert stop.value.code == 2 and "invalid choice: 'tf32'" in capsys.readouterr().err
