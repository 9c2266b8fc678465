"""The run folder: config, history, checkpoints for --resume, TensorBoard logs and plots.

Every file is written to a temporary name and renamed into place, so a crash
or Ctrl-C at any moment leaves either the old file or the new one, never a
half-written one. A checkpoint is the model with its optimizer state
(`checkpoint-epochN.keras`) and `state.json`, which names that checkpoint and
is replaced only after the checkpoint is complete.
"""

import contextlib
import csv
import io
import json
import os
import time

import numpy as np

from training.errors import UserError

STATE = "state.json"


@contextlib.contextmanager
def replacing(path):
    """Yields a temporary name beside `path`; renames it to `path` only if the block finishes."""
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{name}")  # keeps the extension (.keras)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write(path, data, mode="w"):
    with replacing(path) as tmp, open(tmp, mode) as f:
        f.write(data)


def atomic_save_model(model, path):
    """model.save() to a temporary `.keras` name, then rename."""
    with replacing(path) as tmp:
        model.save(tmp)


def random_state_variables(model):
    """The model's variables that are neither weights nor optimizer state: dropout seeds, LSTM states."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


class RunFolder:
    """One training run's folder. Use `RunFolder.open(path, config, resume)`."""

    def __init__(self, path):
        self.path = path
        self._tensorboard = None

    def file(self, name):
        return os.path.join(self.path, name)

    @classmethod
    def open(cls, path, config, resume):
        """Creates a new run folder, or opens one to resume.

        Returns:
            (run, state): state is None for a new run, else the saved state
            (its "config" is the saved config, which the resumed run uses).
        """
        run = cls(path)
        state_path = run.file(STATE)
        if resume:
            if not os.path.isdir(path):
                raise UserError(f"cannot resume: the run folder {path} does not exist. Check --output-dir.")
            if not os.path.isfile(state_path):
                raise UserError(
                    f"cannot resume: {path} is not a run folder with a finished epoch (it has no {STATE}). "
                    f"Point --output-dir at a folder written by this script, or start a new run without --resume."
                )
            with open(state_path) as f:
                state = json.load(f)
            return run, state
        if os.path.isfile(state_path) or os.path.isfile(run.file("config.json")):
            raise UserError(
                f"the run folder {path} already holds a run. Pass --resume to continue it, or choose another "
                f"--output-dir; nothing in it was changed."
            )
        if os.path.isdir(path) and os.listdir(path):
            raise UserError(
                f"--output-dir {path} is not empty and is not a run folder; choose a new or empty folder so "
                f"that nothing in it is overwritten."
            )
        os.makedirs(path, exist_ok=True)
        run.write_json("config.json", config)
        return run, None

    def write_json(self, name, obj):
        atomic_write(self.file(name), json.dumps(obj, indent=2, ensure_ascii=False) + "\n")

    def save_checkpoint(self, model, state):
        """Saves model + optimizer for the finished epoch state["epoch"], then the state that names it."""
        import keras

        name = f"checkpoint-epoch{state['epoch']}.keras"
        atomic_save_model(model, self.file(name))
        previous = self._read_state()
        state = {**state, "checkpoint": name,
                 "random_state": [keras.ops.convert_to_numpy(v.value).tolist() for v in random_state_variables(model)]}
        self.write_json(STATE, state)
        self.write_history(state["history"])
        if previous and previous.get("checkpoint") not in (None, name):
            old = self.file(previous["checkpoint"])
            if os.path.exists(old):
                os.remove(old)

    def load_checkpoint(self, state):
        import keras

        import models  # noqa: F401  registers the custom layers

        path = self.file(state["checkpoint"])
        if not os.path.isfile(path):
            raise UserError(f"cannot resume: {path}, named in {self.file(STATE)}, is missing.")
        model = keras.models.load_model(path)
        for variable, value in zip(random_state_variables(model), state.get("random_state", [])):
            variable.assign(np.asarray(value, dtype=variable.dtype))
        return model

    def _read_state(self):
        if os.path.isfile(self.file(STATE)):
            with open(self.file(STATE)) as f:
                return json.load(f)
        return None

    def write_history(self, rows):
        if not rows:
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(self.file("history.csv"), buffer.getvalue())

    def log_scalars(self, epoch, scalars):
        """Epoch scalars for TensorBoard (`tensorboard --logdir RUN/tensorboard`).

        Written with the `tensorboard` package's own event writer, so the logs
        exist on every backend, TensorFlow installed or not.
        """
        if self._tensorboard is None:
            try:
                from tensorboard.summary.writer.event_file_writer import EventFileWriter
            except ImportError:
                self._tensorboard = False
                print("note: the tensorboard package is not installed, so no TensorBoard logs are written "
                      "(history.csv has every figure).")
            else:
                self._tensorboard = EventFileWriter(self.file("tensorboard"))
        if self._tensorboard:
            from tensorboard.compat.proto import event_pb2, summary_pb2

            values = [summary_pb2.Summary.Value(tag=key, simple_value=float(value)) for key, value in scalars.items()]
            self._tensorboard.add_event(event_pb2.Event(wall_time=time.time(), step=epoch,
                                                        summary=summary_pb2.Summary(value=values)))
            self._tensorboard.flush()

    def plot(self, rows, series, ylabel, name, title, logy=False):
        """A PNG of history columns `series` against the epoch."""
        from training.figures import pyplot

        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
        epochs = [row["epoch"] for row in rows]
        for key in series:
            ax.plot(epochs, [row[key] for row in rows], marker="o", label=key.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        save_figure(fig, self.file(name))
        plt.close(fig)


def save_figure(fig, path):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write(path, buffer.getvalue(), mode="wb")
