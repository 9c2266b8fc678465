"""Losses and metrics of the language models: nats, bits and perplexity."""

import keras
from keras import ops

from models import SERIALIZATION_PACKAGE


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
def sequence_loss(y_true, logits):
    """Σ over time steps of the cross-entropy, per sequence; Keras averages it over the batch.

    This is the cost of TensorFlow's PTB tutorial (summed over steps, averaged
    over the batch), so its learning rate 1.0 and clipping norm mean the same here.
    """
    return ops.sum(ops.sparse_categorical_crossentropy(y_true, logits, from_logits=True), axis=-1)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
def token_loss(y_true, logits):
    """The mean over time steps of the cross-entropy, per sequence: over the batch, the mean per token (nanoGPT's)."""
    return ops.mean(ops.sparse_categorical_crossentropy(y_true, logits, from_logits=True), axis=-1)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class Perplexity(keras.metrics.Metric):
    """exp(mean negative log-likelihood per token), accumulated over all tokens seen."""

    def __init__(self, name="perplexity", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        nll = ops.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        weight = ops.ones_like(nll) if sample_weight is None else ops.cast(sample_weight, nll.dtype)
        weight = ops.broadcast_to(weight, ops.shape(nll))
        self.total.assign_add(ops.cast(ops.sum(nll * weight), self.dtype))
        self.count.assign_add(ops.cast(ops.sum(weight), self.dtype))

    def result(self):
        return ops.exp(self.total / ops.maximum(self.count, 1.0))

