"""The xLSTM blocks, their stack and the xLSTM language model (Beck et al. 2024, Fig. 1 and Section 2.4;
NX-AI/xlstm: xlstm/blocks/, xlstm_block_stack.py, xlstm_lm_model.py).

    tokens → embedding → [x + block(x)] × layers → LayerNorm → logits (x·Eᵀ tied, or a matrix of its own)

sLSTM block (post up-projection, `SLSTMBlock`):

    x̂ = LayerNorm(x);  x̂_c = swish(CausalConv1D(x̂)) (kernel 4)
    y = HeadNorm(sLSTM(i, f from x̂_c; z, o from x̂; block-diagonal projections))
    x ← x + y;  x ← x + GatedFeedForward(LayerNorm(x))   (GeLU, factor 1.3 rounded up to a multiple of 64)

mLSTM block (pre up-projection, `MLSTMBlock`):

    x̂ = LayerNorm(x);  [a, g] = x̂·W_up (2 × inner, inner = 2·width rounded up to a multiple of 64)
    a_c = swish(CausalConv1D(a));  q, k = block-diagonal(a_c);  v = block-diagonal(a)
    y = (HeadNorm(mLSTM(q, k, v)) + s ⊙ a_c) ⊙ swish(g)      (s: the learnable skip, ones at first)
    x ← x + y·W_down

The stack's pattern: `slstm_at`, the indices of the sLSTM blocks (the
official config's), or a name "xLSTM[a:b]" (`block_pattern`): a mLSTM blocks
then b sLSTM blocks, repeated; "xLSTM[1:0]" is all mLSTM, "xLSTM[0:1]" all
sLSTM. Initialization as the official code's (small_init, wang_init, zero
recurrent kernels, the power-law forget bias of `models.slstm.PowerLawForgetBias`).

Under a mixed-precision policy the sLSTM and mLSTM recurrences compute in
float32 (exponential gates, the stabilizer, the division by the normalizer),
the rest of the blocks in the policy's dtype, the logits in float32.

Stateful (`stateful=True`), every block's recurrent state and its
convolution's last inputs carry from one batch to the next; a block's
`reset_state()` zeros them (as the training loop's `reset_states` calls it on
every layer with `stateful`).
"""

import dataclasses
import re

import keras
from keras import ops

from models.checks import check_choice, check_heads, check_positive, check_rate
from models.language_model import output_dtype, trainable_count
from models.mlstm import MLSTM
from models.seeds import derived_seed
from models.serialization import SERIALIZATION_PACKAGE
from models.slstm import FORGET_GATES, SLSTM, PowerLawForgetBias
from models.xlstm_parts import (CausalConv1D, GatedFeedForward, HeadNorm, HeadwiseDense, norm, rounded_up,
                                small_init, wang_init)


def block_pattern(pattern, layers):
    """The sLSTM block indices of "xLSTM[a:b]" over `layers` blocks: a mLSTM then b sLSTM blocks, repeated."""
    found = re.fullmatch(r"xLSTM\[(\d+):(\d+)\]", pattern.strip())
    if not found or not (int(found[1]) + int(found[2])):
        raise ValueError(f"a block pattern reads \"xLSTM[a:b]\", a mLSTM blocks to b sLSTM blocks (for example "
                         f"\"xLSTM[7:1]\", \"xLSTM[1:0]\"); got {pattern!r}.")
    a, b = int(found[1]), int(found[2])
    if layers % (a + b):
        raise ValueError(f"{pattern} repeats {a + b} blocks, which {layers} layers are not a multiple of: choose "
                         f"layers = a multiple of {a + b}, or list the sLSTM blocks in slstm_at.")
    return tuple(k for k in range(layers) if k % (a + b) >= a)


