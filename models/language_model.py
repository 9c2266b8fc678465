"""The word- and character-level LSTM language model, built from its spec.

    tokens → embedding (or one-hot) → [dropout → LSTM] × layers → dropout → logits

With `tie_weights` the logits are h·Eᵀ + b with E the embedding matrix itself
(Inan et al. 2017; Press & Wolf 2017): one variable, used twice. The last
LSTM then has `embedding_size` units, as in AWD-LSTM, so that h and E match.

The regularization of AWD-LSTM (Merity, Keskar & Socher 2017), each off by
default: `locked_dropout` draws one dropout mask per sequence and shares it over
the time steps (Gal & Ghahramani 2016) instead of a new mask every step, with
its own rate on the embedding output (`input_dropout`), between the LSTMs
(`dropout`) and on the last output (`output_dropout`); `embedding_dropout`
drops whole words (rows of E) for a batch; `weight_dropout` is DropConnect on
every LSTM's W_h (`models.LSTM(weight_dropout=...)`); `activation_penalty` and
`temporal_activation_penalty` are AR and TAR on the last LSTM's output.

With this project's LSTM the stacked layers and the dropout between them are
one `models.LSTMStack` layer ("lstms"), which runs steps and layers in one loop
(faster on a CPU; the same equations, summed in another order); `find_layer` and
`lstm_layers` look inside it.

`cell` picks the recurrent layer (`CELLS`: this project's LSTM, keras.layers.LSTM,
this project's GRU or keras.layers.GRU) and `variant` the LSTM variant of the
project's LSTM (`models.VARIANTS`); the layers keep the names lstm_0, lstm_1, …
whatever they are.

One builder serves `train_ptb.py` (Zaremba et al. 2014: a learned embedding as
wide as the LSTM, every weight uniform in ±init_scale) and `train_char_rnn.py`
(one-hot or a small embedding, Keras' default initializers). The spec is all a
run folder needs to rebuild the model at any batch size, sequence length and
statefulness: training, evaluation, sampling and `--resume` all build from it
and load weights.

Under a mixed-precision policy (`keras.config.set_dtype_policy("mixed_bfloat16")`)
the layers compute in bfloat16 and the logits in float32 (`output_dtype`).
"""

import dataclasses
import math

import keras

from models.cell import check_variant
from models.gru import GRU
from models.layer import LSTM
from models.seeds import derived_seed
from models.serialization import SERIALIZATION_PACKAGE
from models.stack import LSTMStack


@dataclasses.dataclass(frozen=True)
class LanguageModelSpec:
    vocab_size: int            # tokens in the vocabulary (from the data)
    units: int                 # LSTM units per layer
    layers: int                # stacked LSTMs
    embedding_size: int = 0    # width of the learned embedding; 0: one-hot tokens (a fixed identity embedding)
    dropout: float = 0.0       # on the embedding output, between the LSTMs and on the last LSTM output
    input_dropout: float | None = None   # on the embedding output instead of `dropout` (AWD's dropouti)
    output_dropout: float | None = None  # on the last LSTM output instead of `dropout` (AWD's dropout)
    locked_dropout: bool = False         # one mask per sequence for all its steps (variational dropout)
    embedding_dropout: float = 0.0       # whole words: rows of the embedding dropped for a batch (AWD's dropoute)
    weight_dropout: float = 0.0          # DropConnect on every LSTM's recurrent kernel (AWD's wdrop)
    activation_penalty: float = 0.0      # AR: α · mean(h²) of the dropped last LSTM output, per step
    temporal_activation_penalty: float = 0.0  # TAR: β · mean((h_t − h_{t−1})²) of the last LSTM output, per step
    init_scale: float = 0.0    # > 0: every weight uniform in ±init_scale, LSTM biases 0; 0: Keras' initializers
    tie_weights: bool = False  # the softmax reuses the embedding matrix (the last LSTM has embedding_size units)
    cell: str = "custom"       # a name of CELLS: "custom" (models.LSTM), "builtin" (keras.layers.LSTM), "gru", ...
    fused_layers: bool = True  # custom cell: the LSTMs as one models.LSTMStack (steps and layers in one loop);
                               # False: one layer after the other (run folders saved before LSTMStack)
    seed: int = 0              # seeds of the dropout masks (and of the initializers when init_scale > 0)
    variant: str = "vanilla"   # custom cell: the LSTM variant (models.VARIANTS)
    kind: str = "language_model"

    def build(self, **shape):
        """The Keras model of this spec (`build_language_model`)."""
        return build_language_model(self, **shape)

    # What the training recipe, inference and the experiments ask of a language model (models.gpt.GPTSpec answers
    # the same questions for a transformer).
    carries_state = True     # its state runs on from batch to batch (streams) and through a whole text (in order)
    has_cell = True          # --cell and --variant choose its recurrent layer
    loss_form = "sequence"   # the training loss: summed over a sequence's steps ("token": the mean per token)
    config_fields_before = {}  # config fields that had other names in older run folders (new: old)

    @classmethod
    def from_config(cls, config, vocab_size, cell="custom", variant="vanilla", seed=0):
        """The spec of a training config (training.recipe.LanguageModelConfig): its model-side fields."""
        fields = {f.name for f in dataclasses.fields(cls)} - {"vocab_size", "cell", "variant", "seed", "kind"}
        return cls(vocab_size=vocab_size, cell=cell, variant=variant, seed=seed,
                   **{name: getattr(config, name) for name in fields if hasattr(config, name)})

    sequence_field = "num_steps"  # the config field of the tokens per training row: truncated BPTT's steps

    @staticmethod
    def run_label(cell, variant):
        return cell_label(cell, variant)

    @property
    def context_length(self):
        """None: the state carries any context; there is no longest one."""
        return None

    @property
    def family(self):
        """"LSTM" or "GRU", in tables."""
        return "GRU" if self.cell in ("gru", "builtin-gru") else "LSTM"

    def describe(self, cell_title):
        """The model in a few words, for the first line of a run (`cell_title`: the run's cell and variant)."""
        return f"{self.layers}×{self.units} {cell_title}"

    @staticmethod
    def no_weight_decay(model):
        """The variables weight decay leaves alone: none (the L2 of the PTB recipe decays every weight)."""
        return []

    def parameter_summary(self, model):
        """The trainable parameters, as text."""
        return f"{trainable_count(model):,}"


