"""Shared test helpers and fixtures: gradients, the data folder, fresh processes and their RESULT lines, and one
short trained run of each script for the whole session.

The runs (`ptb_run`, `char_run`, `mnist_run`, `awd_run`, `gpt_run`) are trained once per session, in a folder of
tmp_path_factory, and shared by every test that reads them: a test that changes a run folder works on
`copy_run(...)` of it. Tests marked `slow` (pytest.ini) are left out of the quick tier,
`python -m pytest -q -m "not slow"`; the full suite, `python -m pytest -q`, runs them all.
"""

import importlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from training import startup  # noqa: F401  the scripts' numerics: oneDNN on before TensorFlow loads
from training.gradients import gradients  # noqa: F401  the tests import it from here

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- fresh processes ---------------------------------------------------------------------------------------

def run_python(code, cwd=ROOT, env=None, timeout=600):
    """Runs `code` in a fresh Python process in the project root."""
    full_env = {**os.environ, "PYTHONPATH": ROOT, **(env or {})}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def result_of(completed):
    """What a fresh process printed after "RESULT " (its first such line), read as JSON.

    The test fails with the end of the process's output when there is no such line or the process failed.
    """
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines and completed.returncode == 0, (f"exit {completed.returncode}, {len(lines)} RESULT lines:\n"
                                                 f"{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}")
    return json.loads(lines[0][len("RESULT "):])


def python_result(code, env=None, timeout=600):
    """`code` in a fresh process (`run_python`); the JSON it printed after "RESULT " (`result_of`)."""
    return result_of(run_python(code, env=env, timeout=timeout))


def script_in_fresh_process(script, argv, devices=1, backend="jax"):
    """`script`.main(argv) in a fresh process on `devices` CPU devices of `backend`.

    Returns:
        (what main returned, or {"exit": code} for a SystemExit; the process's stderr).

    The device count is fixed when the backend starts: XLA_FLAGS for JAX's CPU devices, logical devices
    for TensorFlow. The process runs once more if XLA's CPU runtime ended it in a collective that one
    virtual device never joined ("Termination timeout for `all gather ...`" after 40 s): XLA's own failure,
    now and then in a fresh process on a 2-core VM, never seen within a long-lived one
    (docs/gpu-and-distributed.md#the-xla-cpu-collective-rendezvous-abort).
    """
    env = {"KERAS_BACKEND": backend}
    setup = ""
    if backend == "jax":
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    elif devices > 1:
        setup = f"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * {devices})
"""
    code = f"""{setup}
import json, {script}
try:
    results = {script}.main({list(argv)!r})
except SystemExit as exit:
    results = {{"exit": exit.code}}
print("RESULT", json.dumps(results))
"""
    return result_with_retry(code, env)


def result_with_retry(code, env):
    """(`result_of` a fresh process running `code` with `env`, its stderr), run once more after an XLA
    collective timeout (see `script_in_fresh_process`)."""
    completed = run_python(code, env=env)
    if "Termination timeout for" in completed.stderr and "rendezvous" in completed.stderr.lower():
        completed = run_python(code, env=env)
    return result_of(completed), completed.stderr


def numeric_gradients(loss, args, eps=1e-6):
    """Central differences of loss(**args) with respect to every array of `args` (float64; each entry is moved
    by ±eps in place and put back). Returns {name: gradient}."""
    found = {}
    for name, value in args.items():
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            for sign in (1, -1):
                value[index] += sign * eps
                numeric[index] += sign * loss(**args) / (2 * eps)
                value[index] -= sign * eps
        found[name] = numeric
    return found


def benchmark(name):
    """The module `name` of benchmarks/."""
    return importlib.import_module(f"benchmarks.{name}")


# ---- the data --------------------------------------------------------------------------------------------------

def shared_data_dir():
    """The verified data folder: $LSTM_DATA_DIR, or ../shared/data beside the checkout."""
    folder = os.environ.get("LSTM_DATA_DIR") or os.path.join(ROOT, "..", "shared", "data")
    return os.path.abspath(folder) if os.path.isdir(folder) else None


def required_data_dir():
    """shared_data_dir(), or the test is skipped."""
    folder = shared_data_dir()
    if folder is None:
        pytest.skip("no data folder: set LSTM_DATA_DIR or put the verified copies in ../shared/data")
    return folder


@pytest.fixture
def data_dir():
    return required_data_dir()


def write_corpus(folder, names=("train.txt", "valid.txt", "test.txt")):
    """A corpus folder of a 13-word language: lines without trailing spaces; valid and test have words the
    training split never saw (zebra ×30 in valid, yak and gnu ×30 each in test). train_ptb.py trains on it
    (--corpus) in a second or two: for the tests that need a run of train_ptb.py, not PTB's figures."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    words = "the cat sat on a mat and the dog ran to it".split()
    train = "\n".join(" ".join(rng.choice(words, 7)) for _ in range(400)) + "\n"
    (folder / names[0]).write_text(train)
    (folder / names[1]).write_text("the zebra sat on the mat\n" * 30)
    (folder / names[2]).write_text("a cat and a yak ran\nthe gnu\n" * 30)
    return folder


