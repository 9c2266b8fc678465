"""`--distribute data`: every batch split over all local devices (and hosts), on Keras' distribution API.

- JAX: `keras.distribution.ModelParallel` over a one-axis mesh "batch" of all
  devices (`keras.distribution.list_devices()`; with several hosts, after
  `keras.distribution.initialize()`, which reads KERAS_DISTRIBUTION_JOB_ADDRESSES,
  KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID). The weights
  are replicated (that is data parallelism); the one thing laid out differently
  is the carried LSTM state, sharded on its batch axis (a `LayoutMap` entry for
  `.*rnn_state`), so each device keeps the state of its own rows.
- TensorFlow: `tf.distribute.MirroredStrategy` over the local devices, which
  Keras' `model.fit` supports. It keeps one copy of every variable per device and
  makes them equal after each step, which a carried state must not be; so on
  TensorFlow `--distribute data` trains the MNIST model only, and the stateful
  language models ask for the JAX backend.

Only training (and the model built for it) is distributed: the valid and test
passes and sampling, which read one stream at batch size 1, run on one device.
"""

import contextlib
import os

import keras

from training.errors import UserError


def start(mode, batch_size, stateful):
    """The distribution for `--distribute mode` (None when off), after checking that `batch_size` splits evenly."""
    if mode in (None, "off"):
        return None
    backend = keras.backend.backend()
    if backend == "jax":
        if os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"):
            keras.distribution.initialize()
        devices = keras.distribution.list_devices()
    elif backend == "tensorflow":
        if stateful:
            raise UserError("--distribute data on TensorFlow trains the MNIST model only: its MirroredStrategy keeps "
                            "every variable equal on all devices, and the language models' carried LSTM state must "
                            "differ from device to device. Run the language models with KERAS_BACKEND=jax "
                            "(requirements-jax.txt), or leave --distribute out.")
        import tensorflow as tf

        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    else:
        raise UserError(f"--distribute data needs the jax or tensorflow backend; this is {backend}.")
    count = len(devices)
    if batch_size % count:
        sizes = ", ".join(str(count * k) for k in range(1, 5))
        raise UserError(f"--distribute data splits every batch over the {count} devices, so the batch size must "
                        f"divide by {count}; it is {batch_size}. Use --batch-size {sizes}, ... (a multiple of "
                        f"{count}).")
    print(f"Data parallel over {count} {backend} devices: {batch_size // count} rows of each batch per device.")
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy([device.name for device in devices])
    mesh = keras.distribution.DeviceMesh((count,), ["batch"], devices)
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map[".*rnn_state"] = ("batch", None)  # each device carries the state of its own rows
    return keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")


def scope(distribution):
    """The context that builds, compiles and trains on `distribution` (nothing when it is None)."""
    return contextlib.nullcontext() if distribution is None else distribution.scope()
