"""A decoder-only transformer of nanoGPT's shapes (karpathy/nanoGPT's model.py), in Keras layers and keras.ops.

    tokens → token embedding + learned position embedding → dropout
           → [x + attention(LayerNorm(x)); x + MLP(LayerNorm(x))] × layers
           → LayerNorm → logits = x · Eᵀ (E the token embedding itself: tied)

Each block is pre-norm: LayerNorm before the causal multi-head self-attention
and before the MLP (width → 4 · width → GELU → width), each added back to its
input (the residual stream). Position t attends to positions ≤ t only, so a
window's logits at t depend on its tokens up to t and on nothing after. As
nanoGPT's default (bias=False), no layer has a bias, LayerNorm included (a gain
only). Dropout, as nanoGPT's: on the embeddings' sum, on the attention weights,
and on the output of the attention and of the MLP before each is added back.
The initialization is nanoGPT's: every matrix normal(0, 0.02), the two
projections back into the residual stream normal(0, 0.02 / √(2 · layers)).

A transformer has no state: it reads at most `block_size` tokens at a time,
every window from nothing, so it is built and trained on windows
(`batch_layout="windows"`), and a longer text is read in windows
(`training.scoring.sliding_nats`; the sampler crops the context to the last
block_size tokens).

nanoGPT counts the parameters without the position embeddings
(`nanogpt_parameter_count`): 795,904 for 4 layers × 128 wide with 65 tokens,
10,646,784 for 6 × 384.

Learned positions end at block_size: a position the model never trained on
has no vector. `build_gpt(spec, positions=...)` chooses an encoding that
reaches any length instead (`POSITIONS`; experiments/state_tracking.py):
"sinusoidal" (Vaswani et al. 2017: fixed sines added to the embeddings),
"rope" (Su et al. 2021: the queries and keys of each head rotated by an angle
that grows with the position, so q·k depends on the distance only) or "alibi"
(Press et al. 2022: each head's scores lowered in proportion to the distance,
by a slope of its own). None of them has weights; the default, "learned", is
the model above, saved and counted as before.
"""

import dataclasses
import math

import keras
from keras import ops

from models.language_model import output_dtype, trainable_count
from models.seeds import derived_seed
from models.serialization import SERIALIZATION_PACKAGE

INIT_STD = 0.02  # nanoGPT's: every weight matrix and embedding
POSITIONS = ("learned", "sinusoidal", "rope", "alibi")  # build_gpt's position encodings; only "learned" has weights


@dataclasses.dataclass(frozen=True)
class GPTSpec:
    vocab_size: int          # tokens in the vocabulary (from the data)
    layers: int = 4          # transformer blocks (nanoGPT's n_layer)
    width: int = 128         # the residual stream and the embeddings (n_embd)
    heads: int = 4           # attention heads (n_head); width / heads per head
    block_size: int = 64     # the longest context: positions with a learned embedding
    dropout: float = 0.0     # on the embeddings, the attention weights and each block's two outputs
    seed: int = 0            # of the initializers and the dropout masks
    kind: str = "gpt"

    def build(self, **shape):
        """The Keras model of this spec (`build_gpt`)."""
        return build_gpt(self, **shape)

    # What the training recipe, inference and the experiments ask (as of models.LanguageModelSpec).
    carries_state = False    # every window is read from nothing: trained on random windows, a text read in windows
    has_cell = False         # no recurrent layer for --cell and --variant to choose
    loss_form = "token"      # nanoGPT's: the mean cross-entropy per token (its clipping norm means the same here)
    family = "transformer"   # in tables
    config_fields_before = {"width": "units", "block_size": "num_steps"}  # in config.json before they had own names

    @classmethod
    def from_config(cls, config, vocab_size, cell=None, variant=None, seed=0):
        """The spec of a training config: its `layers`, `width`, `heads`, `block_size` and `dropout`."""
        return cls(vocab_size=vocab_size, layers=config.layers, width=config.width, heads=config.heads,
                   block_size=config.block_size, dropout=config.dropout, seed=seed)

    sequence_field = "block_size"  # the config field of the tokens per training row: windows of the block (nanoGPT)

    @staticmethod
    def run_label(cell, variant):
        """The model in a run folder's name."""
        return "transformer"

    @property
    def context_length(self):
        """The longest context: a longer text is read in windows of block_size, a sample re-reads the last ones."""
        return self.block_size

    def describe(self, cell_title=None):
        """The model in a few words, for the first line of a run."""
        return f"{self.layers}×{self.width} transformer ({self.heads} heads, block {self.block_size})"

    @staticmethod
    def no_weight_decay(model):
        """nanoGPT's: weight decay on the matrices only, not the LayerNorm gains (vectors)."""
        return [v for v in model.trainable_variables if len(v.shape) < 2]

    def parameter_summary(self, model):
        """The trainable parameters as nanoGPT counts them (no position embeddings), the positions beside."""
        trainable, counted = trainable_count(model), nanogpt_parameter_count(model)
        return f"{counted:,} (+{trainable - counted:,} positions)"


