"""The run folder: what a run trains, its history, checkpoints for --resume, TensorBoard logs and plots.

    run = RunFolder.open(path, settings, resume)      # new, or the saved settings and history
    run.begin(model_spec, vocabulary, ...)             # config.json (with the model's spec), vocab.json
    for epoch in run.epochs(total):
        ...                                            # train, validate
        run.end_epoch(model, row)                      # keep the best model, checkpoint, history, logs, plots

Every file is written to a temporary name and renamed into place, so a crash
or Ctrl-C at any moment leaves either the old file or the new one, never a
half-written one. A checkpoint is the training model with its optimizer state
(`checkpoint-epochN.keras`) and `state.json`, which names that checkpoint and
is replaced only after the checkpoint is complete. A folder holds a run once
an epoch has finished (it has a state.json); until then it can be started
again, with or without --resume.
"""

import csv
import dataclasses
import fcntl
import io
import json
import os
import time

import numpy as np

import keras

from models import build_model
from training.errors import AT_EXIT, UserError, raise_if_signalled
from training.figures import plt, save_figure
from training.files import TMP_PREFIX, atomic_save_model, atomic_write

STATE = "state.json"

_locks = {}  # run folder → (file descriptor holding its lock, whether this process created the folder)


def lock_folder(path, created=False):
    """Makes `path` this process's run folder: an exclusive lock on it until `release_folders()` or the process ends.

    The lock is the kernel's (flock), so it goes with the process however it
    ends (SIGKILL included): there is no stale lock to clean up after a crash.
    """
    path = os.path.abspath(path)
    if path in _locks:
        return
    created = created or not os.path.exists(path)
    try:
        os.makedirs(path, exist_ok=True)
        descriptor = os.open(path, os.O_RDONLY)
    except OSError as error:
        why = error.strerror or str(error)
        if os.path.islink(path) and not os.path.exists(path):  # makedirs says only "File exists"
            why = f"it is a symbolic link to {os.readlink(path)}, which leads nowhere (a missing target or a loop)"
        raise UserError(f"the run folder {path} cannot be created or opened ({why}); choose an --output-dir in a "
                        f"folder you can write to.") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise UserError(f"another process is training the run in {path} right now. Wait for it to finish (then "
                        f"--resume continues it), or choose another --output-dir; nothing in it was changed.") from None
    _locks[path] = (descriptor, created)


def release_folders():
    """Releases this process's run folders; one it created and left empty (a start that failed) is removed."""
    for path, (descriptor, created) in list(_locks.items()):
        os.close(descriptor)
        del _locks[path]
        if created and os.path.isdir(path) and not os.listdir(path):
            os.rmdir(path)


AT_EXIT.append(release_folders)


def minutes(seconds):
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def run_estimate(epochs_here, done, total, seconds_here, seconds_before=0.0):
    """'  run: 3/14 epochs, 7.5 min so far, ~27.5 min left': the mean epoch here times the epochs left.

    `seconds_before`: the epochs' time in the processes before a --resume (their history's wall_seconds).
    """
    left = f", ~{minutes(seconds_here / epochs_here * (total - done))} left" if done < total else ", done"
    before = f" ({minutes(seconds_before)} before this process)" if seconds_before else ""
    return f"  run: {done}/{total} epochs, {minutes(seconds_before + seconds_here)} so far{before}{left}"


def point_latest_link(link, path):
    """Makes the symbolic link `link` (runs/<script>-latest) name the run folder `path`, replacing the old link at
    once; where links cannot be made (some file systems), nothing happens: the run does not need it."""
    temporary = f"{link}.{os.getpid()}.tmp"
    try:
        os.symlink(os.path.relpath(path, os.path.dirname(link) or "."), temporary)
        os.replace(temporary, link)
    except OSError:
        if os.path.lexists(temporary):
            os.remove(temporary)


def new_run_folder(name, parent="runs"):
    """Creates and locks a run folder `parent/name` that no other run has: `name-2`, `name-3`, ... when taken."""
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as error:
        raise UserError(f"the folder {parent} for the runs cannot be created ({error.strerror or error}); run the "
                        f"script where you can write, or choose an --output-dir.") from None
    for count in range(1, 10_000):
        path = os.path.join(parent, name if count == 1 else f"{name}-{count}")
        try:
            os.mkdir(path)  # atomic: of two runs started in the same second, one gets each name
        except FileExistsError:
            continue
        lock_folder(path, created=True)
        return path
    raise UserError(f"{parent} holds 10,000 runs named {name}; choose an --output-dir.")


