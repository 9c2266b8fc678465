"""The small layers of the xLSTM blocks (NX-AI/xlstm, xlstm/components/): causal convolution, head-wise
projection, per-head normalization and the gated feed-forward."""

import math

import keras
from keras import ops

from models.carry import CarriedState
from models.checks import check_heads, check_positive
from models.seeds import derived_seed
from models.serialization import SERIALIZATION_PACKAGE


def small_init(width, seed=None):
    """normal(0, √(2 / (5·width))): the official `small_init_init_` (Nguyen & Salazar 2019)."""
    return keras.initializers.RandomNormal(stddev=math.sqrt(2.0 / (5.0 * width)), seed=seed)


def wang_init(width, blocks, seed=None):
    """normal(0, 2 / (blocks·√width)): the official `wang_init_`, for projections back into the residual stream."""
    return keras.initializers.RandomNormal(stddev=2.0 / blocks / math.sqrt(width), seed=seed)


def rounded_up(width, factor, multiple):
    """factor·width rounded up to a multiple of `multiple` (the official `UpProjConfigMixin`)."""
    return int(math.ceil(factor * width / multiple) * multiple)


# Widths up to which `HeadwiseDense` runs on TensorFlow as one dense matmul with the zeros written out
# (`block_diagonal`): `heads` times the multiply-adds, but one matrix product instead of TensorFlow's einsum of many
# small blocks, ~3× slower on a CPU at these sizes. On JAX, XLA's einsum is the faster (docs/speed.md#xlstm).
DENSE_BLOCK_DIAGONAL_WIDTH = 1024


def block_diagonal(kernel, blocks_out=1):
    """The dense (heads·in, blocks_out·heads·out) matrix of a block-diagonal `kernel` (heads, in, blocks_out·out).

    Row h·in + j, column g·heads·out + h·out + k holds kernel[h, j, g·out + k] (zeros off the diagonal blocks):
    with blocks_out = 1, x·block_diagonal(W) is the head-wise product; with blocks_out = 4 (the sLSTM's recurrent
    kernel, each head's columns gates i, f, z, o) the columns come out in gate blocks, heads in order within a block.
    """
    heads, width_in, width_out = kernel.shape
    out = width_out // blocks_out
    split = ops.reshape(kernel, (heads, width_in, blocks_out, out))
    dense = ops.einsum("hjgk,hH->hjgHk", split, ops.eye(heads, dtype=kernel.dtype))
    return ops.reshape(dense, (heads * width_in, blocks_out * heads * out))


