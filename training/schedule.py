"""The learning rate of every epoch (or, warmed up and decayed by a cosine, of every step), for the three scripts."""

import math

import keras

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
class WarmupCosine(keras.optimizers.schedules.CosineDecay):
    """nanoGPT's get_lr(step): linear warm-up to `peak`, then half a cosine down to `minimum` at `decay_steps`.

        step < warmup_steps:   peak · (step + 1) / (warmup_steps + 1)
        after:                 minimum + ½ (1 + cos(π · r)) (peak − minimum),
                               r = (step − warmup_steps) / (decay_steps − warmup_steps), at most 1

    Keras' `CosineDecay` with warm-up, set up to be exactly that: its warm-up
    runs linearly from `initial_learning_rate` at step 0 to `warmup_target` at
    `warmup_steps`, so starting it at peak / (warmup_steps + 1) gives nanoGPT's
    peak · (step + 1) / (warmup_steps + 1); its cosine then runs over
    `decay_steps` − `warmup_steps` steps down to `alpha` · peak = `minimum`. In
    float32 it equals nanoGPT's get_lr (float64) within 7e-10 at every step of
    the project's configs (relative 5e-7, float32's rounding; tests/test_library_apis.py).
    With `decay_steps` ≤ `warmup_steps` the rate is `peak` at the end of the
    warm-up and `minimum` after. The step is the optimizer's count of updates,
    saved with its checkpoint, so a resumed run goes on where it was; the
    arguments and config are those of the schedule saved by earlier runs.
    """

    def __init__(self, peak, minimum, warmup_steps, decay_steps):
        self.peak, self.minimum, self.end = float(peak), float(minimum), int(decay_steps)
        warmup_steps = int(warmup_steps)
        super().__init__(initial_learning_rate=self.peak / (warmup_steps + 1),
                         decay_steps=max(self.end - warmup_steps, 1),  # Keras' decay_steps: those of the cosine
                         alpha=self.minimum / self.peak if self.peak else 0.0, warmup_target=self.peak,
                         warmup_steps=warmup_steps)

    def get_config(self):  # the arguments above, as saved by the earlier, hand-written schedule
        return {"peak": self.peak, "minimum": self.minimum, "warmup_steps": self.warmup_steps,
                "decay_steps": self.end}


def start_epoch(model, config, epoch):
    """Sets the optimizer's learning rate for `epoch` (a per-step schedule sets its own), announces it, returns it."""
    if config.lr_schedule == "warmup-cosine":
        rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    else:
        rate = learning_rate(config, epoch)
        model.optimizer.learning_rate.assign(rate)
    print(f"Epoch {epoch + 1}/{config.epochs}  learning rate {rate:.4g}", flush=True)
    return rate
