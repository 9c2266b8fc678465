"""Long-range memory and gradient flow: a plain RNN against the LSTM, measured.

The recall task: a sequence starts with one of `symbols` symbols, then `lag`
distractors drawn from other tokens; after the last one the network must name
the first symbol. The answer depends only on something `lag` steps back, so
chance (1/symbols) is all a network that forgets can reach.

For every lag, `keras.layers.SimpleRNN` and this project's `LSTM` of the same
width train with the same budget (steps, batch, optimizer) and are scored on
fresh sequences. Then, for the longest lag both saw, the norm of ∂loss/∂x_t
against the distance T − t from the loss, at initialisation and after
training: the vanishing gradient, measured.

    python -m experiments.long_memory            # quick: about 3 minutes on a 2-core CPU
    python -m experiments.long_memory --full     # longer and cleaner
    python -m experiments.long_memory --lags 5 50 --steps 300   # two lags, a short training
"""

import dataclasses
import json
import os
import time

from training import startup  # first: the backend's environment, set before Keras loads

import keras
import numpy as np
from keras import ops

from experiments import command_line, output_folder, parse, seed_number, sorted_once, whole_number
from models import GRU, LSTM, VARIANTS
from training.errors import friendly_main
from training.figures import plt, save_figure
from training.gradients import gradients
from training.optimizers import make_optimizer

LAGS = (5, 10, 20, 50, 100, 200)


@dataclasses.dataclass(frozen=True)
class Config:
    units: int = 32             # width of both recurrent layers
    symbols: int = 8            # classes to recall (chance = 1/8)
    distractors: int = 8        # other tokens that fill the gap
    batch_size: int = 64        # sequences per step
    steps: int = 1200           # training steps per (model, lag)
    learning_rate: float = 3e-3 # Adam
    forget_bias: float = 3.0    # LSTM forget-gate bias at the start: f ≈ σ(3) = 0.95, the cell state open
    test_sequences: int = 1000  # fresh sequences to score


QUICK = Config()
FULL = Config(steps=4000, test_sequences=4000)


def recall_task(count, lag, symbols, distractors, rng):
    """x: (count, lag + 1) token ids, the symbol first and then `lag` distractors; y: the symbol.

    Symbols are tokens 0..symbols−1, distractors symbols..symbols+distractors−1.
    """
    y = rng.integers(0, symbols, size=count)
    x = np.empty((count, lag + 1), dtype=np.int32)
    x[:, 0] = y
    x[:, 1:] = rng.integers(symbols, symbols + distractors, size=(count, lag))
    return x, y.astype(np.int32)


def one_hot(x, depth):
    return np.eye(depth, dtype=np.float32)[x]


def forget_bias_initializer(units, value, blocks=VARIANTS["vanilla"]):
    """The bias blocks of an LSTM (i, f, C̃, o, or a variant's `blocks`): `value` in the forget block, 0 elsewhere."""

    def initializer(shape, dtype=None):
        return np.concatenate([np.full(units, value if block == "f" else 0.0) for block in blocks]).astype(
            dtype or "float32")

    return initializer


def update_bias_initializer(units, value):
    """A GRU's bias (2, 3·units), blocks z, r, h: `value` in the update gate's input bias, 0 elsewhere.

    h_t = z_t * h_{t-1} + (1 − z_t) * h̃_t, so a large z keeps the state: the GRU's forget-gate bias.
    """

    def initializer(shape, dtype=None):
        bias = np.zeros((2, 3 * units))
        bias[0, :units] = value
        return bias.astype(dtype or "float32")

    return initializer