def norm(name):
    """The official LayerNorm: a gain, no bias, ε = 1e-5."""
    return keras.layers.LayerNormalization(epsilon=1e-5, center=False, name=name)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class CausalConv1D(CarriedState, keras.layers.Layer):
    """Depthwise causal convolution over time (the official `CausalConv1d`): each feature on its own,

        y_t = b + Σ_{j=0}^{K−1} w_j * x_{t−K+1+j}      (x before the sequence: zeros, or the last batch's
                                                        when stateful)

    Weights: `kernel` (K, features), `bias` (features). Stateful, the last K − 1
    inputs carry to the next batch.
    """

    def __init__(self, kernel_size=4, stateful=False, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = check_positive("kernel_size", kernel_size, 4)
        self.stateful = bool(stateful)
        self.kernel_initializer = kernel_initializer

    def build(self, input_shape):
        features = input_shape[-1]
        bound = 1.0 / math.sqrt(self.kernel_size)  # PyTorch's Conv1d default (fan_in = K for a depthwise filter)
        init = keras.initializers.get(self.kernel_initializer or keras.initializers.RandomUniform(-bound, bound))
        self.kernel = self.add_weight(shape=(self.kernel_size, features), initializer=init, name="kernel")
        self.bias = self.add_weight(shape=(features,), initializer=keras.initializers.RandomUniform(-bound, bound),
                                    name="bias")
        self.build_carry(input_shape[0], {"inputs": (self.kernel_size - 1, features)} if self.kernel_size > 1 else {})

    def call(self, x):
        past = self.kernel_size - 1
        if not past:
            return x * self.kernel[0] + self.bias
        carried = self.carried_state()
        before = carried[0] if carried else ops.repeat(ops.zeros_like(x[:, :1]), past, axis=1)
        padded = ops.concatenate([ops.cast(before, x.dtype), x], axis=1)
        self.carry_on([padded[:, -past:]])
        if keras.backend.backend() == "tensorflow":
            # one depthwise convolution op (y_t = Σ_j w_j·padded_{t+j}): ~4× faster than K shifted products on a
            # CPU with TensorFlow; XLA's (JAX's) gradient of a depthwise convolution is ~15× slower than them
            return ops.depthwise_conv(padded, ops.expand_dims(self.kernel, -1), padding="valid") + self.bias
        y = self.bias
        for j in range(self.kernel_size):
            y = y + self.kernel[j] * (padded[:, j:j - past] if j < past else padded[:, j:])
        return y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "stateful": self.stateful,
                "kernel_initializer": self.kernel_initializer and keras.initializers.serialize(
                    keras.initializers.get(self.kernel_initializer))}


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class HeadwiseDense(keras.layers.Layer):
    """A block-diagonal projection, as wide out as in: `heads` separate (width/heads)² matrices
    (the official `LinearHeadwiseExpand` with expand factor 1, no bias). Weight: `kernel` (heads, in, out)."""

    def __init__(self, heads, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.heads = check_positive("heads", heads, 4)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        width = input_shape[-1]
        check_heads(width, self.heads, "a head-wise projection")
        d = width // self.heads
        self.kernel = self.add_weight(shape=(self.heads, d, d), initializer=self.kernel_initializer, name="kernel")

    def call(self, x):
        if keras.backend.backend() == "tensorflow" and x.shape[-1] <= DENSE_BLOCK_DIAGONAL_WIDTH:
            return ops.matmul(x, self.dense_kernel())
        shape = ops.shape(x)
        split = ops.reshape(x, (*shape[:-1], self.heads, x.shape[-1] // self.heads))
        return ops.reshape(ops.einsum("...hi,hio->...ho", split, self.kernel), shape)

    def dense_kernel(self):
        """The kernel as one (width, width) matrix (`block_diagonal`)."""
        return block_diagonal(ops.cast(self.kernel, self.compute_dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "heads": self.heads,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class HeadNorm(keras.layers.Layer):
    """Layer normalization within each head (group norm with a group per head; the official `MultiHeadLayerNorm`):
    each head's d features to mean 0 and variance 1 (ε = 1e-5), then a gain per feature (`gamma`), no bias."""

    def __init__(self, heads, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.epsilon = check_positive("heads", heads, 4), float(epsilon)

    def build(self, input_shape):
        check_heads(input_shape[-1], self.heads, "a per-head normalization")
        self.gamma = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="gamma")

    def call(self, x):
        shape = ops.shape(x)
        split = ops.reshape(x, (*shape[:-1], self.heads, x.shape[-1] // self.heads))
        mean = ops.mean(split, axis=-1, keepdims=True)
        variance = ops.mean(ops.square(split - mean), axis=-1, keepdims=True)
        normed = (split - mean) / ops.sqrt(variance + self.epsilon)
        return ops.reshape(normed, shape) * self.gamma

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class GatedFeedForward(keras.layers.Layer):
    """GeLU(x·W_g) ⊙ (x·W_u), then ·W_d back to the width (the official `GatedFeedForward`, no biases).

    The inner width is projection_factor·width rounded up to a multiple of `round_to`. `dropout`: the rate of a
    dropout on the output (after ·W_d, as the official `FeedForward`), seeded from `seed`, in training only.
    """

    def __init__(self, projection_factor=1.3, round_to=64, blocks=1, seed=None, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.projection_factor, self.round_to = float(projection_factor), check_positive("round_to", round_to, 64)
        self.blocks, self.seed, self.dropout = check_positive("blocks", blocks, 1), seed, float(dropout)

    def build(self, input_shape):
        width = input_shape[-1]
        self.inner = rounded_up(width, self.projection_factor, self.round_to)
        self.up = keras.layers.Dense(2 * self.inner, use_bias=False, kernel_initializer=small_init(width, self.seed),
                                     name="up")
        self.down = keras.layers.Dense(width, use_bias=False, name="down",
                                       kernel_initializer=wang_init(width, self.blocks, self.seed and self.seed + 1))
        self.up.build(input_shape)
        self.down.build((*input_shape[:-1], self.inner))
        self.drop = keras.layers.Dropout(self.dropout, seed=derived_seed(self.seed or 0, 2), name="dropout")

    def call(self, x, training=None):
        gate, up = ops.split(self.up(x), 2, axis=-1)
        return self.drop(self.down(ops.gelu(gate, approximate=False) * up), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "projection_factor": self.projection_factor, "round_to": self.round_to,
                "blocks": self.blocks, "seed": self.seed, "dropout": self.dropout}