# ---- trained runs ------------------------------------------------------------------------------------------------

def script_run(tmp_path_factory, main, *argv):
    """One run of a script's main(argv) on the verified data, in a fresh folder of tmp_path_factory.

    Returns:
        (run folder, the results main returned, data folder); skips the tests without data.
    """
    data = required_data_dir()
    out = tmp_path_factory.mktemp(main.__module__) / "run"
    return out, main([*argv, "--data-dir", data, "--output-dir", str(out)]), data


def copy_run(run, folder):
    """A copy of a run folder (a fixture's `run[0]`, or a path) at `folder`, for a test that changes it."""
    source = run[0] if isinstance(run, tuple) else run
    shutil.copytree(source, folder)
    return folder


# The settings of the shared runs: the tests that compare against them (a resumed copy, a run in another
# process) use the same.
PTB_RUN = ("--preset", "test", "--steps-per-epoch", "300", "--seed", "1")
CHAR_RUN = ("--preset", "test", "--steps-per-epoch", "300")
MNIST_RUN = ("--preset", "test")
AWD_RUN = ("--preset", "awd-test", "--steps-per-epoch", "60", "--seed", "3")  # 3 epochs, averaging from epoch 2
GPT_RUN = ("--preset", "gpt-test")  # the transformer: two epochs of 150 steps


def session_run(name, script, argv, what):
    """A session fixture `name`: one run of `script`'s main(argv) on the verified data, (folder, results, data folder)."""

    def run(tmp_path_factory):
        return script_run(tmp_path_factory, importlib.import_module(script).main, *argv)

    run.__doc__ = f"{script}.py's {what}: (folder, results, data folder)."
    return pytest.fixture(scope="session", name=name)(run)


ptb_run = session_run("ptb_run", "train_ptb", PTB_RUN, "`test` preset, one epoch of 300 steps")
char_run = session_run("char_run", "train_char_rnn", CHAR_RUN, "`test` preset, one epoch of 300 steps")
mnist_run = session_run("mnist_run", "train_mnist_bilstm", MNIST_RUN, "`test` preset (300 steps)")
awd_run = session_run("awd_run", "train_ptb", AWD_RUN, "`awd-test` preset, three epochs of 60 steps")
gpt_run = session_run("gpt_run", "train_char_rnn", GPT_RUN, "`gpt-test` preset (a transformer), two epochs")


def history(folder):
    """The rows of a run's history.csv, as dicts of strings."""
    import csv

    with open(os.path.join(folder, "history.csv")) as file:
        return list(csv.DictReader(file))


# ---- errors and environments -------------------------------------------------------------------------------------

@pytest.fixture
def isolated_data_env(tmp_path, monkeypatch):
    """No LSTM_DATA_DIR and an empty cache, so only the folder a test names is searched."""
    monkeypatch.delenv("LSTM_DATA_DIR", raising=False)
    monkeypatch.setenv("LSTM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def script_error(main, argv, capsys):
    """Runs a script's main() expecting a user error: returns its one-paragraph message."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().startswith("error:")
    return " ".join(err.split())


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("LSTM_OFFLINE", "1")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
