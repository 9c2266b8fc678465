"""Shared test helpers: backend-agnostic gradients, the data folder, fresh processes."""

import os
import subprocess
import sys

import numpy as np
import pytest

import keras

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def gradients(model, inputs, loss_fn, wrt_inputs=False):
    """∂loss/∂(trainable variables) [and ∂loss/∂inputs] on the active backend, as NumPy."""
    backend = keras.backend.backend()
    inputs = np.asarray(inputs, dtype="float32")
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(inputs)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(model(x))
        grads = tape.gradient(loss, list(model.trainable_variables) + ([x] if wrt_inputs else []))
        return [np.asarray(g) for g in grads]
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss_of(trainable, x):
            outputs, _ = model.stateless_call(trainable, non_trainable, x)
            return loss_fn(outputs)

        g_vars, g_x = jax.grad(loss_of, argnums=(0, 1))(trainable, inputs)
        return [np.asarray(g) for g in g_vars] + ([np.asarray(g_x)] if wrt_inputs else [])
    pytest.skip(f"gradient helper has no {backend} branch")


def run_python(code, cwd=ROOT, env=None, timeout=600):
    """Runs `code` in a fresh Python process in the project root."""
    full_env = {**os.environ, "PYTHONPATH": ROOT, **(env or {})}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def shared_data_dir():
    """The verified data folder: $LSTM_DATA_DIR, or ../shared/data beside the checkout."""
    folder = os.environ.get("LSTM_DATA_DIR") or os.path.join(ROOT, "..", "shared", "data")
    return os.path.abspath(folder) if os.path.isdir(folder) else None


@pytest.fixture
def data_dir():
    folder = shared_data_dir()
    if folder is None:
        pytest.skip("no data folder: set LSTM_DATA_DIR or put the verified copies in ../shared/data")
    return folder


@pytest.fixture
def isolated_data_env(tmp_path, monkeypatch):
    """No LSTM_DATA_DIR and an empty cache, so only the folder a test names is searched."""
    monkeypatch.delenv("LSTM_DATA_DIR", raising=False)
    monkeypatch.setenv("LSTM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
