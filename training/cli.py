"""The command line every training script shares, and opening its run folder."""

import argparse
import dataclasses
import os
import time

from training.errors import UserError
from training.run import RunFolder

MAX_SEED = 2**32 - 1  # NumPy's and Keras' seeds are unsigned 32-bit

# Config fields of run folders written before the iterate averaging had one name in every script.
RENAMED_FIELDS = {"asgd_after": "average_after", "asgd_window": "average_window", "asgd_patience": "average_patience"}


def parse_script_args(description, presets, default_preset, argv, add_arguments=None):
    """The common command line (plus the script's own options), checked."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default=default_preset, help=f"one of {', '.join(presets)} (default {default_preset})")
    parser.add_argument("--cell", default="custom", help="custom (models.LSTM) or builtin (keras.layers.LSTM)")
    parser.add_argument("--data-dir", help="folder with ptb/, mnist/, tinyshakespeare/ (default: $LSTM_DATA_DIR, then the download cache)")
    parser.add_argument("--output-dir", help="run folder (default: runs/<script>-<preset>-<cell>-<time>)")
    parser.add_argument("--epochs", type=int, help="number of epochs in all (default: the preset's)")
    parser.add_argument("--steps-per-epoch", type=int, help="cut each epoch to this many training steps")
    parser.add_argument("--seed", type=int, default=0, help=f"random seed, 0 to {MAX_SEED} (default 0)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --output-dir from its last finished epoch")
    parser.add_argument("--distribute", choices=["off", "data"], default="off",
                        help="data: split every training batch over all local devices (and hosts); default off")
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if args.preset not in presets:
        raise UserError(f"unknown preset {args.preset!r}; choose one of {', '.join(presets)}.")
    if args.cell not in ("custom", "builtin"):
        raise UserError(f"unknown cell {args.cell!r}; use --cell custom (this project's LSTM) or --cell builtin (keras.layers.LSTM).")
    check_positive(args, "epochs", "steps_per_epoch", "batch_size", "num_steps")  # the last two: language models
    check_seed(args.seed)
    if args.resume and not args.output_dir:
        raise UserError("--resume needs --output-dir: the run folder to continue.")
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        raise UserError(f"--data-dir {args.data_dir} is not a folder. Point it at the folder that holds ptb/, "
                        f"mnist/ or tinyshakespeare/, or leave it out to use $LSTM_DATA_DIR or the download cache.")
    return args


def add_language_model_arguments(parser):
    """The layout options of the two language models: lower them when a text is short."""
    parser.add_argument("--batch-size", type=int, help="parallel streams through the text (default: the preset's)")
    parser.add_argument("--num-steps", type=int, help="unrolled steps per batch (default: the preset's)")
    parser.add_argument("--batch-layout", choices=["streams", "windows"],
                        help="streams: contiguous, state carried (default); windows: random places, zero state")


def check_positive(args, *names):
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1; got {value}.")


def check_seed(seed):
    if not 0 <= seed <= MAX_SEED:
        raise UserError(f"--seed must lie between 0 and {MAX_SEED}; got {seed}.")


def open_run(args, script, presets, data=None, **overrides):
    """The run folder of this command: a new run, or the one --resume continues.

    A new run takes the preset's config with the command line's overrides
    (those that are not None) and --steps-per-epoch, and `data`, what it
    reads (recorded in its settings); a resumed run takes its saved
    settings, except `--epochs N`, which changes the number of epochs.

    Returns:
        A `training.run.RunFolder` whose `config` is the script's config
        dataclass (and `preset`, `cell`, `seed` what this run uses).
    """
    preset = presets[args.preset]
    changes = {"epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch, **overrides}
    config = dataclasses.replace(preset, **{k: v for k, v in changes.items() if v is not None})
    output_dir = args.output_dir or os.path.join(
        "runs", f"{os.path.splitext(script)[0].removeprefix('train_')}-{args.preset}-{args.cell}-{time.strftime('%Y%m%d-%H%M%S')}")
    settings = {"script": script, "preset": args.preset, "cell": args.cell, "seed": args.seed,
                "config": dataclasses.asdict(config), "data": data or {}}
    run = RunFolder.open(output_dir, settings, args.resume)
    if run.resumed and args.epochs is not None:
        run.settings["config"]["epochs"] = args.epochs
    saved = run.settings.setdefault("data", {})
    for key, value in (data or {}).items():
        if run.resumed and value is not None and saved.get(key) != value:
            trained_on = saved.get(key) or "the canonical data"
            raise UserError(f"the run in {run.path} was trained on {trained_on}, not on {value}; resume it without "
                            f"--{key}, or start a new run.")
    saved_config = run.settings["config"]
    for old, new in RENAMED_FIELDS.items():
        if old in saved_config:
            saved_config[new] = saved_config.pop(old)
    try:
        run.config = type(preset)(**saved_config)
    except TypeError as error:
        raise UserError(f"the settings saved in {run.path} do not fit this version of {script} ({error}); "
                        f"start a new run.") from None
    if getattr(run.config, "weight_dropout", 0) and run.cell == "builtin":
        raise UserError(f"the {run.preset} preset drops weights of the recurrent kernel (weight_dropout "
                        f"{run.config.weight_dropout}), which only this project's LSTM can do: keras.layers.LSTM has "
                        f"no such option. Use --cell custom, or --without weight-drop to compare the rest.")
    return run
