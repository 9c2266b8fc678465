"""Shared test helpers: backend-agnostic gradients, the data folder, fresh processes."""

import os
import subprocess
import sys

import numpy as np
import pytest

# The numerics of the scripts (training.backend turns oneDNN on before TensorFlow loads).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from training.gradients import gradients  # noqa: E402,F401  the tests import it from here


def run_python(code, cwd=ROOT, env=None, timeout=600):
    """Runs `code` in a fresh Python process in the project root."""
    full_env = {**os.environ, "PYTHONPATH": ROOT, **(env or {})}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


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


def script_run(tmp_path_factory, main, *argv):
    """One run of a script's main(argv) on the verified data, for a module's tests to share.

    Returns:
        (run folder, the results main returned, data folder); skips the tests without data.
    """
    data = required_data_dir()
    out = tmp_path_factory.mktemp(main.__module__) / "run"
    return out, main([*argv, "--data-dir", data, "--output-dir", str(out)]), data


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