def trainable_count(model):
    """The number of trainable parameters of `model`."""
    return sum(math.prod(v.shape) for v in model.trainable_weights)


def cell_label(cell, variant):
    """A recurrent model in a run folder's name: the cell, and the LSTM variant unless vanilla."""
    return cell if variant == "vanilla" else f"{cell}-{variant}"


def output_dtype():
    """"float32" under a mixed-precision global policy, else None (the policy's own): the dtype of the output layers.

    The softmax and the loss need float32's mantissa: in bfloat16 a logit of
    10 is only known to within 0.03.
    """
    return "float32" if keras.config.dtype_policy().compute_dtype != "float32" else None


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class OutputBias(keras.layers.Layer):
    """Adds a learned bias over the last axis: the softmax bias of a tied model (its weights are the embedding's)."""

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="bias")

    def call(self, inputs):
        return inputs + self.bias


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class EmbeddingDropout(keras.layers.Layer):
    """Drops whole words while training: every occurrence of a dropped word in the batch embeds to zeros.

    Equivalent to zeroing random rows of the embedding matrix for one batch and
    scaling the others by 1/(1 − rate) (AWD-LSTM's `embedded_dropout`), but
    applied to the looked-up vectors: one mask entry per vocabulary word.

    Call arguments: `embedded` (batch, T, width), `tokens` (batch, T), `training`.
    """

    def __init__(self, rate, vocab_size, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.vocab_size, self.seed = float(rate), int(vocab_size), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, embedded, tokens, training=False):
        if not training or not self.rate:
            return embedded
        keep = keras.random.uniform((self.vocab_size,), seed=self.seed_generator) >= self.rate
        scale = keras.ops.cast(keep, embedded.dtype) / (1.0 - self.rate)
        return embedded * keras.ops.expand_dims(keras.ops.take(scale, tokens, axis=0), -1)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "vocab_size": self.vocab_size, "seed": self.seed}


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class ActivationPenalty(keras.layers.Layer):
    """AR and TAR (Merity et al. 2017): penalties on the size and the step-to-step change of an LSTM's output.

        loss += α · Σ_t mean(h̃_t²) + β · Σ_{t>1} mean((h_t − h_{t−1})²)

    h̃ is the output after dropout, h before; the means run over the batch and
    the units, the sums over the steps, as the language models' loss sums its
    cross-entropy over the steps (so α, β are AWD-LSTM's per-token weights).
    Only while training. The layer passes `dropped` through and adds each
    batch's penalty to its non-trainable `penalty_sum` (and 1 to `batches`),
    so that the training perplexity can leave the penalty out
    (`mean_penalty()`, `reset_penalty()`).

    Call arguments: `dropped` and `raw`, both (batch, T, units); `training`.
    """

    def __init__(self, activation=0.0, temporal=0.0, **kwargs):
        super().__init__(**kwargs)
        self.activation, self.temporal = float(activation), float(temporal)

    def build(self, dropped_shape, raw_shape=None):
        # float32 under mixed precision too (not autocast): bfloat16 counts no further than 256
        self.penalty_sum = self.add_weight(shape=(), initializer="zeros", trainable=False, autocast=False,
                                           name="penalty_sum")
        self.batches = self.add_weight(shape=(), initializer="zeros", trainable=False, autocast=False, name="batches")

    def mean_penalty(self):
        """The mean penalty per batch since the last reset_penalty() (0 before any training batch)."""
        batches = float(keras.ops.convert_to_numpy(self.batches))
        return float(keras.ops.convert_to_numpy(self.penalty_sum)) / batches if batches else 0.0

    def reset_penalty(self):
        self.penalty_sum.assign(0.0)
        self.batches.assign(0.0)

    def call(self, dropped, raw, training=False):
        if training and (self.activation or self.temporal):
            ops = keras.ops
            dropped_32, raw_32 = ops.cast(dropped, "float32"), ops.cast(raw, "float32")  # the sums in float32
            penalty = 0.0
            if self.activation:
                penalty += self.activation * ops.sum(ops.mean(ops.square(dropped_32), axis=(0, 2)))
            if self.temporal:
                penalty += self.temporal * ops.sum(ops.mean(ops.square(raw_32[:, 1:] - raw_32[:, :-1]), axis=(0, 2)))
            self.add_loss(penalty)
            self.penalty_sum.assign_add(keras.ops.stop_gradient(penalty))
            self.batches.assign_add(1.0)
        return dropped

    def get_config(self):
        return {**super().get_config(), "activation": self.activation, "temporal": self.temporal}


