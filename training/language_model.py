"""Pieces the word- and character-level language models share: stateful streams and their evaluation."""

import math
import sys
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


def _no_loss(y_true, logits):
    """A loss that costs nothing: evaluation needs only the Perplexity metric, and Keras' evaluate needs a loss."""
    return keras.ops.zeros(keras.ops.shape(logits)[:1])


def compile_evaluator(model):
    """Compiles `model` for evaluate_perplexity: one softmax over the vocabulary per batch, in the metric."""
    model.compile(loss=_no_loss, metrics=[Perplexity()])
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


def fit_epochs(run, model, rows, *, batch_size, tokens_per_sequence, epochs, state, settings, learning_rate,
               evaluate_valid, title, unit, after_epoch=None):
    """The epoch loop of a language model, with a checkpoint after every epoch.

    `rows` is (x, y), the same training rows every epoch (stream rows for a
    stateful model), or a function epoch → (x, y) for rows drawn anew each
    epoch (it must give the same rows for the same epoch, so that a resumed
    run sees the data an uninterrupted one would).

    Each epoch: set the learning rate, reset the LSTM states, fit on the
    rows in order, measure the valid perplexity with
    `evaluate_valid(model)`, then write the checkpoint, history.csv, the
    TensorBoard scalars and the curves. `after_epoch(epoch, row)` may add
    columns to the row (and save a model). Resumes from `state` if given.

    Returns:
        The history: one dict per finished epoch.
    """
    history, first_epoch = (state["history"], state["epoch"]) if state else ([], 0)
    for epoch in range(first_epoch, epochs):
        epoch_start = time.perf_counter()
        lr = learning_rate(epoch)
        model.optimizer.learning_rate.assign(lr)
        print(f"Epoch {epoch + 1}/{epochs}  learning rate {lr:.4g}")
        x, y = rows(epoch) if callable(rows) else rows
        reset_states(model)
        timer = EpochTimer()
        logs = model.fit(x, y, batch_size=batch_size, shuffle=False, epochs=1,
                         verbose=1 if sys.stdout.isatty() else 2,
                         callbacks=[PerplexityFromLoss(tokens_per_sequence), timer]).history
        valid_ppl = evaluate_valid(model)
        train_ppl = float(logs["perplexity"][-1])
        row = {"epoch": epoch + 1, "learning_rate": lr, "train_perplexity": train_ppl, "valid_perplexity": valid_ppl,
               "train_nats": math.log(train_ppl), "valid_nats": math.log(valid_ppl),
               "valid_bits": math.log2(valid_ppl), f"{unit}s_per_second": x.size / timer.seconds,
               "epoch_seconds": timer.seconds}
        row.update((after_epoch(epoch, row) if after_epoch else None) or {})
        history.append(row)
        print(f"Epoch {epoch + 1}: train perplexity {train_ppl:.3f}, valid perplexity {valid_ppl:.3f} "
              f"({row['valid_nats']:.4f} nats/{unit}), {row[f'{unit}s_per_second']:,.0f} {unit}s/s, {timer.seconds:.0f} s")
        row["wall_seconds"] = time.perf_counter() - epoch_start  # fit + validation + samples, before saving
        run.save_checkpoint(model, {"epoch": epoch + 1, "history": history, "settings": settings})
        run.log_scalars(epoch + 1, {k: v for k, v in row.items() if k != "epoch" and isinstance(v, (int, float))})
        run.plot(history, ["train_perplexity", "valid_perplexity"], "perplexity", "perplexity.png", title, logy=True)
    return history
