"""Experiments that show why the LSTM works and what its parts are worth: long-range memory, gradient flow, gate
pictures, weight averaging, the LSTM variants and the GRU, the LSTM against a transformer (docs/experiments.md).
Run from the project root as modules, e.g. `python -m experiments.variants`.

Also the command-line rules that the experiments and the benchmarks share, each checked here once:

- a list is given with spaces, `--seeds 0 1` (argparse `nargs="+"`), never with commas; a fixed set of names
  (presets, parts, models, cases, layers) takes `choices=`;
- numbers are read by `whole_number`, `seed_number` and `budget_minutes`; `sorted_once` (numbers) and
  `in_order_once` (names) drop repeats;
- `command_line` makes the parser (training.messages.ArgumentParser): every mistake on the command line is one
  paragraph, `error: ...`, and exit code 2 (no usage block, no traceback), with a hint when a list was given with
  commas;
- `output_folder` creates an --output-dir and checks that it can be written to before anything runs;
  `read_results` reads a results file an earlier run left there, or says that it is damaged.

Only the standard library (and training.messages, which imports nothing else) is imported at the top: running an experiment as a module (`python -m`) imports this
package before the module's own `from training import startup`, and the benchmarks that start their work in fresh processes keep
Keras out of their own.
"""

import argparse
import json
import math
import os
import tempfile

from training.messages import ArgumentParser, fail

__all__ = ["budget_minutes", "command_line", "fail", "in_order_once", "output_folder", "parse", "read_results",
           "seed_number", "sorted_once", "whole_number"]


def command_line(description):
    """The parser of an experiment's or a benchmark's options: its docstring as written, no abbreviations."""
    return ArgumentParser(description=description)


def parse(parser, argv=None):
    """`parser.parse_args(argv)` of a `command_line` parser: each mistake one paragraph, exit code 2."""
    return parser.parse_args(argv)


def whole_number(minimum=0, maximum=None):
    """An argparse `type`: a whole number from `minimum` (to `maximum`)."""

    def convert(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            span = f"at least {minimum:,}" if maximum is None else f"from {minimum:,} to {maximum:,}"
            raise argparse.ArgumentTypeError(f"must be {span} (a whole number); got {text!r}")
        return value

    convert.__name__ = "whole number"
    return convert


def seed_number(text):
    """An argparse `type`: a random seed, 0 to models.seeds.MAX_SEED."""
    from models.seeds import MAX_SEED  # late: Keras loads after the scripts' start-up

    return whole_number(0, MAX_SEED)(text)


def budget_minutes(text):
    """An argparse `type`: minutes above 0, such as 5 or 0.5."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be minutes above 0, such as 5 or 0.5; got {text!r}")
    return value


def sorted_once(values):
    """Numbers given on the command line, sorted, each once: `--seeds 1 0 1` is seeds 0 and 1."""
    return tuple(sorted(set(values)))


def in_order_once(values):
    """Names given on the command line in their order, each once: `--presets wide small wide` is wide, small."""
    return tuple(dict.fromkeys(values))


def output_folder(path, what="--output-dir"):
    """Creates the folder `path` (if need be) and checks that a file can be written in it, before anything else is
    done; a `UserError` that names it as `what` if not. Returns `path`."""
    from training.errors import UserError  # late: it imports Keras

    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise UserError(f"{what} {path} cannot be written to ({error.strerror or error}); choose a folder you can "
                        f"write to. Nothing was run or written.") from None
    return path


def read_results(path, what, fix):
    """The JSON object an earlier run saved at `path` ({} when there is none), or a `UserError` that says the file
    is damaged and how to fix it (`fix`: what deleting or moving it away does)."""
    from training.errors import UserError  # late: it imports Keras

    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as file:
            found = json.load(file)
        if not isinstance(found, dict):
            raise ValueError(f"it holds a JSON {type(found).__name__}, not an object")
    except (OSError, ValueError) as error:
        raise UserError(f"{path} ({what}) is damaged and cannot be read: {error}. Delete it or move it away "
                        f"({fix}). Nothing was run or written.") from None
    return found
