"""`--precision` and `--matmul-precision`: the number formats a run computes in.

`--precision mixed_bfloat16` is Keras' mixed-precision policy: the weights
and the optimizer stay float32, the layers compute in bfloat16 (8 significant
bits, float32's range: no loss scaling needed), and the logits and the
loss are float32 (the output layers are built with a float32 policy,
`models.language_model.output_dtype`). On a GPU's tensor cores, and on a
CPU with AMX bfloat16 tiles (Intel Xeon from Sapphire Rapids on, through
oneDNN), that halves the memory traffic and speeds the products up; a CPU
without bfloat16 instructions emulates it, slower than float32
(docs/speed.md#mixed-bfloat16-on-a-cpu).

`--matmul-precision`: on NVIDIA GPUs from Ampere on, JAX and TensorFlow
multiply float32 matrices in TensorFloat-32 by default (inputs rounded to a
10-bit mantissa, float32 sums): several times faster, and enough to move a
perplexity by a point or two. "highest" asks for full float32 products; "default" leaves the backend
as it is. A CPU computes float32 either way.
"""

import keras

PRECISIONS = ("float32", "mixed_bfloat16")  # Keras dtype policies
MATMUL_PRECISIONS = ("default", "highest")


def set_precision(name):
    """Sets Keras' global dtype policy for the models built after it, in this process."""
    if name not in PRECISIONS:
        raise ValueError(f"precision {name!r}; expected one of {PRECISIONS}")
    keras.config.set_dtype_policy(name)


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
