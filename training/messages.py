"""Bad input as one paragraph: what every entry point prints for it ("error: ...") before exit code 2.

Standard library only: the experiments and the benchmarks parse their command line with `ArgumentParser` before
Keras loads (or, in their worker processes, without it).
"""

import argparse
import itertools
import re
import sys
import textwrap


def print_error(message):
    """`error: message` as one wrapped paragraph on stderr."""
    print("\n" + textwrap.fill(f"error: {message}", width=100, break_on_hyphens=False, break_long_words=False),
          file=sys.stderr)


def fail(message):
    """`print_error(message)`, then exit code 2."""
    print_error(message)
    sys.exit(2)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with each mistake one paragraph (`fail`) instead of a usage block and a traceback.

    The description prints as written and options are never abbreviated (--lr is not --lr-schedule). argparse's
    "argument --flag: must be ..." (the message of an argparse `type` such as experiments.whole_number) reads
    "--flag must be ...", its other messages "--flag: ...". A value with a comma given to a list option
    (`nargs="+"`) gets the same list with spaces as the fix.
    """

    def __init__(self, **options):
        super().__init__(**{"formatter_class": argparse.RawDescriptionHelpFormatter, "allow_abbrev": False, **options})
        self.words = []  # the command line being parsed, for the list hint

    def parse_known_args(self, args=None, namespace=None):
        self.words = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message):
        message = re.sub(r"^argument (--[\w-]+)(?:/[^:]*)?: (must |takes )?",
                         lambda found: f"{found[1]} {found[2]}" if found[2] else f"{found[1]}: ", message)
        if not message.endswith("."):
            message += "."
        fail(f"{message}{self.comma_hint(message)} (--help lists the options.)")

    def comma_hint(self, message):
        """" Lists take spaces, not commas: --flag a b." when a list option named in `message` got commas."""
        lists = {option for action in self._actions if action.nargs in ("+", "*") for option in action.option_strings}
        for index, word in enumerate(self.words):
            given = list(itertools.takewhile(lambda value: not value.startswith("--"), self.words[index + 1:]))
            if word in lists and word in message and any("," in value for value in given):
                spaced = " ".join(part for value in given for part in value.split(",") if part)
                return f" Lists take spaces, not commas: {word} {spaced}."
        return ""
