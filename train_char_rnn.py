"""Character-level LSTM language model on Tiny Shakespeare (the char-rnn family).

karpathy/char-rnn and its TensorFlow ports (crazydonkey200/tensorflow-char-rnn,
sherjilozair/char-rnn-tensorflow) read Shakespeare one character at a time and
learn to write more of it. This script trains such a model on this project's
LSTM (or `--cell builtin`), keeps the model with the best validation loss,
writes samples after every epoch and reports the loss in nats and bits per
character and as perplexity, on the valid split every epoch and on the test
split at the end (the 90/5/5 split of tensorflow-datasets and
tensorflow-char-rnn).

    python train_char_rnn.py --preset small                     # 2-core CPU, ~8 minutes
    python train_char_rnn.py --preset medium                    # 2-core CPU, ~14 minutes, better
    python train_char_rnn.py --preset wide                      # 2-core CPU, ~19 minutes, best
    KERAS_BACKEND=jax python train_char_rnn.py --preset large   # GPU
    python train_char_rnn.py --text my_novel.txt                # your own text (any UTF-8 file, split 90/5/5)
    python sample.py runs/<run> --prime "ROMEO:" --length 1000 --temperature 0.8

Batches are contiguous streams through the text (TensorFlow's PTB layout):
the LSTM state is carried from one batch to the next, so the model sees
context far beyond its unrolled `num_steps`. `--batch-layout windows` trains
on windows cut at random places instead (each starts from a zero state, as in
many Keras char-rnn scripts), as many characters per epoch. Validation and
test read the whole split once, in order, with the state carried (batch 1).
"""

import dataclasses
import math
import os

from datasets import parse_split
from training.cli import add_language_model_arguments, open_run, parse_script_args
from training.errors import UserError, friendly_main
from training.regularization import TECHNIQUES, Regularization, add_without_argument, spec_fields, switched_off


@dataclasses.dataclass(frozen=True)
class Config(Regularization):  # with AWD-LSTM's regularization, off unless a preset says
    layers: int = 2              # stacked LSTMs
    units: int = 128             # LSTM units
    embedding_size: int = 0      # 0: one-hot characters (tensorflow-char-rnn's default)
    num_steps: int = 10          # unrolled steps per batch (truncated BPTT)
    batch_size: int = 20         # parallel streams through the text
    learning_rate: float = 2e-3  # Adam
    lr_schedule: str = "step"    # learning_rate · lr_decay^max(epoch + 1 − decay_after, 0)
    lr_decay: float = 1.0        # learning-rate factor per epoch after decay_after
    decay_after: int = 0         # epochs at the full learning rate
    max_grad_norm: float = 5.0   # clip the gradients' global norm
    dropout: float = 0.0         # on the input of every LSTM and on the last LSTM's output
    epochs: int = 50             # epochs in all (an epoch reads the training text once)
    steps_per_epoch: int = 0     # 0: the whole training text each epoch; n: n steps
    eval_num_steps: int = 100    # window of the valid/test passes (state carried: only speed depends on it)
    sample_length: int = 300     # characters of the sample written after every epoch
    split: tuple = (0.9, 0.05, 0.05)  # train/valid/test fractions of a --text file (Tiny Shakespeare: tfds' split)
    batch_layout: str = "streams"  # "streams": contiguous, state carried; "windows": random places, zero state
    average_after: int = 0       # average Adam's iterates after this many epochs (0: never); valid, test, model use it
    average_window: int = 0      # 0: the mean of every iterate since; N: tapering to the last ~N steps


PRESETS = {
    # crazydonkey200/tensorflow-char-rnn's defaults: 2×128, 10 steps, batch 20, Adam 2e-3, clip 5, no dropout.
    "classic": Config(),
    # 2 × 256 for the 2-core CPU in about 10 minutes: Adam's iterates averaged over the last ~300 steps from
    # epoch 2 on (`--without averaging`: the same without).
    "small": Config(units=256, embedding_size=64, num_steps=50, batch_size=32, dropout=0.1, epochs=13,
                    lr_decay=0.85, decay_after=6, average_after=1, average_window=300),
    # `small` 1.5 × wider with more dropout, for the 2-core CPU in under 20 minutes: valid 1.357 / test 1.521
    # nats/char in 14.2 min on the AVX-512 VM (README; 1.354 / 1.517 in 17.9 min with the layers one by one).
    "medium": Config(units=384, embedding_size=64, num_steps=50, batch_size=32, dropout=0.25, epochs=15,
                     lr_decay=0.85, decay_after=6, average_after=1, average_window=300),
    # `medium` wider still (2 × 448) with more dropout: the best of these within 20 minutes of the 2-core CPU,
    # valid 1.342 / test 1.4997 nats/char in 19.0–19.9 min on the AVX-512 VM (README; the builtin cell: 28.8 min).
    "wide": Config(units=448, embedding_size=64, num_steps=50, batch_size=32, dropout=0.3, epochs=14,
                   lr_decay=0.85, decay_after=6, average_after=1, average_window=300),
    # `small` with AWD-LSTM's locked dropout and weight drop; measured behind `small` in these 20 minutes (README).
    "awd-small": Config(units=256, embedding_size=64, num_steps=50, batch_size=32, dropout=0.2, input_dropout=0.1,
                        output_dropout=0.2, locked_dropout=True, weight_dropout=0.2, epochs=13, lr_decay=0.85,
                        decay_after=6),
    # For a GPU. On an H100 (JAX, 2026-11-24): valid 1.4286 / test 1.6294 nats/char in 255 s, behind `small`: too few
    # updates (6,240) for its size; needs retuning (README).
    "large": Config(layers=3, units=700, embedding_size=128, num_steps=100, batch_size=64, dropout=0.35,
                    epochs=40, lr_decay=0.9, decay_after=10),
    # A few seconds, for tests.
    "test": Config(units=32, embedding_size=16, num_steps=20, batch_size=16, epochs=1, eval_num_steps=50,
                   sample_length=50, learning_rate=1e-2),
}

