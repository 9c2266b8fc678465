"""The word- and character-level LSTM language model, built from its spec.

    tokens → embedding (or one-hot) → [dropout → LSTM] × layers → dropout → logits

With `tie_weights` the logits are h·Eᵀ + b with E the embedding matrix itself
(Inan et al. 2017; Press & Wolf 2017): one variable, used twice. The last
LSTM then has `embedding_size` units, as in AWD-LSTM, so that h and E match.

One builder serves `train_ptb.py` (Zaremba et al. 2014: a learned embedding as
wide as the LSTM, every weight uniform in ±init_scale) and `train_char_rnn.py`
(one-hot or a small embedding, Keras' default initializers). The spec is all a
run folder needs to rebuild the model at any batch size, sequence length and
statefulness: training, evaluation, sampling and `--resume` all build from it
and load weights.
"""

import dataclasses

import keras


@dataclasses.dataclass(frozen=True)
class LanguageModelSpec:
    vocab_size: int            # tokens in the vocabulary (from the data)
    units: int                 # LSTM units per layer
    layers: int                # stacked LSTMs
    embedding_size: int = 0    # width of the learned embedding; 0: one-hot tokens (a fixed identity embedding)
    dropout: float = 0.0       # on the embedding output, between the LSTMs and on the last LSTM output
    init_scale: float = 0.0    # > 0: every weight uniform in ±init_scale, LSTM biases 0; 0: Keras' initializers
    tie_weights: bool = False  # the softmax reuses the embedding matrix (the last LSTM has embedding_size units)
    cell: str = "custom"       # "custom" (models.LSTM) or "builtin" (keras.layers.LSTM)
    seed: int = 0              # seeds of the dropout masks (and of the initializers when init_scale > 0)
    kind: str = "language_model"


@keras.saving.register_keras_serializable(package="lstm_tf")
class OutputBias(keras.layers.Layer):
    """Adds a learned bias over the last axis: the softmax bias of a tied model (its weights are the embedding's)."""

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="bias")

    def call(self, inputs):
        return inputs + self.bias


def lstm_class(cell):
    """models.LSTM for "custom", keras.layers.LSTM for "builtin"."""
    from models.lstm import LSTM

    if cell not in ("custom", "builtin"):
        raise ValueError(f"cell must be 'custom' or 'builtin'; got {cell!r}.")
    return LSTM if cell == "custom" else keras.layers.LSTM


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
        return keras.initializers.RandomUniform(-spec.init_scale, spec.init_scale, seed=seed + offset)

    if spec.tie_weights and not spec.embedding_size:
        raise ValueError("tie_weights needs a learned embedding: set embedding_size > 0.")
    lstm = lstm_class(spec.cell)
    tokens = keras.Input(batch_size=batch_size, shape=(num_steps,), dtype="int32", name="tokens")
    if spec.tie_weights:
        embedding = keras.layers.ReversibleEmbedding(spec.vocab_size, spec.embedding_size, tie_weights=True,
                                                     embeddings_initializer=init(0, "uniform"), name="embedding")
        x = embedding(tokens)
    elif spec.embedding_size:
        x = keras.layers.Embedding(spec.vocab_size, spec.embedding_size, name="embedding",
                                   embeddings_initializer=init(0, "uniform"))(tokens)
    else:
        x = keras.layers.Embedding(spec.vocab_size, spec.vocab_size, embeddings_initializer="identity",
                                   trainable=False, name="one_hot")(tokens)
    for layer in range(spec.layers):
        if spec.dropout:
            name = "embedding_dropout" if layer == 0 else f"lstm_{layer - 1}_dropout"
            x = keras.layers.Dropout(spec.dropout, seed=seed + layer, name=name)(x)
        last = layer == spec.layers - 1
        units = spec.embedding_size if last and spec.tie_weights else spec.units
        x = lstm(units, return_sequences=True, stateful=stateful, unit_forget_bias=False,
                 kernel_initializer=init(10 * layer + 1, "glorot_uniform"),
                 recurrent_initializer=init(10 * layer + 2, "orthogonal"),
                 seed=seed + 100 + layer, name=f"lstm_{layer}")(x)
    if spec.dropout:
        x = keras.layers.Dropout(spec.dropout, seed=seed + spec.layers, name=f"lstm_{spec.layers - 1}_dropout")(x)
    if spec.tie_weights:
        logits = OutputBias(name="logits")(embedding(x, reverse=True))
    else:
        logits = keras.layers.Dense(spec.vocab_size, kernel_initializer=init(100, "glorot_uniform"),
                                    bias_initializer=init(101, "zeros"), name="logits")(x)
    return keras.Model(tokens, logits, name="language_model")
