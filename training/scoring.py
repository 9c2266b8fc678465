"""Scoring a language model on a text read once, in order: every token predicted once, with all the context the
model can hold.

    nats = in_order_nats(build_model, spec, weights, ids)

A model that carries a state (an LSTM) reads the text in one stream, batch 1,
the state carried from the first token to the last (`carried_nats`); a model
without one (a transformer) reads it in windows of its longest context that
start every half window, each token scored once with at least half a window
of context (`sliding_nats`). The training recipe tests its kept model this
way, and nanoGPT's view of Tiny Shakespeare reads its validation text so
(training/nanogpt.py).
"""

import math

from datasets.batching import sliding_windows, whole_stream_rows
from models import spec_from_dict
from training.language_model import compile_evaluator, evaluate_perplexity

SLIDING_BATCH = 64  # windows per batch of `sliding_nats`: only speed depends on it


def nats(build_model, weights, shape, x, y, batch_size, w=None, verbose=0, progress=None):
    """Mean nats per prediction of the rows x → y (weighted by w) of the model built at `shape` with `weights`
    (`progress`: what is scored, for the progress lines of a long scoring)."""
    model = compile_evaluator(build_model(**shape))
    model.set_weights(weights)
    return math.log(evaluate_perplexity(model, x, y, batch_size, sample_weight=w, verbose=verbose, progress=progress))


def carried_nats(build_model, weights, ids, num_steps=100, verbose=0, progress="reading in order"):
    """Nats per prediction of `ids` read once, in order, batch 1, the state carried (`num_steps` only sets the speed)."""
    x, y, w = whole_stream_rows(ids, num_steps)
    return nats(build_model, weights, {"batch_size": 1, "num_steps": num_steps, "stateful": True}, x, y, 1, w, verbose,
                progress)


def sliding_nats(build_model, weights, ids, length, batch_size=SLIDING_BATCH, verbose=0, progress="reading in order"):
    """Nats per prediction of `ids` read once, in windows of `length` that start every length // 2.

    A text no longer than a window is read as one window.
    """
    length = min(length, len(ids) - 1)
    x, y, w = sliding_windows(ids, length, max(length // 2, 1))
    # the batch axis left free: the last batch may be short
    return nats(build_model, weights, {"num_steps": length}, x, y, batch_size, w, verbose, progress)


def in_order_nats(build_model, spec, weights, ids, num_steps=100, verbose=0):
    """Nats per prediction of `ids` read in order: the state carried, or in sliding windows of the model's context.

    Args:
        build_model: Builds the model of `spec` at a shape (batch_size, num_steps, stateful).
        spec: The model's spec (or its config.json dict).
        num_steps: The window of a carried read (only speed depends on it).
    """
    spec = spec_from_dict(spec)
    if spec.carries_state:
        return carried_nats(build_model, weights, ids, num_steps, verbose)
    return sliding_nats(build_model, weights, ids, spec.context_length, verbose=verbose)