def random_state_variables(model):
    """The model's variables that are neither weights nor optimizer state: dropout seeds, LSTM states."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def read_json(path, what):
    """A JSON file of a run folder, or a clear error if it is unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise UserError(f"{path} ({what}) cannot be read: {error}. The file is damaged; restore it from a backup, "
                        f"or start a new run in another --output-dir.") from None


class RunFolder:
    """One training run's folder. Open it with `RunFolder.open(path, settings, resume)`.

    Attributes:
        settings: What the run is: {"script", "preset", "cell", "variant", "seed", "matmul_precision", "precision",
            "config", and from `begin` on "model" (the model's spec)}. On resume, the saved ones.
        history: One dict per finished epoch.
        state: The saved state.json of a resumed run, else None.
        config: The script's config dataclass (set by `training.cli.open_run`).
    """

    def __init__(self, path, settings, state=None):
        self.path, self.settings, self.state = path, settings, state
        self.history = list(state["history"]) if state else []
        self.saved_epoch = len(self.history)  # the last epoch whose state.json is on disk
        self.config = None
        self.latest_link = None  # runs/<script>-latest, for a run in the default folder: pointed here by `begin`
        self.title, self.plots, self.keep = path, {}, None
        self._tensorboard = None
        self._epoch_start = None

    def file(self, name):
        return os.path.join(self.path, name)

    @property
    def shown(self):
        """The folder's path as text that prints anywhere (bytes that are not UTF-8 as \\xNN)."""
        return os.fsencode(self.path).decode("utf-8", "backslashreplace")

    @property
    def resumed(self):
        return self.state is not None

    preset = property(lambda self: self.settings["preset"])
    cell = property(lambda self: self.settings["cell"])
    variant = property(lambda self: self.settings.get("variant", "vanilla"))  # (none in folders before the variants)

    @property
    def cell_title(self):
        """The run's cell in titles: "custom cell", "gru cell", "custom cell, coupled" for an LSTM variant."""
        return f"{self.cell} cell" + ("" if self.variant == "vanilla" else f", {self.variant}")

    @property
    def model_title(self):
        """The run's model in titles: its cell (`cell_title`), or what it is when it has none ("transformer")."""
        spec_class = self.config.spec_class
        return self.cell_title if spec_class.has_cell else spec_class.family
    seed = property(lambda self: self.settings["seed"])

    @classmethod
    def open(cls, path, settings, resume):
        """Opens the run folder of a new run, or reopens one: its saved settings win over `settings`.

        Nothing is written until `begin`. A folder without a finished epoch (a
        start that failed or was stopped) is started afresh, with or without `resume`.
        """
        if os.path.exists(path) and not os.path.isdir(path):
            raise UserError(f"--output-dir {path} is a file, not a folder; choose a folder for the run.")
        lock_folder(path)
        run = cls(path, settings)
        state_path = run.file(STATE)
        if os.path.isfile(state_path):
            state = read_json(state_path, "the state of the last finished epoch")
            if not isinstance(state, dict) or not {"history", "settings", "checkpoint"} <= set(state):
                raise UserError(f"{state_path} is not a state file of this project; point --output-dir at a run "
                                f"folder of {settings['script']}.")
            run._check_script(state["settings"].get("script"))
            if not resume:
                raise UserError(f"the run folder {path} already holds a run ({len(state['history'])} finished "
                                f"epochs). Pass --resume to continue it, or choose another --output-dir; nothing "
                                f"in it was changed.")
            run = cls(path, state["settings"], state)
        elif os.path.isfile(run.file("config.json")):  # a start that never finished an epoch
            started = read_json(run.file("config.json"), "the run's settings")
            run._check_script(started.get("script") if isinstance(started, dict) else "another program")
            if resume:
                print(f"note: {path} has no finished epoch; starting the run from the beginning.")
        elif os.path.isdir(path) and [n for n in os.listdir(path) if not n.startswith(TMP_PREFIX)]:
            raise UserError(f"--output-dir {path} is not empty and is not a run folder; choose a new or empty "
                            f"folder so that nothing in it is overwritten.")
        elif resume:
            print(f"note: {path} holds no run yet; starting a new one.")
        return run

    def _check_script(self, script):
        if script != self.settings["script"]:
            raise UserError(f"{self.path} is a run folder of {script}, not of {self.settings['script']}; run "
                            f"{script} to continue it, or choose another --output-dir.")

    def _remove_stale_temporaries(self):
        """Half-written files of a process killed while saving (SIGKILL, power loss)."""
        for name in os.listdir(self.path):
            if name.startswith(TMP_PREFIX):
                os.remove(self.file(name))

    # ---- what the run trains -------------------------------------------------------------------------------

    def begin(self, model_spec, vocabulary=None, *, title, plots, keep):
        """Writes config.json (the settings with the model's spec) and vocab.json before the first epoch.

        Args:
            model_spec: A spec of `models` (dataclass); `build_model` rebuilds from it.
            vocabulary: The run's `datasets.Vocabulary`, for language models.
            title: Title of the plots.
            plots: {file name: (history columns, y label, log scale)}, drawn after every epoch.
            keep: (history column, "min" or "max"): model.keras is the model of the best epoch by it.
        """
        self.settings["model"] = dataclasses.asdict(model_spec)
        self.title, self.plots, self.keep = title, plots, keep
        os.makedirs(self.path, exist_ok=True)  # only now: a start that fails before this writes nothing
        self._remove_stale_temporaries()
        self._saving(self.write_json, "config.json", self.settings)
        print(f"Run folder: {self.shown}", flush=True)
        if self.latest_link:
            point_latest_link(self.latest_link, self.path)
        if vocabulary is not None:
            self._saving(self.write_json, "vocab.json", vocabulary.to_json())

    def build_model(self, **shape):
        """The run's model, built from its spec (batch_size, num_steps, stateful for language models)."""
        return build_model(self.settings["model"], **shape)

    # ---- the epoch loop ------------------------------------------------------------------------------------

    def epochs(self, total):
        """The epochs still to train, counted from 0: from the first unfinished one to `total` − 1."""
        first, start = len(self.history), time.perf_counter()
        before = sum(row.get("wall_seconds", 0.0) for row in self.history)
        for epoch in range(first, total):
            raise_if_signalled()  # a Ctrl-C that a library swallowed (during validation, say) stops the run here
            self._epoch_start = time.perf_counter()
            yield epoch
            print(run_estimate(epoch + 1 - first, epoch + 1, total, time.perf_counter() - start, before), flush=True)

    def end_epoch(self, model, row, weights=None):
        """What every epoch ends with: keep the best model, checkpoint, history.csv, TensorBoard, plots.

        `weights` are those of the model to keep when they are not `model`'s own
        (averaged SGD's means); the checkpoint always holds `model` and its optimizer.
        """
        column, mode = self.keep
        previous = [r[column] for r in self.history]
        row = {"epoch": len(self.history) + 1, **row}
        if not previous:
            row["kept"] = True
        else:
            row["kept"] = row[column] < min(previous) if mode == "min" else row[column] > max(previous)
        if row["kept"]:
            self.save_model(model, weights)
        row["wall_seconds"] = time.perf_counter() - self._epoch_start  # the epoch's work, before the checkpoint
        self.history.append(row)
        # TensorBoard before the state: a kill between the two repeats the point on resume instead of losing it
        self.log_scalars(row["epoch"], {k: v for k, v in row.items() if k != "epoch" and isinstance(v, (int, float))})
        self.save_checkpoint(model)
        for name, (series, ylabel, logy) in self.plots.items():
            self._saving(self.plot, series, ylabel, name, logy)
        return row

    def best_row(self):
        """The history row of the epoch whose model is model.keras."""
        return [row for row in self.history if row["kept"]][-1]

    def best_weights(self):
        """The weights of model.keras, the kept model (`rebuild_kept_model` when the file cannot be read)."""
        kept = self.build_model()
        try:
            kept.load_weights(self.file("model.keras"))
        except Exception as error:  # missing, truncated or foreign: Keras raises many kinds
            return self.rebuild_kept_model(error)
        return kept.get_weights()

    def rebuild_kept_model(self, error):
        """model.keras written again from the last checkpoint, when that holds the kept model's weights (the kept
        epoch is the last one, and no average of the iterates stands in for them); else a clear UserError."""
        best, last = self.best_row()["epoch"], len(self.history)
        why = None
        if best != last:
            why = f"the checkpoint holds epoch {last}, and the kept model is epoch {best}'s"
        elif getattr(self.config, "averaging", False):
            why = "the kept weights were an average of the iterates, which the checkpoint does not hold as weights"
        if why:
            raise UserError(f"{self.file('model.keras')}, the kept model, cannot be read ({type(error).__name__}), and "
                            f"it cannot be rebuilt: {why}. Put a copy of the file back, or train the run again in a "
                            f"new folder.")
        weights = keras.models.load_model(self.file(self.state["checkpoint"]), compile=False).get_weights()
        self.save_model(self.build_model(), weights)
        print(f"note: {self.shown}/model.keras could not be read ({type(error).__name__}); it was written again from "
              f"the checkpoint of epoch {last}, the kept one.", flush=True)
        return weights

    def save_model(self, model, weights=None):
        """model.keras: the portable model (any batch size and length, not stateful) with `model`'s weights
        (or `weights`)."""
        portable = self.build_model()
        portable.set_weights(model.get_weights() if weights is None else weights)
        self._saving(atomic_save_model, portable, self.file("model.keras"))

    def save_checkpoint(self, model):
        """Saves model + optimizer for the last finished epoch, then the state that names it."""
        epoch = len(self.history)
        name = f"checkpoint-epoch{epoch}.keras"
        self._saving(atomic_save_model, model, self.file(name))
        previous = self.state
        self.state = {"epoch": epoch, "history": self.history, "settings": self.settings, "checkpoint": name,
                      "random_state": [keras.ops.convert_to_numpy(v.value).tolist() for v in random_state_variables(model)]}
        self._saving(self.write_json, STATE, self.state)
        self.saved_epoch = epoch
        self._saving(self.write_history)
        if previous and previous.get("checkpoint") not in (None, name) and os.path.exists(self.file(previous["checkpoint"])):
            os.remove(self.file(previous["checkpoint"]))

    def _saving(self, write, *args):
        try:
            write(*args)
        except OSError as error:
            done = f"epoch {self.saved_epoch}" if self.saved_epoch else "no epoch yet"
            raise UserError(f"writing to the run folder {self.path} failed ({error.strerror or error}). Every file "
                            f"in it is still whole (the checkpoint of {done}); free space or fix the folder, then "
                            f"continue with --resume.") from None

    def restore(self, model):
        """Loads the last checkpoint (weights, optimizer state, dropout seeds, LSTM states) into a compiled `model`."""
        path = self.file(self.state["checkpoint"])
        if not os.path.isfile(path):
            raise UserError(f"cannot resume: {path}, named in {self.file(STATE)}, is missing.")
        model.optimizer.build(model.trainable_variables)
        try:
            model.load_weights(path)
        except Exception as error:  # a truncated or foreign archive: Keras raises many kinds
            raise UserError(f"cannot resume: the checkpoint {path} cannot be read ({type(error).__name__}: "
                            f"{str(error)[:200]}). It is damaged; start a new run.") from None
        for variable, value in zip(random_state_variables(model), self.state.get("random_state", [])):
            variable.assign(np.asarray(value, dtype=variable.dtype))

    # ---- files ---------------------------------------------------------------------------------------------

    def write_json(self, name, obj):
        text = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a path with bytes that are not UTF-8: escaped, so that it reads back the same
            text = json.dumps(obj, indent=2) + "\n"
        atomic_write(self.file(name), text)

    def write_history(self):
        if not self.history:
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(self.history[0]))
        writer.writeheader()
        writer.writerows(self.history)
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
                try:
                    self._tensorboard = EventFileWriter(self.file("tensorboard"))
                except Exception as error:  # as below
                    self._tensorboard = False
                    print(f"note: TensorBoard logs cannot be written in {self.shown} ({type(error).__name__}: "
                          f"{error}); the run goes on without them (history.csv has every figure).")
        if self._tensorboard:
            from tensorboard.compat.proto import event_pb2, summary_pb2

            values = [summary_pb2.Summary.Value(tag=key, simple_value=float(value)) for key, value in scalars.items()]
            try:
                self._tensorboard.add_event(event_pb2.Event(wall_time=time.time(), step=epoch,
                                                            summary=summary_pb2.Summary(value=values)))
                self._tensorboard.flush()
            except Exception as error:  # its writer fails on some paths (bytes that are not UTF-8) or a full disk
                self._tensorboard = False
                print(f"note: TensorBoard logs cannot be written in {self.shown} ({type(error).__name__}: {error}); "
                      f"the run goes on without them (history.csv has every figure).")

    def plot(self, series, ylabel, name, logy=False):
        """A PNG of history columns `series` against the epoch."""
        fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
        epochs = [row["epoch"] for row in self.history]
        for key in series:
            ax.plot(epochs, [row[key] for row in self.history], marker="o", label=key.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(self.title)
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
        save_figure(fig, self.file(name))