def normal(seed, std=INIT_STD):
    return keras.initializers.RandomNormal(stddev=std, seed=seed)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned vector per position to a (batch, T, width) input, T ≤ block_size (nanoGPT's wpe)."""

    def __init__(self, block_size, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.block_size, self.seed = int(block_size), seed

    def build(self, input_shape):
        self.positions = self.add_weight(shape=(self.block_size, input_shape[-1]), initializer=normal(self.seed),
                                         name="positions")

    def call(self, x):
        return x + self.positions[: ops.shape(x)[1]]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size, "seed": self.seed}


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class SinusoidalPositions(keras.layers.Layer):
    """Adds the fixed sines and cosines of Vaswani et al. (2017) to a (batch, T, width) input, for any T:
    channel 2i holds sin(t / 10000^(2i/width)), channel 2i + 1 the cosine of the same angle."""

    def call(self, x):
        steps, width = ops.shape(x)[1], x.shape[-1]
        angles = ops.expand_dims(ops.cast(ops.arange(steps), "float32"), 1) * ops.exp(
            ops.cast(ops.arange(0, width, 2), "float32") * (-math.log(10000.0) / width))  # (T, width / 2)
        table = ops.reshape(ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1), (steps, width))
        return x + ops.cast(table, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


def rotate(x, positions):
    """RoPE (Su et al. 2021) on (batch, heads, T, head_width): each pair of channels (j, j + head_width / 2)
    turned by the angle t / 10000^(2j/head_width) at position t."""
    half = x.shape[-1] // 2
    frequencies = ops.exp(ops.cast(ops.arange(half), "float32") * (-math.log(10000.0) * 2 / x.shape[-1]))
    angles = ops.expand_dims(ops.cast(positions, "float32"), 1) * frequencies  # (T, half)
    cos, sin = ops.cast(ops.cos(angles), x.dtype), ops.cast(ops.sin(angles), x.dtype)
    first, second = x[..., :half], x[..., half:]
    return ops.concatenate([first * cos - second * sin, first * sin + second * cos], axis=-1)


def alibi_slopes(heads):
    """ALiBi's slope of each head (Press et al. 2022): 2^(−8h/heads) for h = 1..heads."""
    return [2.0 ** (-8.0 * (h + 1) / heads) for h in range(heads)]


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class CausalSelfAttention(keras.layers.Layer):
    """Multi-head self-attention in which position t sees positions ≤ t (nanoGPT's CausalSelfAttention).

    One matrix gives the queries, keys and values of every head (c_attn),
    softmax(q·kᵀ / √head_width) masked to the past weights the values, and a
    second matrix mixes the heads back into the residual stream (c_proj).
    `positions` "rope" rotates the queries and keys, "alibi" biases the scores
    by the distance; any other value leaves them as nanoGPT's.
    """

    def __init__(self, heads, dropout=0.0, projection_std=INIT_STD, seed=None, positions="learned", **kwargs):
        super().__init__(**kwargs)
        self.heads, self.dropout, self.projection_std, self.seed = int(heads), float(dropout), projection_std, seed
        self.positions = positions
        self.attention_dropout = keras.layers.Dropout(dropout, seed=derived_seed(seed or 0, 1))
        self.output_dropout = keras.layers.Dropout(dropout, seed=derived_seed(seed or 0, 2))

    def build(self, input_shape):
        width = input_shape[-1]
        if width % self.heads:
            raise ValueError(f"the width {width} is not a multiple of the {self.heads} heads.")
        self.qkv = keras.layers.Dense(3 * width, use_bias=False, kernel_initializer=normal(self.seed), name="qkv")
        self.projection = keras.layers.Dense(width, use_bias=False, name="projection",
                                             kernel_initializer=normal(derived_seed(self.seed or 0, 3),
                                                                       self.projection_std))
        self.qkv.build(input_shape)
        self.projection.build(input_shape)

    def split_heads(self, x):
        """(batch, T, width) → (batch, heads, T, width / heads)."""
        return ops.stack(ops.split(x, self.heads, axis=-1), axis=1)

    def call(self, x, training=False):
        q, k, v = (self.split_heads(part) for part in ops.split(self.qkv(x), 3, axis=-1))
        steps = ops.arange(ops.shape(x)[1])
        if self.positions == "rope":
            q, k = rotate(q, steps), rotate(k, steps)
        scores = ops.matmul(q, ops.swapaxes(k, -1, -2)) / math.sqrt(ops.shape(q)[-1])  # (batch, heads, T, T)
        if self.positions == "alibi":
            distance = ops.cast(ops.expand_dims(steps, 0) - ops.expand_dims(steps, 1), scores.dtype)  # s − t ≤ 0
            slopes = ops.reshape(ops.convert_to_tensor(alibi_slopes(self.heads), scores.dtype), (self.heads, 1, 1))
            scores = scores + slopes * distance
        causal = ops.expand_dims(steps, 1) >= ops.expand_dims(steps, 0)  # [t, s]: s ≤ t
        scores = ops.where(causal, scores, float("-inf"))
        weights = ops.cast(ops.softmax(ops.cast(scores, "float32"), axis=-1), v.dtype)  # softmax in float32 always
        weights = self.attention_dropout(weights, training=training)
        heads = ops.matmul(weights, v)  # (batch, heads, T, width / heads)
        merged = ops.concatenate([heads[:, h] for h in range(self.heads)], axis=-1)
        return self.output_dropout(self.projection(merged), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "dropout": self.dropout,
                "projection_std": self.projection_std, "seed": self.seed, **positions_config(self.positions)}


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class TransformerBlock(keras.layers.Layer):
    """x + attention(LayerNorm(x)), then x + MLP(LayerNorm(x)): nanoGPT's Block (pre-norm, no biases)."""

    def __init__(self, heads, dropout=0.0, projection_std=INIT_STD, seed=None, positions="learned", **kwargs):
        super().__init__(**kwargs)
        self.heads, self.dropout, self.projection_std, self.seed = int(heads), float(dropout), projection_std, seed
        self.positions = positions
        self.attention_norm = layer_norm("attention_norm")
        self.attention = CausalSelfAttention(heads, dropout, projection_std, seed=derived_seed(seed or 0, 10),
                                             positions=positions, name="attention")
        self.mlp_norm = layer_norm("mlp_norm")
        self.mlp_dropout = keras.layers.Dropout(dropout, seed=derived_seed(seed or 0, 20))

    def build(self, input_shape):
        width = input_shape[-1]
        self.expand = keras.layers.Dense(4 * width, use_bias=False, kernel_initializer=normal(derived_seed(
            self.seed or 0, 21)), name="expand")
        self.contract = keras.layers.Dense(width, use_bias=False, kernel_initializer=normal(derived_seed(
            self.seed or 0, 22), self.projection_std), name="contract")
        for layer in (self.attention_norm, self.attention, self.mlp_norm):
            layer.build(input_shape)
        self.expand.build(input_shape)
        self.contract.build((*input_shape[:-1], 4 * width))

    def call(self, x, training=False):
        x = x + self.attention(self.attention_norm(x), training=training)
        hidden = ops.gelu(self.expand(self.mlp_norm(x)), approximate=False)  # nanoGPT's nn.GELU(): the exact one
        return x + self.mlp_dropout(self.contract(hidden), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "dropout": self.dropout,
                "projection_std": self.projection_std, "seed": self.seed, **positions_config(self.positions)}


def positions_config(positions):
    """The position encoding in a layer's config: nothing for the default, so saved models read as before."""
    return {} if positions == "learned" else {"positions": positions}


def layer_norm(name):
    """nanoGPT's LayerNorm with bias=False: a gain and no bias, ε = 1e-5."""
    return keras.layers.LayerNormalization(epsilon=1e-5, center=False, name=name)


def build_gpt(spec, batch_size=None, num_steps=None, stateful=False, positions="learned"):
    """The transformer of `spec` for inputs of shape (batch_size, num_steps ≤ block_size); None leaves an axis free.

    `positions` (of `POSITIONS`): "learned" is nanoGPT's position embedding (num_steps ≤ block_size); the
    others reach any length and have no weights (block_size then limits nothing).
    """
    if positions not in POSITIONS:
        raise ValueError(f"unknown position encoding {positions!r}; choose one of {', '.join(POSITIONS)}.")
    if stateful:
        raise ValueError("a transformer has no state to carry from one batch to the next; build it with "
                         "stateful=False and read a long text in windows.")
    if positions == "learned" and num_steps is not None and num_steps > spec.block_size:
        raise ValueError(f"the transformer reads at most block_size = {spec.block_size} tokens at a time; got "
                         f"num_steps {num_steps}.")
    seed = spec.seed
    tokens = keras.Input(batch_size=batch_size, shape=(num_steps,), dtype="int32", name="tokens")
    embedding = keras.layers.ReversibleEmbedding(spec.vocab_size, spec.width, tie_weights=True,
                                                 embeddings_initializer=normal(seed), reverse_dtype=output_dtype(),
                                                 name="embedding")
    x = embedding(tokens)
    if positions == "learned":
        x = PositionEmbedding(spec.block_size, seed=derived_seed(seed, 1), name="position_embedding")(x)
    elif positions == "sinusoidal":
        x = SinusoidalPositions(name="sinusoidal_positions")(x)
    x = keras.layers.Dropout(spec.dropout, seed=derived_seed(seed, 2), name="embedding_dropout")(x)
    projection_std = INIT_STD / math.sqrt(2 * spec.layers)
    for layer in range(spec.layers):
        x = TransformerBlock(spec.heads, spec.dropout, projection_std, seed=derived_seed(seed, 100 * (layer + 1)),
                             positions=positions, name=f"block_{layer}")(x)
    logits = embedding(layer_norm("final_norm")(x), reverse=True)
    return keras.Model(tokens, logits, name="gpt")


def nanogpt_parameter_count(model):
    """The trainable parameters without the position embeddings, as nanoGPT's get_num_params() counts them."""
    learned = [layer for layer in model.layers if layer.name == "position_embedding"]  # none: other encodings
    positions = learned[0].count_params() if learned else 0
    return sum(math.prod(v.shape) for v in model.trainable_weights) - positions