def build(kind, config, lag, seed, variant="vanilla"):
    """The recall model of `kind`: "rnn" (SimpleRNN), "lstm" (this project's, in `variant`) or "gru" (its GRU).

    The LSTM's forget gate and the GRU's update gate start with the bias `config.forget_bias`.
    """
    depth = config.symbols + config.distractors
    inputs = keras.Input(shape=(lag + 1, depth))
    if kind == "rnn":
        recurrent = keras.layers.SimpleRNN(config.units, seed=seed, name="rnn")
    elif kind == "gru":
        recurrent = GRU(config.units, seed=seed, name="gru",
                        bias_initializer=update_bias_initializer(config.units, config.forget_bias))
    else:
        recurrent = LSTM(config.units, seed=seed, name="lstm", unit_forget_bias=False, variant=variant,
                         bias_initializer=forget_bias_initializer(config.units, config.forget_bias, VARIANTS[variant]))
    outputs = keras.layers.Dense(config.symbols)(recurrent(inputs))
    model = keras.Model(inputs, outputs, name=kind)
    model.compile(optimizer=make_optimizer("adam", config.learning_rate, clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def gradient_norms(model, x, y):
    """‖∂loss/∂x_t‖ averaged over the batch, for t = 0..T; index by distance with [::-1]."""
    def loss(logits):
        return ops.mean(ops.sparse_categorical_crossentropy(ops.convert_to_tensor(y), logits, from_logits=True))

    g_x = gradients(model, x, loss, wrt_inputs=True)[-1]
    return np.linalg.norm(g_x, axis=-1).mean(axis=0)


def train_and_score(model, config, lag, rng):
    """Trains `model` for config.steps batches of fresh sequences; (accuracy on new ones, seconds it took)."""
    depth = config.symbols + config.distractors
    start = time.perf_counter()
    x, y = recall_task(config.steps * config.batch_size, lag, config.symbols, config.distractors, rng)
    model.fit(one_hot(x, depth), y, batch_size=config.batch_size, epochs=1, verbose=0)
    x_test, y_test = recall_task(config.test_sequences, lag, config.symbols, config.distractors, rng)
    accuracy = model.evaluate(one_hot(x_test, depth), y_test, verbose=0, return_dict=True)["accuracy"]
    return float(accuracy), time.perf_counter() - start


def run(config, lags, out_dir, seed=0):
    output_folder(out_dir)
    depth = config.symbols + config.distractors
    table, flows = [], {}
    for lag in lags:
        row = {"lag": lag}
        for kind in ("rnn", "lstm"):
            keras.utils.set_random_seed(seed)
            rng = np.random.default_rng([seed, lag])
            model = build(kind, config, lag, seed)
            x_probe, y_probe = recall_task(256, lag, config.symbols, config.distractors, rng)
            before = gradient_norms(model, one_hot(x_probe, depth), y_probe)
            row[kind], row[f"{kind}_seconds"] = train_and_score(model, config, lag, rng)
            flows[(kind, lag)] = (before, gradient_norms(model, one_hot(x_probe, depth), y_probe))
            print(f"lag {lag:>4}  {kind:<5} accuracy {row[kind]:.3f}  ({row[f'{kind}_seconds']:.0f} s)", flush=True)
        table.append(row)
    plot_accuracy(table, config, os.path.join(out_dir, "memory_accuracy.png"))
    plot_gradient_flow(flows, max(lags), os.path.join(out_dir, "gradient_flow.png"))
    with open(os.path.join(out_dir, "memory_table.json"), "w") as f:
        json.dump({"config": dataclasses.asdict(config), "table": table}, f, indent=2)
    print_table(table, config)
    return table, flows


def print_table(table, config):
    print(f"\nrecall accuracy after {config.steps} steps of {config.batch_size} (chance {1 / config.symbols:.3f}), "
          f"{config.units} units each")
    print("| lag T | SimpleRNN | LSTM |\n|---|---|---|")
    for row in table:
        print(f"| {row['lag']} | {row['rnn']:.3f} | {row['lstm']:.3f} |")


def plot_accuracy(table, config, path):
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    lags = [row["lag"] for row in table]
    ax.plot(lags, [row["rnn"] for row in table], marker="o", label="SimpleRNN")
    ax.plot(lags, [row["lstm"] for row in table], marker="s", label="LSTM (ours)")
    ax.axhline(1 / config.symbols, color="gray", linestyle="--", label="chance")
    ax.set_xscale("log")
    ax.set_xticks(lags, [str(lag) for lag in lags])
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("lag T: steps between the symbol and the question")
    ax.set_ylabel("recall accuracy")
    ax.set_title(f"Remembering one symbol, {config.units} units, {config.steps} steps")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def plot_gradient_flow(flows, lag, path):
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    styles = {"rnn": ("tab:blue", "SimpleRNN"), "lstm": ("tab:orange", "LSTM")}
    for kind, (color, label) in styles.items():
        before, after = flows[(kind, lag)]
        distance = np.arange(len(before))
        ax.plot(distance, np.maximum(before[::-1], 1e-30), color=color, linestyle=":", label=f"{label}, at initialisation")
        ax.plot(distance, np.maximum(after[::-1], 1e-30), color=color, label=f"{label}, after training")
    ax.set_yscale("log")
    ax.set_xlabel("distance T − t from the loss (steps)")
    ax.set_ylabel("‖∂loss/∂x_t‖ (batch mean)")
    ax.set_title(f"Gradient reaching each input, lag {lag}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    save_figure(fig, path)


@friendly_main
def main(argv=None):
    startup.start_devices()
    parser = command_line(__doc__)
    parser.add_argument("--full", action="store_true", help="the longer, cleaner version")
    parser.add_argument("--lags", nargs="+", type=whole_number(1), default=LAGS, metavar="LAG",
                        help=f"the lags, sorted, each once (default {' '.join(map(str, LAGS))})")
    parser.add_argument("--steps", type=whole_number(1), help="training steps per model and lag (overrides the mode's)")
    parser.add_argument("--output-dir", default="runs/long_memory", help="where the PNGs and the table go")
    parser.add_argument("--seed", type=seed_number, default=0, help="the seed (default 0)")
    args = parse(parser, argv)
    config = FULL if args.full else QUICK
    if args.steps:
        config = dataclasses.replace(config, steps=args.steps)
    return run(config, list(sorted_once(args.lags)), args.output_dir, args.seed)


if __name__ == "__main__":
    main()
