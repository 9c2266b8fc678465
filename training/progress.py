"""Progress of `model.fit` on a terminal and in a log file."""

import sys
import time

import keras


class ProgressLines(keras.callbacks.Callback):
    """A line every `fraction` of an epoch's steps, for output sent to a file or a pipe.

    Keras' progress bar needs a terminal, and its `verbose=2` prints nothing
    until the epoch ends (minutes for PTB); this prints the step, the
    running figures, the time since the epoch began and an estimate of what
    is left of it. A language model's summed loss is left out where its
    nats per token are shown.
    """

    async_safe = True  # JAX: Keras calls the batch hooks on a worker thread, so the step loop never waits for them

    def __init__(self, fraction=0.05):
        super().__init__()
        self.fraction = fraction

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
        self.first_step_end = None
        steps = self.params.get("steps") or 0
        self.every = max(1, round(steps * self.fraction))

    def on_train_batch_end(self, batch, logs=None):
        steps = self.params.get("steps") or 0
        now = time.perf_counter()
        if batch == 0:
            self.first_step_end = now  # the first step also compiles: the estimate leaves it out
        if (batch + 1) % self.every == 0 or batch + 1 == steps:
            logs = logs or {}
            figures = " - ".join(f"{key}: {value:.4g}" for key, value in logs.items()
                                 if not (key == "loss" and "nats" in logs))
            print(f"  step {batch + 1}/{steps} - {now - self.start:.0f} s{self.time_left(batch, steps, now)} - "
                  f"{figures}", flush=True)

    def time_left(self, batch, steps, now):
        """", ~N s left" from the steps timed after the first, ", estimating" before any is, "" at the end."""
        if batch + 1 >= steps:
            return ""
        if batch < 1 or self.first_step_end is None:
            return ", estimating the time left"
        return f", ~{(now - self.first_step_end) / batch * (steps - batch - 1):.0f} s left"


class ScoringProgress(keras.callbacks.Callback):
    """A line every `seconds` while Keras scores for long (`model.evaluate`): what it scores, the batch, the time so
    far and an estimate of what is left (from the batches after the first, which also compiles). A short scoring
    prints nothing."""

    async_safe = True

    def __init__(self, what, seconds=10):
        super().__init__()
        self.what, self.seconds = what, seconds

    def on_test_begin(self, logs=None):
        self.start = self.shown = time.perf_counter()
        self.first_batch_end = None

    def on_test_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if batch == 0:
            self.first_batch_end = now
        steps = self.params.get("steps") or 0
        if now - self.shown >= self.seconds and batch >= 1 and batch + 1 < steps:
            self.shown = now
            left = (now - self.first_batch_end) / batch * (steps - batch - 1)
            print(f"  {self.what}: batch {batch + 1:,}/{steps:,}, {now - self.start:.0f} s, ~{left:.0f} s left",
                  flush=True)


def fit_options(*callbacks):
    """verbose and callbacks for `model.fit`: the progress bar on a terminal, ProgressLines otherwise."""
    if sys.stdout.isatty():
        return {"verbose": 1, "callbacks": list(callbacks)}
    return {"verbose": 0, "callbacks": [*callbacks, ProgressLines()]}
