"""The command line every training script shares, and presets as dataclasses."""

import argparse
import dataclasses
import os
import time

from training.errors import UserError


def parse_script_args(description, presets, default_preset, script, argv, add_arguments=None):
    """The common command line (plus the script's own options), checked."""
    parser = base_parser(description, presets, default_preset)
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    check_common_args(args, presets, script)
    return args


def base_parser(description, presets, default_preset):
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default=default_preset, help=f"one of {', '.join(presets)} (default {default_preset})")
    parser.add_argument("--cell", default="custom", help="custom (models.LSTM) or builtin (keras.layers.LSTM)")
    parser.add_argument("--data-dir", help="folder with ptb/, mnist/, tinyshakespeare/ (default: $LSTM_DATA_DIR, then the download cache)")
    parser.add_argument("--output-dir", help="run folder (default: runs/<script>-<preset>-<cell>-<time>)")
    parser.add_argument("--epochs", type=int, help="number of epochs in all (default: the preset's)")
    parser.add_argument("--steps-per-epoch", type=int, help="cut each epoch to this many training steps")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --output-dir from its last finished epoch")
    return parser


def check_common_args(args, presets, script):
    if args.preset not in presets:
        raise UserError(f"unknown preset {args.preset!r}; choose one of {', '.join(presets)}.")
    if args.cell not in ("custom", "builtin"):
        raise UserError(f"unknown cell {args.cell!r}; use --cell custom (this project's LSTM) or --cell builtin (keras.layers.LSTM).")
    for name in ("epochs", "steps_per_epoch"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1; got {value}.")
    if args.resume and not args.output_dir:
        raise UserError("--resume needs --output-dir: the run folder to continue.")
    if not args.output_dir:
        args.output_dir = os.path.join("runs", f"{script}-{args.preset}-{args.cell}-{time.strftime('%Y%m%d-%H%M%S')}")


def preset_config(presets, args, **overrides):
    """The preset's config with the command line's overrides (those that are not None)."""
    config = presets[args.preset]
    changes = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(config, **changes)


def lstm_layer_class(cell):
    import keras

    from models import LSTM

    return LSTM if cell == "custom" else keras.layers.LSTM


def open_run(args, script, config, epochs_field):
    """Creates the run folder, or reopens it for --resume.

    On resume the saved settings (preset config, cell, seed, steps per epoch)
    win over the command line, except `--epochs N`, which changes the number
    of epochs (field `epochs_field` of the config).

    Returns:
        (run, state, config, settings): state is None for a new run.
    """
    from training.run import RunFolder

    settings = {"script": script, "preset": args.preset, "cell": args.cell, "seed": args.seed,
                "steps_per_epoch": args.steps_per_epoch, "config": dataclasses.asdict(config)}
    run, state = RunFolder.open(args.output_dir, settings, args.resume)
    if state is not None:
        settings = state["settings"]
        if args.epochs is not None:
            settings["config"][epochs_field] = args.epochs
        config = type(config)(**settings["config"])
        args.cell, args.seed, args.steps_per_epoch = settings["cell"], settings["seed"], settings["steps_per_epoch"]
    return run, state, config, settings
