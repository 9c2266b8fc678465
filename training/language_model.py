"""Pieces the word- and character-level language models share: stateful streams and their evaluation."""

import math
import time

import numpy as np

import keras

from datasets import stream_batches
from training.metrics import Perplexity


def reset_states(model):
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()


def stream_rows(ids, batch_size, num_steps):
    """stream_batches laid out as rows for model.fit(batch_size=..., shuffle=False): batch i = rows i·B..(i+1)·B."""
    x, y = stream_batches(ids, batch_size, num_steps)
    return x.reshape(-1, num_steps), y.reshape(-1, num_steps)


def whole_stream_rows(ids, num_steps):
    """Every prediction of a stream for batch size 1: x, y and a weight that is 0 on the padded tail."""
    ids = np.asarray(ids, dtype=np.int32)
    targets = len(ids) - 1
    rows = -(-targets // num_steps)
    x = np.zeros(rows * num_steps, np.int32)
    y = np.zeros(rows * num_steps, np.int32)
    w = np.zeros(rows * num_steps, np.float32)
    x[:targets], y[:targets], w[:targets] = ids[:-1], ids[1:], 1.0
    return x.reshape(rows, num_steps), y.reshape(rows, num_steps), w.reshape(rows, num_steps)


def compile_evaluator(model):
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=[Perplexity()])
    return model


def evaluate_perplexity(model, x, y, batch_size, sample_weight=None, verbose=0):
    """Perplexity over the rows (x, y) with the state carried from batch to batch, starting from zero."""
    reset_states(model)
    logs = model.evaluate(x, y, batch_size=batch_size, sample_weight=sample_weight, verbose=verbose, return_dict=True)
    reset_states(model)
    return float(logs["perplexity"])


class PerplexityFromLoss(keras.callbacks.Callback):
    """Adds perplexity = exp(loss / tokens_per_sequence) to the logs (and so to the progress bar).

    The training loss is `sequence_loss` (summed over the steps of a sequence),
    so perplexity costs nothing extra: no second softmax over the vocabulary.
    """

    def __init__(self, tokens_per_sequence):
        super().__init__()
        self.tokens_per_sequence = tokens_per_sequence

    def _add(self, logs):
        if logs and "loss" in logs:
            logs["perplexity"] = math.exp(min(float(logs["loss"]) / self.tokens_per_sequence, 700.0))

    def on_train_batch_end(self, batch, logs=None):
        self._add(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._add(logs)


class EpochTimer(keras.callbacks.Callback):
    """Wall time of the training part of an epoch (for words or characters per second)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start
