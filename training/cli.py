"""The command line every training script shares, and opening its run folder."""

import dataclasses
import json
import os
import re
import shlex
import time

from datasets.tfds_source import SOURCES, check_tfds_dir
from models import CELLS, VARIANTS
from models.language_model import CELL_NAMES, check_cell
from models.seeds import MAX_SEED
from training.errors import INTERRUPTED, UserError
from training.messages import ArgumentParser
from training.precision import MATMUL_PRECISIONS, PRECISIONS, set_matmul_precision, set_precision
from training.run import RunFolder, new_run_folder


# Config fields a --resume may change: how long the run trains, and how much of nanoGPT's estimate it scores at the end.
MAY_CHANGE_ON_RESUME = ("epochs", "nanogpt_batches")
OWN_DATA = ("text", "corpus")  # the entries of a run's "data" setting that are the user's own files

# Config fields of run folders written before the iterate averaging had one name in every script.
RENAMED_FIELDS = {"asgd_after": "average_after", "asgd_window": "average_window", "asgd_patience": "average_patience"}


def parse_script_args(description, presets, default_preset, argv, add_arguments=None):
    """The common command line (plus the script's own options), checked."""
    parser = ArgumentParser(description=description)
    parser.add_argument("--preset", choices=presets, help=f"default {default_preset}")
    parser.add_argument("--cell", choices=CELLS, help="the recurrent layer: " + ", ".join(
        f"{name} ({what})" for name, what in CELL_NAMES.items()) + "; default custom")
    parser.add_argument("--variant", choices=VARIANTS, help="the LSTM variant of --cell custom (default vanilla; "
                                                            "Greff et al. 2015)")
    parser.add_argument("--data-dir", help="folder with ptb/, mnist/, tinyshakespeare/ (default: $LSTM_DATA_DIR, then the download cache)")
    parser.add_argument("--output-dir", help="run folder (default: runs/<script>[-<text>]-<preset>-<model>-<time>, "
                                             "the model its cell[-variant], or transformer)")
    parser.add_argument("--epochs", type=int, help="number of epochs in all (default: the preset's)")
    parser.add_argument("--steps-per-epoch", type=int, help="cut each epoch to this many training steps")
    parser.add_argument("--seed", type=int, help=f"random seed, 0 to {MAX_SEED} (default 0)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --output-dir (default: the latest run of this script and preset) from "
                             "its last finished epoch")
    parser.add_argument("--distribute", choices=["off", "data"], default="off",
                        help="data: split every training batch over all local devices (and hosts); default off")
    parser.add_argument("--matmul-precision", choices=MATMUL_PRECISIONS,
                        help="float32 matrix products: default (the backend's: TensorFloat-32 on recent NVIDIA GPUs) "
                             "or highest (full float32); the same on a CPU (default: default)")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="float32 (default) or mixed_bfloat16: the layers compute in bfloat16, the weights, "
                             "logits and loss stay float32 (faster on GPUs and CPUs with AMX, slower on other CPUs)")
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    args.explicit = {name for name in ("preset", "cell", "variant", "seed", "matmul_precision", "precision")
                     if getattr(args, name) is not None}  # for --resume
    args.preset = default_preset if args.preset is None else args.preset
    args.cell = "custom" if args.cell is None else args.cell
    args.variant = "vanilla" if args.variant is None else args.variant
    args.seed = 0 if args.seed is None else args.seed
    args.matmul_precision = args.matmul_precision or "default"
    args.precision = args.precision or "float32"
    try:
        check_cell(args.cell, args.variant)
    except ValueError as error:
        raise UserError(f"{error} (nothing was written)") from None
    check_positive(args, "epochs", "steps_per_epoch", "batch_size", "num_steps")  # the last two: language models
    check_seed(args.seed)
    check_data_dir(args.data_dir)
    return args


def check_data_dir(data_dir):
    """A clear error for a --data-dir that is not a folder (None: the loaders' own search)."""
    if data_dir is not None and not os.path.isdir(data_dir):
        raise UserError(f"--data-dir {data_dir} is not a folder. Point it at the folder that holds ptb/, "
                        f"mnist/ or tinyshakespeare/, or leave it out to use $LSTM_DATA_DIR or the download cache.")


def add_language_model_arguments(parser):
    """The layout options of the two language models: lower them when a text is short."""
    parser.add_argument("--batch-size", type=int, help="parallel streams through the text (default: the preset's)")
    parser.add_argument("--num-steps", type=int, help="tokens per training row: an LSTM's unrolled steps, a "
                                                      "transformer's block (default: the preset's)")
    parser.add_argument("--batch-layout", choices=["streams", "windows"],
                        help="streams: contiguous, state carried (default); windows: random places, zero state")


