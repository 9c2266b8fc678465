"""The learning rate of every epoch, for the three scripts."""

import math


def learning_rate(config, epoch):
    """The learning rate of `epoch` (counted from 0) under `config.lr_schedule`.

    - "step": learning_rate · lr_decay^max(epoch + 1 − decay_after, 0): constant
      for `decay_after` epochs, then multiplied by `lr_decay` every epoch
      (TensorFlow's PTB tutorial; lr_decay 1 keeps it constant).
    - "book": the same formula with `decay_after` = `epochs`, as the book's
      transcription of the tutorial has it, so it never decays.
    - "cosine": from learning_rate down to 0 at the end, half a cosine over `epochs`.
    """
    if config.lr_schedule == "cosine":
        return config.learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
    decay_after = config.epochs if config.lr_schedule == "book" else config.decay_after
    return config.learning_rate * config.lr_decay ** max(epoch + 1 - decay_after, 0)


def start_epoch(model, config, epoch):
    """Sets the optimizer's learning rate for `epoch`, announces the epoch and returns the rate."""
    rate = learning_rate(config, epoch)
    model.optimizer.learning_rate.assign(rate)
    print(f"Epoch {epoch + 1}/{config.epochs}  learning rate {rate:.4g}", flush=True)
    return rate
