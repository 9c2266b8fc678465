"""The backend's environment, then Keras imported quietly: the first project import of every script.

    from training import startup  # first: TensorFlow reads its environment when it loads
    import keras
    ...
    def main(argv=None):
        startup.start_devices(two_ops_at_once=True)  # before the first op

Importing this module sets TensorFlow's environment (oneDNN's kernels on),
checks that the requested backend can be imported (else one paragraph, exit
2) and imports Keras with the C++ side's start-up lines hidden (real warnings
are shown). `start_devices` then chooses TensorFlow's threads per op and runs
the first op, whose device search prints more such lines. Library code
(models/, datasets/) imports Keras plainly and never needs this module.
"""

import contextlib
import importlib.util
import json
import os
import sys
import tempfile
import textwrap

BACKEND_PACKAGES = {  # backend → (the package it needs, how to install it)
    "tensorflow": ("tensorflow", "pip install -r requirements.txt"),
    "jax": ("jax", "pip install -r requirements-jax.txt (on a GPU machine: pip install 'jax[cuda12]')"),
    "torch": ("torch", "pip install torch"),
}

START_UP_NOISE = (  # not problems, just noise
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "Could not find cuda drivers on your machine",
    "failed call to cuInit",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions:",
    "oneDNN custom operations are on",
)


def keras_config_path():
    return os.path.join(os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras")), "keras.json")


def keras_config():
    """The settings of keras.json ({} when there is none or it cannot be parsed: Keras then ignores it too)."""
    try:
        with open(keras_config_path()) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def requested_backend():
    """The backend Keras will use: $KERAS_BACKEND, else keras.json's, else tensorflow."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    config = keras_config()
    return config.get("backend", "tensorflow") if isinstance(config, dict) else "tensorflow"


def missing_backend():
    """What is wrong with the requested backend or keras.json (a paragraph), or None when Keras can be imported."""
    config = keras_config()
    if not isinstance(config, dict):
        return (f"{keras_config_path()} holds a JSON {type(config).__name__}, not the object of settings Keras reads "
                f"(such as {{\"backend\": \"tensorflow\", \"floatx\": \"float32\"}}); fix or delete the file.")
    floatx = config.get("floatx", "float32")
    if floatx != "float32":
        return (f"{keras_config_path()} sets \"floatx\": {json.dumps(floatx)}, but these models train in float32 "
                f"(in float16 the language models' summed losses overflow to inf). Set \"floatx\": \"float32\" "
                f"there, or remove the entry.")
    backend = requested_backend()
    package, install = BACKEND_PACKAGES.get(backend, (None, None))
    if package is None:
        return (f"KERAS_BACKEND={backend} is not a backend this project runs on; use tensorflow (the default), jax "
                f"or torch.")
    if importlib.util.find_spec(package) is None:
        return (f"the Keras backend is {backend} (KERAS_BACKEND), but the {package} package is not installed. "
                f"Install it with `{install}`, or choose another backend with KERAS_BACKEND.")
    return None


def start_devices(two_ops_at_once=False):
    """Sets TensorFlow's threads per op and runs the first op (which starts the devices), quietly; once.

    Args:
        two_ops_at_once: On TensorFlow, give each op half of the cores
            (`TF_NUM_INTRAOP_THREADS`), so that two independent ops run side
            by side (the two directions of a BiLSTM, the gate activations of a
            step, a weight gradient beside the recurrence): the small
            recurrent products gain more from that than from being split
            over all cores (docs/speed.md). An explicit
            `TF_NUM_INTRAOP_THREADS` is respected; nothing changes once the
            first op has run.
    """
    global _devices_started
    if _devices_started:
        return
    _devices_started = True
    if two_ops_at_once and keras.backend.backend() == "tensorflow":
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, (os.cpu_count() or 2) // 2)))
    with _start_up_lines_hidden():
        keras.ops.convert_to_numpy(keras.ops.zeros(()))  # TensorFlow looks for a GPU here (and reports cuInit)


_devices_started = False  # start_devices has run in this process


@contextlib.contextmanager
def _start_up_lines_hidden():
    """Captures what is written to file descriptor 2 within the block (C++ writes there, not to sys.stderr) and
    shows it afterwards, less the start-up noise (`START_UP_NOISE`)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", "replace").splitlines()
    kept = [line for line in lines if line.strip() and not any(noise in line for noise in START_UP_NOISE)]
    if kept:
        print("\n".join(kept), file=sys.stderr)


def _set_environment():
    """The environment TensorFlow reads when it loads; exits 2 with one paragraph when Keras cannot be imported."""
    problem = missing_backend()
    if problem:
        print("\n" + textwrap.fill(f"error: {problem}", width=100, break_on_hyphens=False, break_long_words=False),
              file=sys.stderr)
        sys.exit(2)
    if requested_backend() == "tensorflow":
        # oneDNN's kernels: faster training steps of all three models on the CPUs measured (docs/speed.md);
        # TensorFlow turns them on by default only on some Intel CPUs. An explicit TF_ENABLE_ONEDNN_OPTS=0 is respected.
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


_set_environment()
with _start_up_lines_hidden():
    import keras