# TensorFlow gives each op half the cores and runs independent ops side by side: the small recurrent
# products gain more from that than from being split over both cores. char-rnn small's training step
# 66 → 48 ms on a 2-core CPU (benchmarks/model_speed.py, README Speed).
TWO_OPS_AT_ONCE = True

# What `--without` switches off: the model's techniques and the averaging of Adam's iterates.
CHAR_TECHNIQUES = {**TECHNIQUES, "averaging": {"average_after": 0}}


def model_spec(config, vocab_size, cell, seed):
    from models import LanguageModelSpec

    return LanguageModelSpec(vocab_size=vocab_size, cell=cell, seed=seed, **spec_fields(config))


def rows_per_epoch(config, length):
    """Training rows of num_steps characters per epoch, from a training text of `length` characters."""
    rows = (length // config.batch_size - 1) // config.num_steps * config.batch_size  # stream_rows' count
    return min(rows, config.steps_per_epoch * config.batch_size) if config.steps_per_epoch else rows


def training_rows(config, ids, seed, epoch):
    """The training rows (x, y) of `epoch`: the contiguous streams, or random windows drawn for this epoch.

    Windows are as many as the streams' rows, and the same for the same
    (seed, epoch), so a resumed run sees the data an uninterrupted one would.
    """
    import numpy as np

    from datasets import random_windows
    from training.language_model import stream_rows

    rows = rows_per_epoch(config, len(ids))
    if config.batch_layout == "streams":
        x, y = stream_rows(ids, config.batch_size, config.num_steps)
        return x[:rows], y[:rows]
    return random_windows(ids, rows, config.num_steps, np.random.default_rng([seed, epoch]))


def adam(config):
    """Adam with global-norm clipping; `training.averaging.AveragedAdam` when the config averages its iterates."""
    import keras

    from training.averaging import AveragedAdam

    if config.average_after:
        return AveragedAdam(config.learning_rate, global_clipnorm=config.max_grad_norm,
                            average_window=config.average_window)
    return keras.optimizers.Adam(config.learning_rate, global_clipnorm=config.max_grad_norm)


def append_sample(run, epoch, text, temperature):
    """Adds the epoch's sample to samples.txt (replacing the block of this epoch a crash may have left)."""
    from training.run import atomic_write

    path, header = run.file("samples.txt"), f"=== epoch {epoch + 1} "
    samples = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    if header in samples:
        samples = samples[: samples.index(header)]
    atomic_write(path, samples + f"{header}(temperature {temperature}) ===\n{text}\n\n")


def add_arguments(parser):
    parser.add_argument("--batch-layout", choices=["streams", "windows"],
                        help="streams: contiguous, state carried (default); windows: random places, zero state")
    parser.add_argument("--text", metavar="FILE", help="train on your own text: any UTF-8 file (default: Tiny "
                                                       "Shakespeare)")
    parser.add_argument("--split", help="train,valid,test fractions of --text (default 0.9,0.05,0.05)")
    add_without_argument(parser, CHAR_TECHNIQUES)
    add_language_model_arguments(parser)


def load_data(run, data_dir):
    """(train, valid, test, vocabulary) of Tiny Shakespeare or of the run's --text, checked to be long enough."""
    from datasets import check_fingerprints, fingerprint, load_shakespeare, load_text
    from training.language_model import check_length

    config, text = run.config, run.settings["data"].get("text")
    if text and run.resumed:
        check_fingerprints(run.settings["data"]["files"])
    if text:
        train, valid, test, vocabulary = load_text(text, config.split)
        run.settings["data"]["files"] = [fingerprint(text)]
    else:
        *splits, vocabulary = load_shakespeare(data_dir)
        train, valid, test = (vocabulary.encode(split) for split in splits)
    source = text or "Tiny Shakespeare"
    advice = "Lower --batch-size or --num-steps, or give the file more text (or more of it to training with --split)."
    check_length(train, f"the training part of {source}", config.batch_size, config.num_steps, advice)
    for split, ids in (("valid", valid), ("test", test)):
        check_length(ids, f"the {split} part of {source}", advice="Give it a larger share with --split.")
    return train, valid, test, vocabulary


@friendly_main(two_ops_at_once=TWO_OPS_AT_ONCE)
def main(argv=None):
    args = parse_script_args(__doc__.split("\n\n")[0], PRESETS, "small", argv, add_arguments)
    if args.split is not None and not args.text:
        raise UserError("--split cuts a --text file; Tiny Shakespeare keeps the split of tensorflow-datasets.")
    run = open_run(args, "train_char_rnn.py", PRESETS, data={"text": args.text and os.path.abspath(args.text)},
                   batch_layout=args.batch_layout, split=args.split and parse_split(args.split),
                   batch_size=args.batch_size, num_steps=args.num_steps, **switched_off(args.without, CHAR_TECHNIQUES))
    config = run.config

    import keras

    from training import distribute
    from training.averaging import evaluation_weights, start_averaging_if_due
    from training.inference import Sampler, line_start
    from training.language_model import (compile_evaluator, epoch_row, evaluate_perplexity, fit_epoch, print_epoch,
                                         whole_stream_rows)
    from training.metrics import sequence_loss
    from training.schedule import start_epoch

    train_ids, valid_ids, test_ids, vocabulary = load_data(run, args.data_dir)
    valid_rows = whole_stream_rows(valid_ids, config.eval_num_steps)
    test_rows = whole_stream_rows(test_ids, config.eval_num_steps)

    keras.utils.set_random_seed(run.seed)
    run.begin(model_spec(config, len(vocabulary), run.cell, run.seed), vocabulary,
              title=f"char-rnn {run.preset}, {run.cell} cell", keep=("valid_nats", "min"),
              plots={"perplexity.png": (["train_perplexity", "valid_perplexity"], "perplexity", True)})
    stateful = config.batch_layout == "streams"
    distribution = distribute.start(args.distribute, config.batch_size, stateful)
    with distribute.scope(distribution):
        model = run.build_model(batch_size=config.batch_size, num_steps=config.num_steps, stateful=stateful)
        model.compile(optimizer=adam(config), loss=sequence_loss)
        if run.resumed:
            run.restore(model)
            print(f"Resuming {run.path} after epoch {len(run.history)}.")
    evaluator = compile_evaluator(run.build_model(batch_size=1, num_steps=config.eval_num_steps, stateful=True))
    sampler = Sampler(run.build_model(batch_size=1, num_steps=1, stateful=True))

    def stream_perplexity(rows):  # the whole split once, in order, state carried (batch 1)
        x, y, w = rows
        return evaluate_perplexity(evaluator, x, y, 1, sample_weight=w)

    source = run.settings["data"].get("text") or "Tiny Shakespeare"
    print(f"{source} {run.preset}: {len(vocabulary)} characters, {config.layers}×{config.units} {run.cell} LSTM, "
          f"{model.count_params():,} parameters, {rows_per_epoch(config, len(train_ids)) // config.batch_size} steps of "
          f"{config.batch_size}×{config.num_steps} characters per epoch ({config.batch_layout}), "
          f"backend {keras.backend.backend()}")

    for epoch in run.epochs(config.epochs):
        start_averaging_if_due(model.optimizer, [row["valid_nats"] for row in run.history], after=config.average_after)
        lr = start_epoch(model, config, epoch)
        x, y = training_rows(config, train_ids, run.seed, epoch)
        with distribute.scope(distribution):
            train_ppl, seconds = fit_epoch(model, x, y, config.batch_size, config.num_steps)
        weights = evaluation_weights(model)  # the averaged weights once they are averaged
        evaluator.set_weights(weights)
        row = epoch_row(lr, train_ppl, stream_perplexity(valid_rows), x.size, seconds, "char")
        sampler.model.set_weights(weights)
        sample = sampler.generate(line_start(vocabulary), config.sample_length, temperature=0.8, seed=run.seed + epoch)
        append_sample(run, epoch, vocabulary.decode(sample), 0.8)
        print_epoch(run.end_epoch(model, row, weights), "char")

    evaluator.set_weights(run.kept_weights())
    test_nats = math.log(stream_perplexity(test_rows))
    kept = run.kept_row()
    results = {"best_epoch": kept["epoch"], "valid_nats": kept["valid_nats"], "test_nats": test_nats,
               "test_bits": test_nats / math.log(2), "test_perplexity": math.exp(test_nats),
               "valid_perplexity": kept["valid_perplexity"],
               "train_seconds": sum(row["epoch_seconds"] for row in run.history)}
    run.write_json("results.json", results)
    print(f"Kept epoch {results['best_epoch']}: valid {results['valid_nats']:.4f} nats/char, test {test_nats:.4f} "
          f"nats/char ({results['test_bits']:.4f} bits/char, perplexity {results['test_perplexity']:.3f}). "
          f"Run folder: {run.path}")
    return results


if __name__ == "__main__":
    main()