def check_slstm_at(slstm_at, layers):
    """`slstm_at` as a sorted tuple, or a ValueError for an index outside the stack."""
    slstm_at = tuple(sorted(int(k) for k in slstm_at))
    if any(not 0 <= k < layers for k in slstm_at) or len(set(slstm_at)) != len(slstm_at):
        raise ValueError(f"slstm_at lists the sLSTM blocks by index, each once, from 0 to layers − 1 = {layers - 1}; "
                         f"got {list(slstm_at)}.")
    return slstm_at


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class SLSTMBlock(keras.layers.Layer):
    """The residual sLSTM block (module docstring; the official `sLSTMBlock`).

    Args:
        heads: sLSTM heads (they divide the width).
        conv_kernel: Of the causal convolution before i and f; 0 for none.
        forget_gate: "sigmoid" or "exponential" (`SLSTM`).
        projection_factor: Of the feed-forward (official: 1.3).
        round_to: The feed-forward's inner width is a multiple of it.
        block_index, blocks: The block's place in the stack (for the
            initialization of the forget bias and the down-projection).
        stateful, unroll: Of the sLSTM (and the convolution).
        seed: Of the initializers and the dropout.
        dropout: Rate of the dropout on the sLSTM's output (before the
            group norm, as the official `sLSTMLayer`) and on the
            feed-forward's (after its down-projection); in training only.
    """

    def __init__(self, heads=4, conv_kernel=4, forget_gate="sigmoid", projection_factor=1.3, round_to=64,
                 block_index=0, blocks=1, stateful=False, unroll=None, seed=None, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.conv_kernel = check_positive("heads", heads, 4), int(conv_kernel)
        self.forget_gate = check_choice("forget_gate", forget_gate, FORGET_GATES)
        self.projection_factor, self.round_to = float(projection_factor), int(round_to)
        self.block_index, self.blocks, self.stateful, self.unroll, self.seed = (
            int(block_index), int(blocks), bool(stateful), unroll, seed)
        self.dropout = check_rate("dropout", dropout)

    def build(self, input_shape):
        width = input_shape[-1]
        check_heads(width, self.heads, "the sLSTM block's width")
        seed = self.seed or 0
        self.xlstm_norm = norm("xlstm_norm")
        self.conv = (CausalConv1D(self.conv_kernel, stateful=self.stateful, name="conv")
                     if self.conv_kernel else None)
        self.gates = [HeadwiseDense(self.heads, small_init(width, derived_seed(seed, k)), name=f"{gate}_projection")
                      for k, gate in enumerate("ifzo")]
        self.slstm = SLSTM(width, heads=self.heads, forget_gate=self.forget_gate, input_projection=False,
                           recurrent_initializer="zeros", return_sequences=True, stateful=self.stateful,
                           bias_initializer=PowerLawForgetBias(self.heads, self.block_index, self.blocks),
                           unroll=self.unroll, dtype="float32", name="slstm")  # float32 under mixed precision
        self.group_norm = HeadNorm(self.heads, name="group_norm")
        self.ffn_norm = norm("ffn_norm")
        self.ffn = GatedFeedForward(self.projection_factor, self.round_to, self.blocks, seed=derived_seed(seed, 10),
                                    dropout=self.dropout, name="ffn")
        self.drop = keras.layers.Dropout(self.dropout, seed=derived_seed(seed, 20), name="dropout")
        for layer in (self.xlstm_norm, *self.gates, self.group_norm, self.ffn_norm, self.ffn):
            layer.build(input_shape)
        if self.conv:
            self.conv.build(input_shape)
        self.slstm.build((*input_shape[:-1], 4 * width))

    def call(self, x, training=None):
        normed = self.xlstm_norm(x)
        convolved = ops.silu(self.conv(normed)) if self.conv else normed
        i, f, z, o = (gate(source) for gate, source in zip(self.gates, (convolved, convolved, normed, normed)))
        h = self.drop(self.slstm(ops.concatenate([i, f, z, o], axis=-1)), training=training)
        x = x + self.group_norm(h)
        return x + self.ffn(self.ffn_norm(x), training=training)

    def reset_state(self):
        """Zeros the carried state of the sLSTM and the convolution (stateful)."""
        for layer in (self.slstm, self.conv):
            if layer:
                layer.reset_state()

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "conv_kernel": self.conv_kernel,
                "forget_gate": self.forget_gate, "projection_factor": self.projection_factor,
                "round_to": self.round_to, "block_index": self.block_index, "blocks": self.blocks,
                "stateful": self.stateful, "unroll": self.unroll, "seed": self.seed, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class MLSTMBlock(keras.layers.Layer):
    """The residual mLSTM block (module docstring; the official `mLSTMBlock`).

    Args:
        heads: mLSTM heads (they divide the inner width).
        conv_kernel: Of the causal convolution before q and k.
        projection_factor: inner = projection_factor·width, rounded up to a
            multiple of `round_to` (official: 2 and 64).
        qkv_block: Width of the blocks of the q, k, v projections (official: 4).
        mode: "parallel" or "recurrent" (`MLSTM`).
        blocks: Blocks in the stack (the down-projection's initialization).
        stateful, unroll: Of the mLSTM and the convolution.
        seed: Of the initializers and the dropout.
        dropout: Rate of the dropout on the block's output (after the
            down-projection, as the official `mLSTMLayer`); in training only.
    """

    def __init__(self, heads=4, conv_kernel=4, projection_factor=2.0, round_to=64, qkv_block=4, mode="parallel",
                 blocks=1, stateful=False, unroll=None, seed=None, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.conv_kernel = check_positive("heads", heads, 4), check_positive("conv_kernel", conv_kernel, 4)
        self.projection_factor, self.round_to = float(projection_factor), int(round_to)
        self.qkv_block, self.mode, self.blocks = check_positive("qkv_block", qkv_block, 4), mode, int(blocks)
        self.stateful, self.unroll, self.seed = bool(stateful), unroll, seed
        self.dropout = check_rate("dropout", dropout)

    def build(self, input_shape):
        width = input_shape[-1]
        inner = rounded_up(width, self.projection_factor, self.round_to)
        check_heads(inner, self.heads, "the mLSTM block's inner width")
        check_heads(inner, inner // self.qkv_block, "the mLSTM block's inner width")
        seed = self.seed or 0
        inner_shape = (*input_shape[:-1], inner)
        self.xlstm_norm = norm("xlstm_norm")
        self.up = keras.layers.Dense(2 * inner, use_bias=False, kernel_initializer=small_init(width, seed), name="up")
        self.conv = CausalConv1D(self.conv_kernel, stateful=self.stateful, name="conv")
        self.qkv = [HeadwiseDense(inner // self.qkv_block, small_init(width, derived_seed(seed, k)),
                                  name=f"{n}_projection") for k, n in enumerate("qkv", start=1)]
        self.mlstm = MLSTM(self.heads, mode=self.mode, stateful=self.stateful, unroll=self.unroll, dtype="float32",
                           name="mlstm")  # float32 under mixed precision
        self.group_norm = HeadNorm(self.heads, name="group_norm")
        self.skip = self.add_weight(shape=(inner,), initializer="ones", name="skip")
        self.down = keras.layers.Dense(width, use_bias=False, name="down",
                                       kernel_initializer=wang_init(width, self.blocks, derived_seed(seed, 4)))
        self.drop = keras.layers.Dropout(self.dropout, seed=derived_seed(seed, 20), name="dropout")
        self.xlstm_norm.build(input_shape)
        self.up.build(input_shape)
        for layer in (self.conv, *self.qkv, self.group_norm, self.down):
            layer.build(inner_shape)
        self.mlstm.build(inner_shape, inner_shape, inner_shape)

    def call(self, x, training=None):
        a, g = ops.split(self.up(self.xlstm_norm(x)), 2, axis=-1)
        convolved = ops.silu(self.conv(a))
        q, k, v = self.qkv[0](convolved), self.qkv[1](convolved), self.qkv[2](a)
        h = self.group_norm(self.mlstm(q, k, v)) + self.skip * convolved
        return x + self.drop(self.down(h * ops.silu(g)), training=training)

    def reset_state(self):
        """Zeros the carried state of the mLSTM and the convolution (stateful)."""
        self.mlstm.reset_state()
        self.conv.reset_state()

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "conv_kernel": self.conv_kernel,
                "projection_factor": self.projection_factor, "round_to": self.round_to, "qkv_block": self.qkv_block,
                "mode": self.mode, "blocks": self.blocks, "stateful": self.stateful, "unroll": self.unroll,
                "seed": self.seed, "dropout": self.dropout}


@dataclasses.dataclass(frozen=True)
class XLSTMSpec:
    vocab_size: int              # tokens in the vocabulary (from the data)
    layers: int = 4              # xLSTM blocks
    width: int = 128             # the residual stream and the embedding
    heads: int = 4               # heads of every sLSTM and mLSTM
    slstm_at: tuple = ()         # indices of the sLSTM blocks; the others are mLSTM blocks
    block_pattern: str = ""      # "xLSTM[a:b]" instead of slstm_at (`block_pattern`)
    conv_kernel: int = 4         # of the blocks' causal convolutions
    tie_weights: bool = False    # the logits reuse the embedding matrix (official default: False)
    seed: int = 0                # of the initializers and the dropouts
    dropout: float = 0.0         # rate of every block's dropouts (the official placement: `SLSTMBlock`, `MLSTMBlock`)
    embedding_dropout: bool = False  # also a dropout of that rate on the embedding (official add_embedding_dropout)
    kind: str = "xlstm"

    def __post_init__(self):
        check_positive("layers", self.layers, 4)
        check_positive("width", self.width, 128)
        check_rate("dropout", self.dropout)
        object.__setattr__(self, "slstm_at", tuple(self.slstm_at))

    def sLSTM_blocks(self):
        """The indices of the sLSTM blocks (`block_pattern` if given, else `slstm_at`)."""
        if self.block_pattern:
            return block_pattern(self.block_pattern, self.layers)
        return check_slstm_at(self.slstm_at, self.layers)

    def build(self, **shape):
        """The Keras model of this spec (`build_xlstm`)."""
        return build_xlstm(self, **shape)

    # What the training recipe, inference and the experiments ask (as of models.LanguageModelSpec).
    carries_state = True         # recurrent: its state runs on from batch to batch
    has_cell = False             # no --cell or --variant to choose
    loss_form = "sequence"       # as the LSTM: the cross-entropy summed over a sequence's steps
    family = "xLSTM"             # in tables
    config_fields_before = {}    # config fields that had other names in older run folders
    sequence_field = "num_steps"  # the config field of the tokens per training row

    @classmethod
    def from_config(cls, config, vocab_size, cell=None, variant=None, seed=0):
        """The spec of a training config: its `layers`, `width`, `heads`, `slstm_at`, `block_pattern`, `dropout`
        (and `embedding_dropout`, if it has one)."""
        return cls(vocab_size=vocab_size, layers=config.layers, width=config.width, heads=config.heads,
                   slstm_at=tuple(getattr(config, "slstm_at", ())), block_pattern=getattr(config, "block_pattern", ""),
                   tie_weights=getattr(config, "tie_weights", False), dropout=float(getattr(config, "dropout", 0.0)),
                   embedding_dropout=bool(getattr(config, "embedding_dropout", False)), seed=seed)

    @staticmethod
    def run_label(cell, variant):
        """The model in a run folder's name."""
        return "xlstm"

    @property
    def context_length(self):
        """None: the state carries any context."""
        return None

    def describe(self, cell_title=None):
        """The model in a few words, for the first line of a run."""
        s = self.sLSTM_blocks()
        return f"{self.layers}×{self.width} xLSTM[{self.layers - len(s)}:{len(s)}] ({self.heads} heads)"

    @staticmethod
    def no_weight_decay(model):
        """The official weight-decay groups (xlstm/utils.py: decay only where "weight" is in the name and "norm" is
        not; xLSTMLMModel: the embedding out): here every vector (norms, biases, the skip), the sLSTMs' recurrent
        kernels (the official `_recurrent_kernel_`) and the embedding."""
        return [v for v in model.trainable_variables
                if len(v.shape) < 2 or "embedding" in v.path or v.path.endswith("recurrent_kernel")]

    def parameter_summary(self, model):
        """The trainable parameters, as text."""
        return f"{trainable_count(model):,}"


def build_xlstm(spec, batch_size=None, num_steps=None, stateful=False, mode="parallel"):
    """The xLSTM language model of `spec` for inputs (batch_size, num_steps); None leaves an axis free.

    With `stateful=True` (which needs a batch size) every block starts each batch from the state the last one
    left. `mode`: the mLSTMs' "parallel" or "recurrent" form (`MLSTM`).
    """
    slstm_at = spec.sLSTM_blocks()
    tokens = keras.Input(batch_size=batch_size, shape=(num_steps,), dtype="int32", name="tokens")
    init = small_init(spec.width, spec.seed)
    if spec.tie_weights:
        embedding = keras.layers.ReversibleEmbedding(spec.vocab_size, spec.width, tie_weights=True,
                                                     embeddings_initializer=init, reverse_dtype=output_dtype(),
                                                     name="embedding")
    else:
        embedding = keras.layers.Embedding(spec.vocab_size, spec.width, embeddings_initializer=init, name="embedding")
    x = embedding(tokens)
    if spec.embedding_dropout and spec.dropout:
        x = keras.layers.Dropout(spec.dropout, seed=derived_seed(spec.seed, 2), name="embedding_dropout")(x)
    for k in range(spec.layers):
        seed = derived_seed(spec.seed, 100 * (k + 1))
        if k in slstm_at:
            block = SLSTMBlock(spec.heads, spec.conv_kernel, block_index=k, blocks=spec.layers, stateful=stateful,
                               seed=seed, dropout=spec.dropout, name=f"block_{k}")
        else:
            block = MLSTMBlock(spec.heads, spec.conv_kernel, mode=mode, blocks=spec.layers, stateful=stateful,
                               seed=seed, dropout=spec.dropout, name=f"block_{k}")
        x = block(x)
    x = norm("post_blocks_norm")(x)
    if spec.tie_weights:
        logits = embedding(x, reverse=True)
    else:
        logits = keras.layers.Dense(spec.vocab_size, use_bias=False, dtype=output_dtype(), name="logits",
                                    kernel_initializer=small_init(spec.width, derived_seed(spec.seed, 1)))(x)
    return keras.Model(tokens, logits, name="xlstm")