def add_source_arguments(parser):
    """--source and --tfds-dir: where MNIST and Tiny Shakespeare are read from."""
    parser.add_argument("--source", choices=SOURCES, help="files: the md5-checked original files (default; no "
                        "TensorFlow needed); tfds: tensorflow-datasets (prepared from the files once)")
    parser.add_argument("--tfds-dir", metavar="DIR", help="tensorflow-datasets' data folder for --source tfds "
                        "(default: TFDS' own, $TFDS_DATA_DIR or ~/tensorflow_datasets)")


def source_setting(args, own_file=None):
    """What `open_run` records of the source: "files" or "tfds" for a new run, None (the saved one) on --resume."""
    if args.source == "tfds" and own_file:
        raise UserError(f"--source tfds reads Tiny Shakespeare from tensorflow-datasets; --text {own_file} is your "
                        f"own file. Give one of them.")
    check_tfds_dir(args.tfds_dir)
    return args.source or (None if args.resume else "files")


def run_source(run, args):
    """The source the run reads, "files" or "tfds" (a resumed run's saved one); --tfds-dir only goes with tfds."""
    source = run.settings["data"].get("source") or "files"
    if args.tfds_dir is not None and source != "tfds":
        raise UserError(f"--tfds-dir says where tensorflow-datasets keeps its data; this run reads the "
                        f"{'original files' if source == 'files' else source}. Add --source tfds to a new run, or "
                        f"leave out --tfds-dir.")
    return source


def check_positive(args, *names):
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1; got {value}.")


def check_seed(seed):
    if not 0 <= seed <= MAX_SEED:
        raise UserError(f"--seed must lie between 0 and {MAX_SEED}; got {seed}.")


def check_resume_options(run, args, changes):
    """Refuses options of a --resume command that would change the saved run, and an --epochs below what it has done."""
    saved_config = run.settings["config"]
    conflicts = [f"--{name.replace('_', '-')} {getattr(args, name)} (the run's: {run.settings[name]})"
                 for name in sorted(args.explicit)
                 if getattr(args, name) != run.settings[name]]
    for key, value in changes.items():
        as_saved = json.loads(json.dumps(value))  # tuples come back from config.json as lists
        if key not in MAY_CHANGE_ON_RESUME and value is not None and key in saved_config and saved_config[key] != as_saved:
            conflicts.append(f"{key} {value} (the run's: {saved_config[key]})")
    if conflicts:
        raise UserError(f"--resume continues the run in {run.path} as it was saved, and these options would change "
                        f"it: {'; '.join(conflicts)}. Leave them out (--epochs may change), or start a new run in "
                        f"another --output-dir; nothing was changed.")
    done = len(run.history)
    if args.epochs is not None and args.epochs < done:
        raise UserError(f"the run in {run.path} has already finished {done} epochs; --epochs {args.epochs} would "
                        f"end it before that. Give --epochs {done} or more; nothing was changed.")


def default_run_name(script, args, data, spec_class):
    """<script>[-<own file or corpus>]-<preset>-<model>-<time>: a run on your own text says which in its name; the
    model is the spec's `run_label` (the cell and the LSTM variant, or "transformer")."""
    own = next((path for key, path in (data or {}).items() if key in OWN_DATA and path), None)
    text = f"-{re.sub(r'[^A-Za-z0-9_.-]+', '_', os.path.splitext(os.path.basename(own.rstrip(os.sep)))[0])}" if own else ""
    label = spec_class.run_label(args.cell, getattr(args, "variant", "vanilla"))
    return f"{script_label(script)}{text}-{args.preset}-{label}-{time.strftime('%Y%m%d-%H%M%S')}"


def script_label(script):
    """A script in run folders' names: train_char_rnn.py → char_rnn."""
    return os.path.splitext(script)[0].removeprefix("train_")


def latest_run(script, args, parent="runs"):
    """The run folder under `parent` of `script` and this preset (and cell, variant, source, if given) whose last
    epoch ended last."""
    found = []
    for name in os.listdir(parent) if os.path.isdir(parent) else []:
        folder = os.path.join(parent, name)
        try:
            with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
                settings = json.load(f)
            finished = os.path.getmtime(os.path.join(folder, "state.json"))
        except (OSError, ValueError):  # not a run folder, or no epoch finished yet
            continue
        if not isinstance(settings, dict) or settings.get("script") != script or settings.get("preset") != args.preset:
            continue
        if "cell" in args.explicit and settings.get("cell") != args.cell:
            continue
        if "variant" in args.explicit and settings.get("variant", "vanilla") != args.variant:
            continue
        if getattr(args, "source", None) and (settings.get("data") or {}).get("source", "files") != args.source:
            continue
        found.append((finished, folder))
    if not found:
        raise UserError(f"--resume without --output-dir continues the latest run of {script} --preset {args.preset} "
                        f"in {parent}/, and there is none with a finished epoch there; give the run folder with "
                        f"--output-dir.")
    folder = max(found)[1]
    print(f"--resume without --output-dir: continuing the latest run of {script} --preset {args.preset}, {folder}")
    return folder


