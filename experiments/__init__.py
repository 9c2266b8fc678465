"""Experiments that show why the LSTM works and what its parts are worth: long-range memory, gradient flow, gate
pictures, weight averaging, the LSTM variants and the GRU, the LSTM against a transformer (docs/experiments.md).
Run from the project root as modules, e.g. `python -m experiments.variants`.

Also the command-line rules that the experiments and the benchmarks share, each checked here once:

- a list is given with spaces, `--seeds 0 1` (argparse `nargs="+"`), never with commas; a fixed set of names
  (presets, parts, models, cases, layers) takes `choices=`;
- numbers are read by `whole_number`, `seed_number` and `budget_minutes`; `sorted_once` (numbers) and
  `in_order_once` (names) drop repeats;
- `parse` turns every mistake on the command line into one paragraph, `error: ...`, and exit code 2 (no usage
  block, no traceback), with a hint when a list was given with commas;
- `output_folder` creates an --output-dir and checks that it can be written to before anything runs;
  `read_results` reads a results file an earlier run left there, or says that it is damaged.

Only the standard library is imported at the top: running an experiment as a module (`python -m`) imports this
package before the module's own `from training import startup`, and the benchmarks that start their work in fresh processes keep
Keras out of their own.
"""

import argparse
import itertools
import json
import math
import os
import re
import sys
import tempfile
import textwrap


def fail(message):
    """`error: message` as one paragraph on stderr, then exit code 2 (the format of training.errors.print_error,
    which this package cannot import before the scripts' start-up)."""
    print("\n" + textwrap.fill(f"error: {message}", width=100, break_on_hyphens=False, break_long_words=False),
          file=sys.stderr)
    sys.exit(2)


def command_line(description):
    """The parser of an experiment's or a benchmark's options: its docstring as written, no abbreviations."""
    return argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
                                   allow_abbrev=False)


def parse(parser, argv=None):
    """`parser.parse_args(argv)`, with each mistake one paragraph (`fail`) instead of argparse's usage block.

    The messages of this module's types read "--flag must be ...". A value with a comma given to a list option
    gets the same list with spaces as the fix.
    """

    def error(message):
        message = re.sub(r"^argument (--[\w-]+)(?:/[^:]*)?: (must |takes )?",
                         lambda found: f"{found[1]} {found[2]}" if found[2] else f"{found[1]}: ", message)
        if not message.endswith("."):
            message += "."
        lists = {option for action in parser._actions if action.nargs in ("+", "*") for option in action.option_strings}
        words = list(sys.argv[1:] if argv is None else argv)
        for index, word in enumerate(words):
            given = list(itertools.takewhile(lambda value: not value.startswith("--"), words[index + 1:]))
            if word in lists and word in message and any("," in value for value in given):
                spaced = " ".join(part for value in given for part in value.split(",") if part)
                message += f" Lists take spaces, not commas: {word} {spaced}."
                break
        fail(f"{message} (--help lists the options.)")

    parser.error = error
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
