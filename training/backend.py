"""Importing Keras for a script (a clear error for a missing backend, no start-up noise), and its batches."""

import importlib.util
import json
import os
import sys
import tempfile

from training.errors import UserError

BACKEND_PACKAGES = {  # backend → (the package it needs, how to install it)
    "tensorflow": ("tensorflow", "pip install -r requirements.txt"),
    "jax": ("jax", "pip install -r requirements-jax.txt (on a GPU machine: pip install 'jax[cuda12]')"),
    "torch": ("torch", "pip install torch"),
}

# Lines TensorFlow's C++ side prints at import on a machine without a GPU: not problems, just noise.
START_UP_NOISE = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "Could not find cuda drivers on your machine",
    "failed call to cuInit",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions:",
    "oneDNN custom operations are on",
)


def requested_backend():
    """The backend Keras will use: $KERAS_BACKEND, else ~/.keras/keras.json's, else tensorflow."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    config = os.path.join(os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras")), "keras.json")
    try:
        with open(config) as f:
            return json.load(f).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def import_keras(two_ops_at_once=False):
    """Imports Keras once, after checking that its backend is installed, hiding TensorFlow's start-up noise.

    Other lines TensorFlow prints while it loads (real warnings) are shown.

    Args:
        two_ops_at_once: On TensorFlow, give each op half of the cores
            (`TF_NUM_INTRAOP_THREADS`), so that two independent ops run side
            by side (the two directions of a BiLSTM, the gate activations of a
            step, a weight gradient beside the recurrence). The small
            recurrent products gain more from that than from being split over
            all cores (see the README's Speed section).
            An explicit `TF_NUM_INTRAOP_THREADS` is respected, and nothing
            changes once TensorFlow is loaded.
    """
    backend = requested_backend()
    package, install = BACKEND_PACKAGES.get(backend, (None, None))
    if package is None:
        raise UserError(f"KERAS_BACKEND={backend} is not a backend this project runs on; use tensorflow (the "
                        f"default), jax or torch.")
    if importlib.util.find_spec(package) is None:
        raise UserError(f"the Keras backend is {backend} (KERAS_BACKEND), but the {package} package is not "
                        f"installed. Install it with `{install}`, or choose another backend with KERAS_BACKEND.")
    if backend == "tensorflow":
        # oneDNN's kernels: 10-35% faster training steps of all three models on a 2-core AVX2 CPU
        # (benchmarks/model_speed.py); TensorFlow turns them on by default only on some Intel CPUs.
        # An explicit TF_ENABLE_ONEDNN_OPTS=0 is respected.
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
        if two_ops_at_once:
            os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, (os.cpu_count() or 2) // 2)))
    if backend != "tensorflow" or "keras" in sys.modules:
        import keras

        return keras
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)  # C++ writes to the file descriptor, not to sys.stderr
        try:
            import keras

            keras.ops.convert_to_numpy(keras.ops.zeros(()))  # the first op looks for a GPU (and reports cuInit)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", "replace").splitlines()
    kept = [line for line in lines if line.strip() and not any(noise in line for noise in START_UP_NOISE)]
    if kept:
        print("\n".join(kept), file=sys.stderr)
    return keras


def batches(x, y, batch_size, sample_weight=None):
    """Arguments for `model.fit` / `model.evaluate` that read (x, y) in order, `batch_size` rows at a time.

    On TensorFlow, Keras turns NumPy arrays into a tf.data pipeline with
    autotuning on, and deleting it at the end of `fit` waited for one of its
    threads (a py-spy profile): `fit` returned up to a minute after its last
    callback (2026-12-01: ~40 s on most epochs of `train_char_rnn.py --preset
    medium`, whose training part takes 45 s). The same batches as a tf.data
    pipeline with autotuning off ended at once in every call timed. Other
    backends get the arrays as they are.
    """
    if requested_backend() != "tensorflow":
        return {"x": x, "y": y, "batch_size": batch_size, "sample_weight": sample_weight}
    import tensorflow as tf

    data = (x, y) if sample_weight is None else (x, y, sample_weight)
    options = tf.data.Options()
    options.autotune.enabled = False
    whole = len(x) % batch_size == 0  # then every batch has the static size a stateful model (or its while loop) wants
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(batch_size, drop_remainder=whole)
    return {"x": dataset.prefetch(1).with_options(options)}


def validation_batches(x, y, batch_size):
    """`model.fit`'s validation_data for (x, y): the same pipeline as `batches`, or the arrays on other backends."""
    data = batches(x, y, batch_size)
    return (x, y) if "y" in data else data["x"]
