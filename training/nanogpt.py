"""nanoGPT's view of a character model of Tiny Shakespeare: its validation text and two ways of reading it.

karpathy/nanoGPT's shakespeare_char cuts the same input.txt 90/10, so its
validation text, the last 111,540 characters, is exactly this project's valid
split followed by its test split. It is scored two ways:

    in order     every character once, in order: an LSTM carries its state through the whole
                 text (batch 1, as our valid and test passes read); a transformer, which has no
                 state, reads it in windows of its block_size that start every half block,
                 so each character has at least half a block of context (training/scoring.py)
    windows      nanoGPT's `estimate_loss`: random windows of block_size characters, each read
                 from nothing (a zero state, an empty context), the mean cross-entropy over every
                 position of every window, 200 batches of 64 windows; here the windows are drawn
                 with a fixed seed, so every model is scored on the same ones

    results = evaluate(build_model, spec, weights, validation_ids(valid, test))   # results.json's
    print(describe(results))
"""

import functools
import os

import numpy as np

from datasets import load_shakespeare
from datasets.batching import random_windows
from models import build_model, spec_from_dict
from training.errors import UserError
from training.inference import load_run_model, load_vocabulary
from training.run import read_json
from training.scoring import in_order_nats, nats

VAL_CHARS = 111_540      # nanoGPT's val.bin: the last 10% of input.txt, len − int(0.9 · len)
WINDOW_SIZES = (64, 256)  # block_size of nanoGPT's two configs (the CPU "baby" and the GPU one)
BATCHES, BATCH_SIZE = 200, 64  # estimate_loss: eval_iters batches of batch_size windows
SEED = 1337               # nanoGPT's seed, for the windows
CARRIED, SLIDING = "nanogpt_val_carried", "nanogpt_val_sliding"  # the in-order entries of an LSTM, a transformer


def validation_ids(valid, test):
    """nanoGPT's validation text as ids: Tiny Shakespeare's valid split, then its test split (their ids)."""
    ids = np.concatenate([np.asarray(valid, np.int32), np.asarray(test, np.int32)])
    if len(ids) != VAL_CHARS:
        raise ValueError(f"nanoGPT's validation is {VAL_CHARS:,} characters of Tiny Shakespeare; these splits "
                         f"hold {len(ids):,}.")
    return ids


def windows_nats(build_model, weights, ids, length, batches=BATCHES, batch_size=BATCH_SIZE, seed=SEED):
    """nanoGPT's estimate_loss: the mean cross-entropy (nats) over `batches` × `batch_size` random windows of `ids`.

    Args:
        build_model: Builds the model at a shape (batch_size, num_steps, stateful).
        weights: Its weights.
        length: The windows' length (nanoGPT's block_size).
    """
    x, y = random_windows(ids, batches * batch_size, length, np.random.default_rng(seed))
    return nats(build_model, weights, {"batch_size": batch_size, "num_steps": length, "stateful": False}, x, y,
                batch_size, progress=f"windows of {length}")


def in_order_key(spec):
    """The results.json entry of the in-order view: read with the state carried, or in sliding windows."""
    return CARRIED if spec_from_dict(spec).carries_state else SLIDING


def evaluate(build_model, spec, weights, ids, batches=BATCHES, num_steps=100):
    """Both of nanoGPT's views of `ids` (`validation_ids`), as results.json entries.

    In order (`nanogpt_val_carried` or `nanogpt_val_sliding`) and nanoGPT's
    windows estimate at each of WINDOW_SIZES the model can read
    (`nanogpt_val_windows_64`, `nanogpt_val_windows_256`; a transformer's
    own block_size too), in nats per character.
    """
    results = {in_order_key(spec): in_order_nats(build_model, spec, weights, ids, num_steps)}
    block = spec_from_dict(spec).context_length
    for length in sorted({*WINDOW_SIZES, block or WINDOW_SIZES[0]}):
        if not block or length <= block:
            results[f"nanogpt_val_windows_{length}"] = windows_nats(build_model, weights, ids, length, batches)
    results["nanogpt_windows_batches"] = batches
    return results


def describe(results):
    """One paragraph of what `evaluate` found."""
    how = ("read in order with the state carried" if CARRIED in results
           else "read in order in sliding windows (no state to carry)")
    windows = ", ".join(f"{results[key]:.4f} in windows of {key.rsplit('_', 1)[1]}" for key in results
                        if key.startswith("nanogpt_val_windows_"))
    return (f"nanoGPT's validation (the last {VAL_CHARS:,} characters of input.txt): "
            f"{results.get(CARRIED, results.get(SLIDING)):.4f} nats/char {how}; {windows} from a zero state "
            f"(estimate_loss, {results['nanogpt_windows_batches']} batches of {BATCH_SIZE}, seed {SEED}).")


def add_to_results(run, data, results, batches=BATCHES):
    """Both views of the run's kept model on nanoGPT's validation: printed, and added to results and results.json."""
    print(f"Scoring the kept model on nanoGPT's validation ({batches} batches of {BATCH_SIZE} windows; "
          f"--nanogpt-batches 0 skips it) ...", flush=True)
    results = {**results, **evaluate(run.build_model, run.settings["model"], run.best_weights(),
                                     validation_ids(data.valid, data.test), batches, run.config.eval_num_steps)}
    run.write_json("results.json", results)
    print(describe(results))
    return results


def run_validation_ids(run_dir, data_dir=None):
    """(the run's settings, nanoGPT's validation as its ids) of a train_char_rnn.py run on Tiny Shakespeare."""
    settings = read_json(os.path.join(run_dir, "config.json"), "the run's settings")
    own_text = settings.get("data", {}).get("text")
    if settings.get("script") != "train_char_rnn.py" or own_text:
        raise UserError(f"--evaluate-nanogpt scores a character model of Tiny Shakespeare on nanoGPT's validation "
                        f"text; {run_dir} is a run of {settings.get('script')} on {own_text or 'other data'}. Give "
                        f"a run of train_char_rnn.py without --text, or score your own file with --evaluate FILE.")
    vocabulary = load_vocabulary(run_dir)
    _, valid, test, _ = load_shakespeare(data_dir)
    return settings, validation_ids(vocabulary.encode(valid), vocabulary.encode(test))


def evaluate_run(run_dir, data_dir=None, batches=BATCHES):
    """Both views of a saved train_char_rnn.py run on Tiny Shakespeare (`sample.py RUN --evaluate-nanogpt`)."""
    model, _ = load_run_model(run_dir, "language_model")
    settings, ids = run_validation_ids(run_dir, data_dir)
    print(f"Scoring {run_dir} on nanoGPT's validation ({batches} batches of {BATCH_SIZE} windows) ...", flush=True)
    results = evaluate(functools.partial(build_model, settings["model"]), settings["model"], model.get_weights(),
                       ids, batches, settings["config"].get("eval_num_steps", 100))
    print(describe(results))
    return results
