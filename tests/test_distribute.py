"""--distribute data: the same numbers on 2 and 4 virtual devices as on one (JAX; MNIST also on TensorFlow).

Each case runs in a fresh process, since the device count is fixed when the
backend starts (XLA_FLAGS for JAX's CPU devices, logical devices for TensorFlow):
`tests.conftest.script_in_fresh_process`. Resuming on two devices is a case of tests/test_resume.py.
"""

import importlib.util

import pytest

from tests.conftest import history, result_with_retry, script_in_fresh_process as run_script

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs jax (requirements-jax.txt)")


def assert_same_history(a, b, columns):
    assert len(a) == len(b)
    for row_a, row_b in zip(a, b):
        for column in columns:
            assert float(row_a[column]) == pytest.approx(float(row_b[column]), rel=1e-4), column


PTB = ["--preset", "test", "--steps-per-epoch", "60", "--epochs", "2", "--batch-size", "4", "--seed", "1"]


@needs_jax
@pytest.mark.slow  # two trainings in fresh processes per device count
@pytest.mark.parametrize("devices", [2, 4])
def test_ptb_on_several_devices_equals_one(tmp_path, data_dir, devices):
    common = PTB + ["--data-dir", data_dir]
    one, _ = run_script("train_ptb", common + ["--output-dir", str(tmp_path / "one")], 1)
    many, _ = run_script("train_ptb", common + ["--output-dir", str(tmp_path / "many"), "--distribute", "data"],
                         devices)
    assert_same_history(history(tmp_path / "one"), history(tmp_path / "many"), ["train_perplexity", "valid_perplexity"])
    assert many["test_perplexity"] == pytest.approx(one["test_perplexity"], rel=1e-4)


@needs_jax
@pytest.mark.slow  # a fresh process on four devices
def test_carried_state_is_sharded_by_rows_and_equals_one_device():
    code = """
import json, numpy as np, keras
from models import LanguageModelSpec, build_model, find_layer
from training import distribute
from training.metrics import sequence_loss
spec = LanguageModelSpec(vocab_size=20, units=6, layers=2, embedding_size=5, seed=3)
x = np.random.default_rng(0).integers(0, 20, (24, 7)).astype("int32")
states = {}
for name, distribution in (("one", None), ("many", distribute.start("data", 8, stateful=True))):
    keras.utils.set_random_seed(3)
    with distribute.scope(distribution):
        model = build_model(spec, batch_size=8, num_steps=7, stateful=True)
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss=sequence_loss)
        model.fit(x, x, batch_size=8, shuffle=False, epochs=1, verbose=0)  # 3 batches, state carried
    lstm = find_layer(model, "lstm_1")
    states[name] = [np.asarray(s.value).tolist() for s in lstm.states]
    if distribution is not None:
        states["spec"] = str(lstm.states[0].value.sharding.spec)
        states["devices"] = len(lstm.states[0].value.sharding.device_set)
print("RESULT", json.dumps(states))
"""
    states, _ = result_with_retry(code, {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    assert states["devices"] == 4 and "batch" in states["spec"]  # rows split over the 4 devices
    for one, many in zip(states["one"], states["many"]):
        assert len(one) == 8
        for row_one, row_many in zip(one, many):  # row by row
            assert row_many == pytest.approx(row_one, rel=1e-4, abs=1e-6)


@needs_jax
@pytest.mark.slow  # four trainings in fresh processes
def test_char_rnn_and_mnist_on_two_devices_equal_one(tmp_path, data_dir):
    for script, argv, columns in (
        ("train_char_rnn", ["--preset", "test", "--steps-per-epoch", "20", "--epochs", "2", "--nanogpt-batches", "0"],
         ["train_perplexity", "valid_perplexity"]),
        ("train_mnist_bilstm", ["--preset", "test", "--steps-per-epoch", "10", "--epochs", "2"],
         ["train_loss", "valid_loss", "valid_accuracy"]),
    ):
        common = argv + ["--data-dir", data_dir, "--seed", "2"]
        run_script(script, common + ["--output-dir", str(tmp_path / script / "one")], 1)
        run_script(script, common + ["--output-dir", str(tmp_path / script / "many"), "--distribute", "data"], 2)
        assert_same_history(history(tmp_path / script / "one"), history(tmp_path / script / "many"), columns)


@needs_jax
@pytest.mark.slow  # a fresh JAX process
def test_a_batch_that_does_not_split_is_a_clear_error(tmp_path, data_dir):
    results, stderr = run_script("train_ptb", PTB[:-4] + ["--batch-size", "3", "--data-dir", data_dir, "--output-dir",
                                                          str(tmp_path / "run"), "--distribute", "data"], 2)
    assert results == {"exit": 2}
    message = " ".join(stderr.split())
    assert "must divide by 2; it is 3" in message and "--batch-size 2, 4, 6, 8" in message
    assert not (tmp_path / "run" / "checkpoint-epoch1.keras").exists()


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None or
                    __import__("keras").backend.backend() != "tensorflow", reason="the TensorFlow stage runs it")
@pytest.mark.slow  # three trainings in fresh processes
def test_mnist_on_two_tensorflow_cpus_equals_one_and_language_models_ask_for_jax(tmp_path, data_dir):
    common = ["--preset", "test", "--steps-per-epoch", "10", "--epochs", "2", "--data-dir", data_dir, "--seed", "2"]
    run_script("train_mnist_bilstm", common + ["--output-dir", str(tmp_path / "one")], 1, "tensorflow")
    run_script("train_mnist_bilstm", common + ["--output-dir", str(tmp_path / "many"), "--distribute", "data"], 2,
               "tensorflow")
    assert_same_history(history(tmp_path / "one"), history(tmp_path / "many"),
                        ["train_loss", "valid_loss", "valid_accuracy"])
    results, stderr = run_script("train_ptb", PTB + ["--data-dir", data_dir, "--output-dir", str(tmp_path / "lm"),
                                                     "--distribute", "data"], 2, "tensorflow")
    assert results == {"exit": 2} and "KERAS_BACKEND=jax" in stderr