def model_named(overrides, spec_class):
    """The command line's config `overrides` under the model's own names: --num-steps, the tokens per training row,
    is a transformer's block_size (`spec_class.sequence_field`)."""
    named = dict(overrides)
    if "num_steps" in named:
        named[spec_class.sequence_field] = named.pop("num_steps")
    return named


def requested_changes(args, overrides, spec_class):
    """The config fields this command line sets (None: left as they are), in the field names of `spec_class`."""
    return {"epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch, **model_named(overrides, spec_class)}


def open_run(args, script, presets, data=None, **overrides):
    """The run folder of this command: a new run, or the one --resume continues.

    A new run takes the preset's config with the command line's overrides
    (those that are not None) and --steps-per-epoch, and `data`, what it
    reads (recorded in its settings); a resumed run takes its saved
    settings, except `--epochs N`, which changes the number of epochs; an
    option that would change the saved run is refused, not ignored.

    Returns:
        A `training.run.RunFolder` whose `config` is the script's config
        dataclass (and `preset`, `cell`, `seed` what this run uses).
    """
    preset = presets[args.preset]
    spec_class = preset.spec_class
    if not spec_class.has_cell and {"cell", "variant"} & args.explicit:
        raise UserError(f"--cell and --variant choose the recurrent cell; the {args.preset} preset's model "
                        f"({spec_class.family}) has no such choice. Leave them out.")
    changes = requested_changes(args, overrides, spec_class)
    config = dataclasses.replace(preset, **{k: v for k, v in changes.items() if v is not None})
    if args.resume and not args.output_dir:
        args.output_dir = latest_run(script, args)
    output_dir = args.output_dir or new_run_folder(default_run_name(script, args, data, spec_class))
    settings = {"script": script, "preset": args.preset, "cell": args.cell, "variant": args.variant, "seed": args.seed,
                "matmul_precision": args.matmul_precision, "precision": args.precision,
                "config": dataclasses.asdict(config), "data": data or {}}
    run = RunFolder.open(output_dir, settings, args.resume)
    if not args.output_dir:  # the default folder: runs/<script>-latest names it once it holds a run
        run.latest_link = os.path.join("runs", f"{script_label(script)}-latest")
    command = f"python {script} --output-dir {shlex.quote(run.shown)} --resume" + "".join(
        f" --{name.replace('_', '-')} {shlex.quote(getattr(args, name))}" for name in ("data_dir", "tfds_dir")
        if getattr(args, name, None))
    INTERRUPTED["note"] = lambda: (
        f"{'epoch 1 is' if run.saved_epoch == 1 else f'epochs 1–{run.saved_epoch} are'} saved in {run.shown}; "
        f"continue with: {command}" if run.saved_epoch else
        f"no epoch had finished, so nothing was saved; start the run again with: {command}")
    if run.resumed:
        run.settings.setdefault("variant", "vanilla")  # run folders written before the variants
        run.settings.setdefault("matmul_precision", "default")  # ... and before --matmul-precision
        run.settings.setdefault("precision", "float32")  # ... and before --precision
        for old, new in RENAMED_FIELDS.items():  # folders written before the averaging had one name
            if old in run.settings["config"]:
                run.settings["config"][new] = run.settings["config"].pop(old)
        spec_class = presets.get(run.settings["preset"], preset).spec_class  # the saved run's model
        for new, old in spec_class.config_fields_before.items():  # before the model named its own fields
            if new not in run.settings["config"] and old in run.settings["config"]:
                run.settings["config"][new] = run.settings["config"][old]
        changes = requested_changes(args, overrides, spec_class)  # in the saved model's field names
        check_resume_options(run, args, changes)
        for key in MAY_CHANGE_ON_RESUME:
            if changes.get(key) is not None:
                run.settings["config"][key] = changes[key]
    saved = run.settings.setdefault("data", {})
    if run.resumed and "source" in (data or {}):
        saved.setdefault("source", "files")  # run folders written before --source read the files
    for key, value in (data or {}).items():
        if run.resumed and value is not None and saved.get(key) != value:
            trained_on = saved.get(key) or "the canonical data"
            raise UserError(f"the run in {run.path} was trained on {trained_on}, not on {value}; resume it without "
                            f"--{key}, or start a new run.")
    try:
        run.config = type(preset)(**run.settings["config"])
        run.settings["config"] = dataclasses.asdict(run.config)  # written back whole: fields added since, today's names
    except TypeError as error:
        raise UserError(f"the settings saved in {run.path} do not fit this version of {script} ({error}); "
                        f"start a new run.") from None
    try:
        check_cell(run.cell, run.variant, getattr(run.config, "weight_dropout", 0))
    except ValueError as error:
        raise UserError(f"the {run.preset} preset: {error} (--without weight-drop compares the rest)") from None
    set_matmul_precision(run.settings["matmul_precision"])
    set_precision(run.settings["precision"])  # before the script builds its model
    return run