def find_layer(model, name):
    """The layer called `name` in `model`, also inside an LSTMStack (whose LSTMs and dropouts are nested)."""
    for layer in model.layers:
        if layer.name == name:
            return layer
        if isinstance(layer, LSTMStack):
            for inner in layer.lstms + layer.dropouts:
                if inner.name == name:
                    return inner
    raise ValueError(f"the model has no layer called {name!r}.")


def lstm_layers(model):
    """The model's recurrent layers (ours or Keras' LSTM or GRU), bottom first, also those inside an LSTMStack."""
    found = []
    for layer in model.layers:
        if isinstance(layer, LSTMStack):
            found += layer.lstms
        elif isinstance(layer, tuple(CELLS.values())):
            found.append(layer)
        elif isinstance(layer, keras.layers.Bidirectional):
            found += [layer.forward_layer, layer.backward_layer]
    return found


# The recurrent layers a model spec may name as its `cell`, and what each is.
CELLS = {"custom": LSTM, "builtin": keras.layers.LSTM, "gru": GRU, "builtin-gru": keras.layers.GRU}
CELL_NAMES = {"custom": "this project's LSTM", "builtin": "keras.layers.LSTM", "gru": "this project's GRU",
              "builtin-gru": "keras.layers.GRU"}

# What a spec's `weight_dropout` drops: the recurrent kernel, which only this project's layers can drop.
WEIGHT_DROP_CELLS = ("custom", "gru")


def check_cell(cell, variant="vanilla", weight_dropout=0.0):
    """A ValueError that says what to choose instead, for an unknown `cell` or `variant`, a variant of a cell that has
    none, or weight dropout on a cell that cannot drop its recurrent kernel (the command line shows the same words)."""
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}; choose one of "
                         f"{', '.join(f'{name} ({what})' for name, what in CELL_NAMES.items())}.")
    check_variant(variant)
    if variant != "vanilla" and cell != "custom":
        raise ValueError(f"the LSTM variants are options of this project's LSTM (cell custom); cell {cell} "
                         f"({CELL_NAMES[cell]}) has no variants. Choose cell custom, or the vanilla variant.")
    if weight_dropout and cell not in WEIGHT_DROP_CELLS:
        raise ValueError(f"weight dropout ({weight_dropout}) is DropConnect on the recurrent kernel, which only "
                         f"cells {' and '.join(WEIGHT_DROP_CELLS)} can drop: {CELL_NAMES[cell]} has no such option. "
                         f"Choose cell {' or '.join(WEIGHT_DROP_CELLS)}, or no weight dropout.")


def recurrent_class(cell, variant="vanilla"):
    """The layer class of a spec's `cell` (`CELLS`), checked with its `variant` (`check_cell`).

    Only "custom" (this project's LSTM) has the variants; the others are vanilla.
    """
    check_cell(cell, variant)
    return CELLS[cell]


def recurrent_options(cell, variant, **lstm_options):
    """The constructor options of `CELLS[cell]` beyond the shared ones: the LSTMs' `lstm_options`, the variant."""
    if cell in ("gru", "builtin-gru"):
        return {}
    return {**lstm_options, **({"variant": variant} if cell == "custom" else {})}


