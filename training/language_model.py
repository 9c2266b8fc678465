"""The stateful language model's epoch: fitting rows in order from zero states, perplexity, the history row."""

import math
import time

import keras

from datasets.batching import batches
from training.metrics import Perplexity
from training.progress import ScoringProgress, fit_options


def reset_states(model):
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()


def _no_loss(y_true, logits):
    """A loss that costs nothing: evaluation needs only the Perplexity metric, and Keras' evaluate needs a loss."""
    return keras.ops.zeros(keras.ops.shape(logits)[:-1])  # one per token: any sample weight fits


def compile_evaluator(model):
    """Compiles `model` for evaluate_perplexity: one softmax over the vocabulary per batch, in the metric.

    A weighted metric: Keras applies evaluate's sample_weight to `weighted_metrics` only, and the weights
    leave out the predictions a read must not count (a padded tail, a window's part scored before).
    """
    model.compile(loss=_no_loss, weighted_metrics=[Perplexity()])
    return model


def evaluate_perplexity(model, x, y, batch_size, sample_weight=None, verbose=0, progress=None):
    """Perplexity over the rows (x, y) with the state carried from batch to batch, starting from zero.

    `progress`: what is scored, for a progress line every few seconds of a long scoring (`ScoringProgress`).
    """
    reset_states(model)
    callbacks = [ScoringProgress(progress)] if progress and not verbose else []
    logs = model.evaluate(**batches(x, y, batch_size, sample_weight), verbose=verbose, return_dict=True,
                          callbacks=callbacks)
    reset_states(model)
    return float(logs["perplexity"])


class PerplexityFromLoss(keras.callbacks.Callback):
    """Adds nats = loss / tokens_per_sequence and perplexity = exp(nats) to the logs (and the progress lines).

    The training loss is `sequence_loss` (summed over the steps of a sequence),
    so perplexity costs nothing extra: no second softmax over the vocabulary.
    With AR/TAR (`models.language_model.ActivationPenalty`) the loss also holds
    the penalty, which the perplexity leaves out: exactly at the end of the
    epoch; in the progress bar, as far as the backend has written the layer's
    running sum (TensorFlow: every batch; JAX: at the end of the epoch).

    On JAX it runs on Keras' callback thread (`async_safe`): reading the loss
    of batch n there does not hold back the dispatch of batch n + 1, which on
    a GPU would otherwise wait for each step to finish.
    """

    async_safe = True

    def __init__(self, tokens_per_sequence):
        super().__init__()
        self.tokens_per_sequence = tokens_per_sequence

    def on_epoch_begin(self, epoch, logs=None):
        self.penalty_layers = [layer for layer in self.model.layers if hasattr(layer, "mean_penalty")]
        for layer in self.penalty_layers:
            layer.reset_penalty()

    def _add(self, logs, read_penalty=True):
        if logs and "loss" in logs:
            penalty = sum(layer.mean_penalty() for layer in self.penalty_layers) if read_penalty else 0.0
            nats = min((float(logs["loss"]) - penalty) / self.tokens_per_sequence, 700.0)
            logs["nats"], logs["perplexity"] = nats, math.exp(nats)

    def on_train_batch_end(self, batch, logs=None):
        # JAX keeps the variables off the model until the epoch ends; reading them here, on Keras' callback
        # thread, would race the step loop (a donated buffer), and they would not hold this epoch's sum yet.
        self._add(logs, read_penalty=keras.backend.backend() != "jax")

    def on_epoch_end(self, epoch, logs=None):
        self._add(logs)


class EpochTimer(keras.callbacks.Callback):
    """Wall time of the training part of an epoch (for words or characters per second)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def fit_epoch(model, x, y, batch_size, tokens_per_sequence, callbacks=()):
    """One epoch over the rows (x, y) in order, from zero LSTM states (with `callbacks` besides its own).

    Args:
        tokens_per_sequence: The tokens the loss of a row sums over (1 for a mean per token).

    Returns:
        (train perplexity, seconds of training).
    """
    reset_states(model)
    timer = EpochTimer()
    logs = model.fit(**batches(x, y, batch_size), shuffle=False, epochs=1,
                     **fit_options(PerplexityFromLoss(tokens_per_sequence), timer, *callbacks)).history
    return float(logs["perplexity"][-1]), timer.seconds


def epoch_row(learning_rate, train_perplexity, valid_perplexity, tokens, seconds, unit):
    """The history row of a language model's epoch: perplexities, nats, bits, speed."""
    return {"learning_rate": learning_rate, "train_perplexity": train_perplexity, "valid_perplexity": valid_perplexity,
            "train_nats": math.log(train_perplexity), "valid_nats": math.log(valid_perplexity),
            "valid_bits": math.log2(valid_perplexity), f"{unit}s_per_second": tokens / seconds,
            "epoch_seconds": seconds}


def print_epoch(row, unit):
    print(f"Epoch {row['epoch']}: train perplexity {row['train_perplexity']:.3f}, valid perplexity "
          f"{row['valid_perplexity']:.3f} ({row['valid_nats']:.4f} nats/{unit}), "
          f"{row[f'{unit}s_per_second']:,.0f} {unit}s/s, {row['epoch_seconds']:.0f} s", flush=True)
