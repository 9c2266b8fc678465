"""The learning rate of every epoch (or, warmed up and decayed by a cosine, of every step), for the three scripts."""

import math

import keras
from keras import ops

from models import SERIALIZATION_PACKAGE


def learning_rate(config, epoch):
    """The learning rate of `epoch` (counted from 0) under `config.lr_schedule`.

    - "step": learning_rate · lr_decay^max(epoch + 1 − decay_after, 0): constant
      for `decay_after` epochs, then multiplied by `lr_decay` every epoch
      (TensorFlow's PTB tutorial; lr_decay 1 keeps it constant).
    - "book": the same formula with `decay_after` = `epochs`, as the book's
      transcription of the tutorial has it, so it never decays.
    - "cosine": from learning_rate down to 0 at the end, half a cosine over `epochs`.
    - "warmup-cosine": set every step by the optimizer's `WarmupCosine`; here the rate the epoch starts at.
    """
    if config.lr_schedule == "cosine":
        return config.learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
    decay_after = config.epochs if config.lr_schedule == "book" else config.decay_after
    return config.learning_rate * config.lr_decay ** max(epoch + 1 - decay_after, 0)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """nanoGPT's get_lr(step): linear warm-up to `peak`, then half a cosine down to `minimum` at `decay_steps`.

        step < warmup_steps:   peak · (step + 1) / (warmup_steps + 1)
        after:                 minimum + ½ (1 + cos(π · r)) (peak − minimum),
                               r = (step − warmup_steps) / (decay_steps − warmup_steps), at most 1

    The step is the optimizer's count of updates, saved with its checkpoint, so a resumed run goes on where it was.

    Keras' `CosineDecay(initial_learning_rate=peak / (warmup_steps + 1), decay_steps=decay_steps − warmup_steps,
    alpha=minimum / peak, warmup_target=peak, warmup_steps=warmup_steps)` is the same function, and both equal
    nanoGPT's get_lr within 7e-10 at every step of the project's configs; but in float32 the two round differently
    at a third or more of the steps (by up to 2.3e-10), which changes a transformer run's figures in their fifth
    digit and would resume a saved run on other rates than it trained with. So the schedule stays this one
    (tests/test_library_apis.py measures both).
    """

    def __init__(self, peak, minimum, warmup_steps, decay_steps):
        self.peak, self.minimum = float(peak), float(minimum)
        self.warmup_steps, self.decay_steps = int(warmup_steps), int(decay_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = self.peak * (step + 1) / (self.warmup_steps + 1)
        ratio = ops.minimum((step - self.warmup_steps) / max(self.decay_steps - self.warmup_steps, 1), 1.0)
        cosine = self.minimum + 0.5 * (1 + ops.cos(math.pi * ratio)) * (self.peak - self.minimum)
        return ops.where(step < self.warmup_steps, warm, cosine)

    def get_config(self):
        return {"peak": self.peak, "minimum": self.minimum, "warmup_steps": self.warmup_steps,
                "decay_steps": self.decay_steps}


def start_epoch(model, config, epoch):
    """Sets the optimizer's learning rate for `epoch` (a per-step schedule sets its own), announces it, returns it."""
    if config.lr_schedule == "warmup-cosine":
        rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    else:
        rate = learning_rate(config, epoch)
        model.optimizer.learning_rate.assign(rate)
    print(f"Epoch {epoch + 1}/{config.epochs}  learning rate {rate:.4g}", flush=True)
    return rate