def build_language_model(spec, batch_size=None, num_steps=None, stateful=False):
    """The model of `spec` for inputs of shape (batch_size, num_steps); None leaves an axis free.

    With `stateful=True` (which needs a batch size) every LSTM starts each batch
    from the state the previous batch left, as the training and evaluation
    streams and the sampler need.
    """
    seed = spec.seed

    def init(offset, default):  # the initializer of one weight, seeded by its offset
        if not spec.init_scale:
            return default
        return keras.initializers.RandomUniform(-spec.init_scale, spec.init_scale, seed=derived_seed(seed, offset))

    if spec.tie_weights and not spec.embedding_size:
        raise ValueError("tie_weights needs a learned embedding: set embedding_size > 0.")
    check_cell(spec.cell, spec.variant, spec.weight_dropout)
    lstm = CELLS[spec.cell]
    options = {"weight_dropout": spec.weight_dropout} if spec.weight_dropout else {}

    def dropout(rate, offset, name):  # per step (Zaremba) or one mask per sequence (locked)
        noise_shape = (None, 1, None) if spec.locked_dropout else None
        return keras.layers.Dropout(rate, noise_shape=noise_shape, seed=derived_seed(seed, offset), name=name)

    tokens = keras.Input(batch_size=batch_size, shape=(num_steps,), dtype="int32", name="tokens")
    if spec.tie_weights:
        embedding = keras.layers.ReversibleEmbedding(spec.vocab_size, spec.embedding_size, tie_weights=True,
                                                     embeddings_initializer=init(0, "uniform"),
                                                     reverse_dtype=output_dtype(), name="embedding")
        x = embedding(tokens)
    elif spec.embedding_size:
        x = keras.layers.Embedding(spec.vocab_size, spec.embedding_size, name="embedding",
                                   embeddings_initializer=init(0, "uniform"))(tokens)
    if spec.embedding_dropout and spec.embedding_size:
        x = EmbeddingDropout(spec.embedding_dropout, spec.vocab_size, seed=derived_seed(seed, 200), name="word_dropout")(x, tokens)
    if not spec.embedding_size:
        x = keras.layers.Embedding(spec.vocab_size, spec.vocab_size, embeddings_initializer="identity",
                                   trainable=False, name="one_hot")(tokens)
    lstms = []
    for layer in range(spec.layers):
        last = layer == spec.layers - 1
        units = spec.embedding_size if last and spec.tie_weights else spec.units
        lstm_options = {"unit_forget_bias": False}
        if spec.variant == "peephole":
            lstm_options["peephole_initializer"] = init(10 * layer + 3, "zeros")
        lstms.append(lstm(units, return_sequences=True, stateful=stateful,
                          kernel_initializer=init(10 * layer + 1, "glorot_uniform"),
                          recurrent_initializer=init(10 * layer + 2, "orthogonal"),
                          seed=derived_seed(seed, 100 + layer), name=f"lstm_{layer}", **options,
                          **recurrent_options(spec.cell, spec.variant, **lstm_options)))
    input_rate = spec.dropout if spec.input_dropout is None else spec.input_dropout
    if input_rate:
        x = dropout(input_rate, 0, "embedding_dropout")(x)
    if spec.cell == "custom" and spec.fused_layers:
        # The same layers and dropouts (same names and seeds), run as one loop over steps and layers.
        x = LSTMStack(lstms, dropout=spec.dropout, locked_dropout=spec.locked_dropout, seed=seed, name="lstms")(x)
    else:
        for layer, lstm_layer in enumerate(lstms):
            if layer and spec.dropout:
                x = dropout(spec.dropout, layer, f"lstm_{layer - 1}_dropout")(x)
            x = lstm_layer(x)
    raw = x
    rate = spec.dropout if spec.output_dropout is None else spec.output_dropout
    if rate:
        x = dropout(rate, spec.layers, f"lstm_{spec.layers - 1}_dropout")(x)
    if spec.activation_penalty or spec.temporal_activation_penalty:
        x = ActivationPenalty(spec.activation_penalty, spec.temporal_activation_penalty, name="activation_penalty")(
            x, raw)
    if spec.tie_weights:
        logits = OutputBias(name="logits", dtype=output_dtype())(embedding(x, reverse=True))
    else:
        logits = keras.layers.Dense(spec.vocab_size, kernel_initializer=init(100, "glorot_uniform"),
                                    bias_initializer=init(101, "zeros"), dtype=output_dtype(), name="logits")(x)
    return keras.Model(tokens, logits, name="language_model")
