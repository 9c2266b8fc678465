"""Turning bad input into one clear paragraph instead of a traceback."""

import functools
import sys
import textwrap


class UserError(Exception):
    """Something the user asked for cannot be done; the message says what to do instead."""


def friendly_main(main=None, *, two_ops_at_once=False):
    """Wraps a script's main(): user and data errors print one paragraph and exit 2, Ctrl-C exits 130.

    Keras is imported first (`training.backend.import_keras`, with
    `two_ops_at_once` as the script asks: `@friendly_main(two_ops_at_once=True)`):
    a missing backend package is such an error, and TensorFlow's start-up noise is hidden.
    """
    if main is None:
        return functools.partial(friendly_main, two_ops_at_once=two_ops_at_once)

    @functools.wraps(main)
    def wrapper(argv=None):
        from datasets import DataError
        from training.backend import import_keras

        try:
            import_keras(two_ops_at_once)
            return main(argv)
        except (UserError, DataError) as error:
            message = textwrap.fill(f"error: {error}", width=100, break_on_hyphens=False, break_long_words=False)
            print("\n" + message, file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("\ninterrupted: every finished epoch is saved in the run folder; continue with --resume.",
                  file=sys.stderr)
            sys.exit(130)

    return wrapper
