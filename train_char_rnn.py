"""Character-level LSTM language model on Tiny Shakespeare (the char-rnn family).

karpathy/char-rnn and its TensorFlow ports (crazydonkey200/tensorflow-char-rnn,
sherjilozair/char-rnn-tensorflow) read Shakespeare one character at a time and
learn to write more of it. This script trains such a model on this project's
LSTM (or `--cell builtin`), keeps the model with the best validation loss,
writes samples after every epoch and reports the loss in nats and bits per
character and as perplexity, on the valid split every epoch and on the test
split at the end (the 90/5/5 split of tensorflow-datasets and
tensorflow-char-rnn).

    python train_char_rnn.py --preset small                     # 2-core CPU
    KERAS_BACKEND=jax python train_char_rnn.py --preset large   # GPU
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

from training.cli import lstm_layer_class, open_run, parse_script_args, preset_config
from training.errors import friendly_main


@dataclasses.dataclass(frozen=True)
class Config:
    num_layers: int = 2          # stacked LSTMs
    hidden_size: int = 128       # LSTM units
    embedding_size: int = 0      # 0: one-hot characters (tensorflow-char-rnn's default)
    num_steps: int = 10          # unrolled steps per batch (truncated BPTT)
    batch_size: int = 20         # parallel streams through the text
    learning_rate: float = 2e-3  # Adam
    lr_decay: float = 1.0        # learning-rate factor per epoch after decay_after
    decay_after: int = 0         # epochs at the full learning rate
    max_grad_norm: float = 5.0   # clip the gradients' global norm
    dropout: float = 0.0         # on the input of every LSTM and on the last LSTM's output
    epochs: int = 50             # epochs in all (an epoch reads the training text once)
    eval_num_steps: int = 100    # window of the valid/test passes (state carried: only speed depends on it)
    sample_length: int = 300     # characters of the sample written after every epoch
    batch_layout: str = "streams"  # "streams": contiguous, state carried; "windows": random places, zero state


PRESETS = {
    # crazydonkey200/tensorflow-char-rnn's defaults: 2×128, 10 steps, batch 20, Adam 2e-3, clip 5, no dropout.
    "classic": Config(),
    # Our best for the 2-core CPU in about 20 minutes.
    "small": Config(hidden_size=256, embedding_size=64, num_steps=50, batch_size=32, dropout=0.1, epochs=13,
                    lr_decay=0.85, decay_after=6),
    # Our best for a GPU.
    "large": Config(num_layers=3, hidden_size=700, embedding_size=128, num_steps=100, batch_size=64, dropout=0.35,
                    epochs=40, lr_decay=0.9, decay_after=10),
    # A few seconds, for tests.
    "test": Config(hidden_size=32, embedding_size=16, num_steps=20, batch_size=16, epochs=1, eval_num_steps=50,
                   sample_length=50, learning_rate=1e-2),
}


def learning_rate(config, epoch):
    return config.learning_rate * config.lr_decay ** max(epoch + 1 - config.decay_after, 0)


def training_rows(config, ids, seed, steps_per_epoch=None):
    """The training rows of an epoch, and how many there are.

    Returns:
        (count, rows): rows is the fixed stream rows (x, y), or for random
        windows a function epoch → (x, y), the same for the same epoch.
    """
    import numpy as np

    from datasets import random_windows
    from training.language_model import stream_rows

    x, y = stream_rows(ids, config.batch_size, config.num_steps)
    rows = len(x) if steps_per_epoch is None else min(len(x), steps_per_epoch * config.batch_size)
    if config.batch_layout == "streams":
        return rows, (x[:rows], y[:rows])
    return rows, lambda epoch: random_windows(ids, rows, config.num_steps, np.random.default_rng([seed, epoch]))


def add_arguments(parser):
    parser.add_argument("--batch-layout", choices=["streams", "windows"],
                        help="streams: contiguous, state carried (default); windows: random places, zero state")


def build_model(config, cell, vocab_size, batch_size=None, num_steps=None, stateful=True, seed=0):
    """Characters → embedding (or one-hot) → [dropout → LSTM] × num_layers → dropout → logits."""
    import keras

    lstm = lstm_layer_class(cell)
    tokens = keras.Input(batch_size=batch_size, shape=(num_steps,), dtype="int32", name="chars")
    if config.embedding_size:
        x = keras.layers.Embedding(vocab_size, config.embedding_size, name="embedding")(tokens)
    else:
        x = keras.layers.Embedding(vocab_size, vocab_size, embeddings_initializer="identity", trainable=False,
                                   name="one_hot")(tokens)
    for layer in range(config.num_layers):
        if config.dropout:
            x = keras.layers.Dropout(config.dropout, seed=seed + layer, name=f"lstm_{layer}_input_dropout")(x)
        x = lstm(config.hidden_size, return_sequences=True, stateful=stateful, unit_forget_bias=False,
                 seed=seed + 100 + layer, name=f"lstm_{layer}")(x)
    if config.dropout:
        x = keras.layers.Dropout(config.dropout, seed=seed + 99, name="output_dropout")(x)
    logits = keras.layers.Dense(vocab_size, name="logits")(x)
    return keras.Model(tokens, logits, name="char_rnn")


@friendly_main
def main(argv=None):
    args = parse_script_args(__doc__.split("\n\n")[0], PRESETS, "small", "char", argv, add_arguments)
    config = preset_config(PRESETS, args, epochs=args.epochs, batch_layout=args.batch_layout)
    run, state, config, settings = open_run(args, "train_char_rnn.py", config, "epochs")

    import keras

    from datasets import load_shakespeare
    from training.inference import Sampler
    from training.language_model import compile_evaluator, evaluate_perplexity, fit_epochs, whole_stream_rows
    from training.metrics import sequence_loss
    from training.run import atomic_save_model, atomic_write

    train, valid, test, vocabulary = load_shakespeare(args.data_dir)
    run.write_json("vocab.json", {"type": "chars", "tokens": vocabulary.chars})
    rows_per_epoch, rows = training_rows(config, vocabulary.encode(train), args.seed, args.steps_per_epoch)
    valid_rows = whole_stream_rows(vocabulary.encode(valid), config.eval_num_steps)
    test_rows = whole_stream_rows(vocabulary.encode(test), config.eval_num_steps)

    keras.utils.set_random_seed(args.seed)
    if state is None:
        model = build_model(config, args.cell, len(vocabulary), config.batch_size, config.num_steps,
                            stateful=config.batch_layout == "streams", seed=args.seed)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate, global_clipnorm=config.max_grad_norm),
                      loss=sequence_loss)
    else:
        model = run.load_checkpoint(state)
        print(f"Resuming {run.path} after epoch {state['epoch']}.")
    evaluator = compile_evaluator(build_model(config, args.cell, len(vocabulary), 1, config.eval_num_steps))
    portable = build_model(config, args.cell, len(vocabulary), stateful=False)
    print(f"char-rnn {args.preset}: {config.num_layers}×{config.hidden_size} {args.cell} LSTM, {model.count_params():,} "
          f"parameters, {rows_per_epoch // config.batch_size} steps of {config.batch_size}×{config.num_steps} characters "
          f"per epoch ({config.batch_layout}), backend {keras.backend.backend()}")

    def stream_perplexity(weights, rows):
        evaluator.set_weights(weights)
        x, y, w = rows
        return evaluate_perplexity(evaluator, x, y, 1, sample_weight=w)

    best = {"valid_nats": min((row["valid_nats"] for row in state["history"]), default=math.inf) if state else math.inf}

    def keep_best_and_sample(epoch, row):
        portable.set_weights(model.get_weights())
        if row["valid_nats"] < best["valid_nats"]:
            best["valid_nats"] = row["valid_nats"]
            atomic_save_model(portable, run.file("model.keras"))
        prime = "\n"
        text = vocabulary.decode(Sampler(portable).generate(vocabulary.encode(prime), config.sample_length,
                                                            temperature=0.8, seed=args.seed + epoch))
        samples_path = run.file("samples.txt")
        samples = open(samples_path, encoding="utf-8").read() if epoch and os.path.exists(samples_path) else ""
        atomic_write(run.file("samples.txt"), samples + f"=== epoch {epoch + 1} (temperature 0.8) ===\n{text}\n\n")
        return {"kept": row["valid_nats"] <= best["valid_nats"]}

    history = fit_epochs(
        run, model, rows, batch_size=config.batch_size, tokens_per_sequence=config.num_steps,
        epochs=config.epochs, state=state, settings=settings, learning_rate=lambda e: learning_rate(config, e),
        evaluate_valid=lambda trained: stream_perplexity(trained.get_weights(), valid_rows),
        title=f"char-rnn {args.preset}, {args.cell} cell", unit="char", after_epoch=keep_best_and_sample)

    best_model = keras.models.load_model(run.file("model.keras"), compile=False)
    best_epoch = min(history, key=lambda row: row["valid_nats"])
    test_nats = math.log(stream_perplexity(best_model.get_weights(), test_rows))
    results = {"best_epoch": best_epoch["epoch"], "valid_nats": best_epoch["valid_nats"], "test_nats": test_nats,
               "test_bits": test_nats / math.log(2), "test_perplexity": math.exp(test_nats),
               "valid_perplexity": best_epoch["valid_perplexity"],
               "train_seconds": sum(row["epoch_seconds"] for row in history)}
    run.write_json("results.json", results)
    print(f"Kept epoch {results['best_epoch']}: valid {results['valid_nats']:.4f} nats/char, test {test_nats:.4f} "
          f"nats/char ({results['test_bits']:.4f} bits/char, perplexity {results['test_perplexity']:.3f}). "
          f"Run folder: {run.path}")
    return results


if __name__ == "__main__":
    main()
