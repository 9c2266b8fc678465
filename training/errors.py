"""Turning bad input into one clear paragraph instead of a traceback, and Ctrl-C or SIGTERM into a clean stop."""

import contextlib
import functools
import os
import signal
import sys

from datasets import DataError
from training.messages import print_error

AT_EXIT = []  # what a script's main() releases however it ends (training.run adds its folder locks)
INTERRUPTED = {"note": ""}  # what an interruption says besides "interrupted" (a training run: how to resume), or a
                           # function that returns it


class UserError(Exception):
    """Something the user asked for cannot be done; the message says what to do instead."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, stopped like Ctrl-C."""


SIGNALLED = []  # the interrupting signals received (SIGINT, SIGTERM) since the script's main() began


def _interrupt(signum, frame):
    SIGNALLED.append(signum)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def raise_if_signalled():
    """Raises the interruption a signal asked for, again: a library may have swallowed the first one (an exception
    raised while Python runs a finalizer or a C++ callback is only printed), and the run must still stop."""
    if SIGNALLED:
        raise Terminated() if SIGNALLED[-1] == signal.SIGTERM else KeyboardInterrupt()


@contextlib.contextmanager
def signals_as_interrupt():
    """Within the block Ctrl-C raises KeyboardInterrupt and SIGTERM `Terminated`, each recorded (`SIGNALLED`), so
    that `kill` stops a run as cleanly as Ctrl-C and a swallowed one is raised again (`raise_if_signalled`)."""
    SIGNALLED.clear()
    try:
        previous = {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def friendly_main(main):
    """Wraps a script's main(): user and data errors print one paragraph and exit 2; Ctrl-C exits 130, SIGTERM 143.

    From the command line (argv None) an interrupted script ends at once after its message, without the
    interpreter's shutdown (which can wait many seconds on the backend's threads): everything it wrote is closed.
    """

    @functools.wraps(main)
    def wrapper(argv=None, **options):  # options: what a script's main takes besides argv, for other programs
        INTERRUPTED["note"] = ""
        try:
            with signals_as_interrupt():
                return main(argv, **options)
        except (UserError, DataError) as error:
            print_error(error)
            sys.exit(2)
        except BrokenPipeError:  # the reader of stdout went away (`| head`): stop as other tools do, quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except KeyboardInterrupt as interruption:
            code = 143 if isinstance(interruption, Terminated) else 130
            note = INTERRUPTED["note"]() if callable(INTERRUPTED["note"]) else INTERRUPTED["note"]
            print_interrupted(f"\ninterrupted{': ' + note if note else '.'}")
            if argv is None:
                for release in AT_EXIT:
                    release()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
            sys.exit(code)
        finally:
            for release in AT_EXIT:
                release()

    return wrapper


def print_interrupted(message):
    """The interruption's message, once where a person sees it: on stderr, and on stdout too when that goes to a
    file or a pipe (a `| tee` log shows where the run stopped)."""
    print(message, file=sys.stderr, flush=True)
    if not (sys.stdout.isatty() and sys.stderr.isatty()):
        print(message, flush=True)
