"""Turning bad input into one clear paragraph instead of a traceback."""

import functools
import sys
import textwrap

from datasets import DataError

AT_EXIT = []  # what a script's main() releases however it ends (training.run adds its folder locks)


class UserError(Exception):
    """Something the user asked for cannot be done; the message says what to do instead."""


def print_error(message):
    """`error: message` as one wrapped paragraph on stderr."""
    print("\n" + textwrap.fill(f"error: {message}", width=100, break_on_hyphens=False, break_long_words=False),
          file=sys.stderr)


def friendly_main(main):
    """Wraps a script's main(): user and data errors print one paragraph and exit 2, Ctrl-C exits 130."""

    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            return main(argv)
        except (UserError, DataError) as error:
            print_error(error)
            sys.exit(2)
        except KeyboardInterrupt:
            print("\ninterrupted: every finished epoch is saved in the run folder; continue with --resume.",
                  file=sys.stderr)
            sys.exit(130)
        finally:
            for release in AT_EXIT:
                release()

    return wrapper
