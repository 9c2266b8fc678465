"""--distribute data: the same numbers on 2 and 4 virtual devices as on one (JAX; MNIST also on TensorFlow).

The device count is fixed when the backend starts (XLA_FLAGS for JAX's CPU devices, logical devices for
TensorFlow), so the runs of each count are made in a fresh process: on JAX one process per count for every
test here and the resume on two devices (a case of tests/test_resume.py), the session's `jax_device_runs`
(tests/conftest.py); train_ptb.py's runs read a small corpus, char-rnn's Tiny Shakespeare's test split as a
text of its own, MNIST its data set.
"""

import importlib.util

import pytest

from tests.conftest import history, jobs_in_fresh_process

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs jax (requirements-jax.txt)")


def assert_same_history(a, b, columns):
    assert len(a) == len(b)
    for row_a, row_b in zip(a, b):
        for column in columns:
            assert float(row_a[column]) == pytest.approx(float(row_b[column]), rel=1e-4), column


def finished(run, stderr):
    """(folder, results) of a run of `jax_device_runs` that ended normally."""
    folder, results = run
    assert "exit" not in results, stderr[-3000:]
    return folder, results


@needs_jax
@pytest.mark.slow  # fresh processes on one and on several devices
@pytest.mark.parametrize("devices", [2, 4])
def test_ptb_on_several_devices_equals_one(jax_device_runs, devices):
    one, many = jax_device_runs(1), jax_device_runs(devices)
    (one_folder, one_results), (many_folder, many_results) = (finished(runs["ptb"], runs["stderr"])
                                                              for runs in (one, many))
    assert_same_history(history(one_folder), history(many_folder), ["train_perplexity", "valid_perplexity"])
    assert many_results["test_perplexity"] == pytest.approx(one_results["test_perplexity"], rel=1e-4)


@needs_jax
@pytest.mark.slow  # a fresh process on four devices
def test_carried_state_is_sharded_by_rows_and_equals_one_device(jax_device_runs):
    _, states = jax_device_runs(4)["carried state"]  # tests.conftest.CARRIED_STATE
    assert states["devices"] == 4 and "batch" in states["spec"]  # rows split over the 4 devices
    for one, many in zip(states["one"], states["many"]):
        assert len(one) == 8
        for row_one, row_many in zip(one, many):  # row by row
            assert row_many == pytest.approx(row_one, rel=1e-4, abs=1e-6)


@needs_jax
@pytest.mark.slow  # fresh processes on one and on two devices
def test_char_rnn_and_mnist_on_two_devices_equal_one(jax_device_runs):
    one, many = jax_device_runs(1), jax_device_runs(2)
    for script, columns in (("char", ["train_perplexity", "valid_perplexity"]),
                            ("mnist", ["train_loss", "valid_loss", "valid_accuracy"])):
        one_folder, _ = finished(one[script], one["stderr"])
        many_folder, _ = finished(many[script], many["stderr"])
        assert_same_history(history(one_folder), history(many_folder), columns)


@needs_jax
@pytest.mark.slow  # a fresh JAX process on two devices
def test_a_batch_that_does_not_split_is_a_clear_error(jax_device_runs):
    runs = jax_device_runs(2)
    folder, results = runs["batch 3"]
    assert results == {"exit": 2}
    message = " ".join(runs["stderr"].split())
    assert "must divide by 2; it is 3" in message and "--batch-size 2, 4, 6, 8" in message
    assert not (folder / "checkpoint-epoch1.keras").exists()


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None or
                    __import__("keras").backend.backend() != "tensorflow", reason="the TensorFlow stage runs it")
@pytest.mark.slow  # MNIST on one device here, and in a fresh process on two
def test_mnist_on_two_tensorflow_cpus_equals_one_and_language_models_ask_for_jax(tmp_path, data_dir):
    import train_mnist_bilstm

    common = ["--preset", "test", "--steps-per-epoch", "10", "--epochs", "2", "--data-dir", data_dir, "--seed", "2"]
    train_mnist_bilstm.main(common + ["--output-dir", str(tmp_path / "one")])  # this process: one CPU device
    (mnist, lm), stderr = jobs_in_fresh_process([
        ("train_mnist_bilstm", common + ["--output-dir", str(tmp_path / "many"), "--distribute", "data"]),
        ("train_ptb", ["--preset", "test", "--steps-per-epoch", "60", "--epochs", "2", "--batch-size", "4", "--seed",
                       "1", "--data-dir", data_dir, "--output-dir", str(tmp_path / "lm"), "--distribute", "data"]),
    ], 2, "tensorflow")
    assert "exit" not in mnist, stderr[-3000:]
    assert_same_history(history(tmp_path / "one"), history(tmp_path / "many"),
                        ["train_loss", "valid_loss", "valid_accuracy"])
    assert lm == {"exit": 2} and "KERAS_BACKEND=jax" in stderr
