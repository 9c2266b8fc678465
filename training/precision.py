"""`--matmul-precision`: how float32 matrix products are computed on the accelerator.

On NVIDIA GPUs from Ampere on, JAX and TensorFlow multiply float32 matrices
in TensorFloat-32 by default (inputs rounded to a 10-bit mantissa, float32
sums): several times faster, and enough to move a perplexity by a point or
two. "highest" asks for full float32 products; "default" leaves the backend
as it is. A CPU computes float32 either way.
"""

import keras

MATMUL_PRECISIONS = ("default", "highest")


def set_matmul_precision(name):
    """Sets the float32 matrix-product precision of the current backend for this process."""
    if name not in MATMUL_PRECISIONS:
        raise ValueError(f"matmul precision {name!r}; expected one of {MATMUL_PRECISIONS}")
    highest = name == "highest"
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest" if highest else None)
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(not highest)
    elif backend == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False  # PyTorch's default: its products are float32 already
        torch.backends.cudnn.allow_tf32 = not highest
