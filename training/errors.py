"""Turning bad input into one clear paragraph instead of a traceback, and Ctrl-C or SIGTERM into a clean stop."""

import contextlib
import functools
import os
import signal
import sys
import textwrap

from datasets import DataError

AT_EXIT = []  # what a script's main() releases however it ends (training.run adds its folder locks)
INTERRUPTED = {"note": ""}  # what an interruption says besides "interrupted" (a training run: how to resume), or a
                           # function that returns it


class UserError(Exception):
    """Something the user asked for cannot be done; the message says what to do instead."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, stopped like Ctrl-C."""


def print_error(message):
    """`error: message` as one wrapped paragraph on stderr."""
    print("\n" + textwrap.fill(f"error: {message}", width=100, break_on_hyphens=False, break_long_words=False),
          file=sys.stderr)


def _terminate(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block SIGTERM raises `Terminated`, so `kill` stops a run as cleanly as Ctrl-C."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def friendly_main(main):
    """Wraps a script's main(): user and data errors print one paragraph and exit 2; Ctrl-C exits 130, SIGTERM 143."""

    @functools.wraps(main)
    def wrapper(argv=None, **options):  # options: what a script's main takes besides argv, for other programs
        INTERRUPTED["note"] = ""
        try:
            with sigterm_as_interrupt():
                return main(argv, **options)
        except (UserError, DataError) as error:
            print_error(error)
            sys.exit(2)
        except BrokenPipeError:  # the reader of stdout went away (`| head`): stop as other tools do, quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except KeyboardInterrupt as interruption:
            note = INTERRUPTED["note"]() if callable(INTERRUPTED["note"]) else INTERRUPTED["note"]
            message = f"\ninterrupted{': ' + note if note else '.'}"
            print(message, flush=True)  # stdout too: a `| tee` log shows where the run stopped
            print(message, file=sys.stderr)
            sys.exit(143 if isinstance(interruption, Terminated) else 130)
        finally:
            for release in AT_EXIT:
                release()

    return wrapper
