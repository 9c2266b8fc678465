"""Which parts of the LSTM matter: every variant of `models.VARIANTS` and the GRU, on three tasks, measured.

Greff et al. (2015, "LSTM: A Search Space Odyssey") switched one part of the
LSTM off at a time; Jozefowicz et al. (2015) found that a forget-gate bias of
1 closes most of the gap to the GRU. Here every variant, the vanilla LSTM and
this project's GRU train with the same budget on

    (a) the recall task of experiments/long_memory.py (one symbol to remember
        over `lag` steps) with the forget-gate bias (the GRU's update-gate
        bias) starting at each of `forget_biases` (no-forget-gate once);
    (b) char-rnn `small` on Tiny Shakespeare for a fixed number of steps
        (valid nats per character);
    (c) the MNIST BiLSTM (`default` preset) for a fixed number of steps
        (test accuracy);

for each seed of `seeds`. The table (mean and spread over the seeds) goes to
variants.md and variants.json, the plot to variants.png, in --output-dir.
Every finished training is kept in variants.json, so a stopped run continues
where it stopped (and a finished one only redraws). Each training prints a
line as it starts (which part, model and seed) and as it ends (its result,
and from then on an estimate of the time the rest will take).

    python -m experiments.variants            # quick: one seed, lag 50, a few hundred steps each (≤ 30 min)
    python -m experiments.variants --seeds 0 1  # the same with two seeds (mean and range; ~twice the time)
    python -m experiments.variants --full     # lags 20–200, biases 0, 1, 3, three seeds, longer
    python -m experiments.variants --parts memory --models vanilla gru   # one part, two models

The char-rnn and MNIST runs are run folders of the scripts (--output-dir/char/…,
--output-dir/mnist/…), trained with `--variant NAME` or `--cell gru`. The
speed of each variant against the vanilla LSTM: benchmarks/variant_speed.py.
"""

import dataclasses
import functools
import json
import os
import time

from training import startup  # first: the backend's environment, set before Keras loads

import keras
import numpy as np

import train_char_rnn
import train_mnist_bilstm
from experiments import command_line, in_order_once, long_memory, output_folder, parse, read_results, seed_number, sorted_once
from models import VARIANTS
from training.errors import friendly_main
from training.figures import plt, save_figure
from training.run import minutes

MODELS = (*VARIANTS, "gru")  # the LSTM variants, then this project's GRU


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: tuple = (0,)
    lags: tuple = (50,)                  # recall task: steps between the symbol and the question
    forget_biases: tuple = (0.0, 1.0, 3.0)  # recall task: the forget-gate bias at the start
    memory_steps: int = 300              # recall task: training steps of 64 sequences
    char_steps: int = 200                # char-rnn: training steps (of 32 × 50 characters in `small`)
    mnist_steps: int = 120               # MNIST BiLSTM: training steps (of 128 images in `default`)
    char_preset: str = "small"           # of train_char_rnn.py
    mnist_preset: str = "default"        # of train_mnist_bilstm.py


QUICK = Config()
FULL = Config(seeds=(0, 1, 2), lags=(20, 50, 100, 200), memory_steps=2000, char_steps=2000, mnist_steps=1500)
PARTS = ("memory", "char", "mnist")


def model_arguments(model):
    """The script options of one model: --variant NAME, or --cell gru."""
    return ["--cell", "gru"] if model == "gru" else ["--variant", model]


def forget_biases(model, config):
    """The forget-gate biases part (a) tries on `model` (the GRU: on its update gate); None alone where there
    is no forget gate to set."""
    return config.forget_biases if model == "gru" or "f" in VARIANTS[model] else (None,)


def memory_key(model, bias, lag, seed, config):
    return f"memory/{model}/bias{bias}/lag{lag}/seed{seed}/steps{config.memory_steps}"


def recall(model, bias, lag, seed, config):
    """Recall accuracy (and seconds) of one model after config.memory_steps steps."""
    memory = dataclasses.replace(long_memory.QUICK, steps=config.memory_steps,
                                 forget_bias=0.0 if bias is None else bias)
    keras.utils.set_random_seed(seed)
    network = long_memory.build("gru" if model == "gru" else "lstm", memory, lag, seed,
                                variant="vanilla" if model == "gru" else model)
    accuracy, seconds = long_memory.train_and_score(network, memory, lag, np.random.default_rng([seed, lag]))
    return {"accuracy": accuracy, "seconds": seconds}


def char_run(model, seed, config, data_dir, out_dir):
    """char-rnn (`small`) for config.char_steps steps: valid nats per character (and the seconds it trained)."""
    argv = ["--preset", config.char_preset, "--epochs", "1", "--steps-per-epoch", str(config.char_steps), "--seed", str(seed),
            "--output-dir", os.path.join(out_dir, "char", f"{model}-seed{seed}"), "--nanogpt-batches", "0",
            *model_arguments(model)]
    results = train_char_rnn.main(argv + (["--data-dir", data_dir] if data_dir else []))
    return {"valid_nats": results["valid_nats"], "train_seconds": results["train_seconds"]}


def mnist_run(model, seed, config, data_dir, out_dir):
    """The MNIST BiLSTM (`default`) for config.mnist_steps steps: test accuracy."""
    argv = ["--preset", config.mnist_preset, "--epochs", "1", "--steps-per-epoch", str(config.mnist_steps), "--seed", str(seed),
            "--output-dir", os.path.join(out_dir, "mnist", f"{model}-seed{seed}"), *model_arguments(model)]
    results = train_mnist_bilstm.main(argv + (["--data-dir", data_dir] if data_dir else []))
    return {"test_accuracy": results["test_accuracy"]}


def run(config, out_dir, data_dir=None, parts=PARTS, models=MODELS):
    """Trains what variants.json does not hold yet; writes the table and the plot. Returns the results dict."""
    output_folder(out_dir)
    path = os.path.join(out_dir, "variants.json")
    done = read_results(path, "the finished trainings of this experiment",
                        "every training then runs again: move the char/ and mnist/ folders beside it away too"
                        "; or choose another --output-dir")
    jobs = [(key, label, compute) for key, label, compute in trainings(config, out_dir, data_dir, parts, models)
            if key not in done]
    if jobs:
        print(f"{len(jobs)} training(s) to run ({len(done)} done before, kept in {path})", flush=True)
    seconds = {}  # part: the seconds of each training of it timed here
    for index, (key, label, compute) in enumerate(jobs):
        print(f"[{index + 1}/{len(jobs)}] {label} ...", flush=True)
        start = time.perf_counter()
        done[key] = compute()
        seconds.setdefault(key.split("/")[0], []).append(time.perf_counter() - start)
        keras.backend.clear_session()
        with open(path + ".tmp", "w") as f:
            json.dump(done, f, indent=1)
        os.replace(path + ".tmp", path)
        print(f"{key}: {done[key]} ({minutes(seconds[key.split('/')[0]][-1])}{time_left(jobs[index + 1:], seconds)})",
              flush=True)
    table = summary(done, config, models)
    write_table(table, config, os.path.join(out_dir, "variants.md"))
    plot(table, config, os.path.join(out_dir, "variants.png"))
    return {"results": done, "table": table}


def trainings(config, out_dir, data_dir, parts, models):
    """(key in variants.json, what it is in words, the function that trains it) of every training, in order."""
    for model in models if "memory" in parts else ():
        for bias in forget_biases(model, config):
            for lag in config.lags:
                for seed in config.seeds:
                    yield (memory_key(model, bias, lag, seed, config),
                           f"recall, {model}, " + ("no forget bias" if bias is None else f"bias {bias:g}")
                           + f", lag {lag}, seed {seed}, {config.memory_steps} steps",
                           functools.partial(recall, model, bias, lag, seed, config))
    for seed in config.seeds:
        for model in models:
            if "char" in parts:
                yield (f"char/{model}/seed{seed}/steps{config.char_steps}",
                       f"char-rnn {config.char_preset}, {model}, seed {seed}, {config.char_steps} steps",
                       functools.partial(char_run, model, seed, config, data_dir, out_dir))
            if "mnist" in parts:
                yield (f"mnist/{model}/seed{seed}/steps{config.mnist_steps}",
                       f"MNIST BiLSTM {config.mnist_preset}, {model}, seed {seed}, {config.mnist_steps} steps",
                       functools.partial(mnist_run, model, seed, config, data_dir, out_dir))


def time_left(jobs, seconds):
    """'; N left, about T' of the trainings `jobs` still to run: each at the mean time of its part here (of all
    parts timed where its own is not yet); '' before the first is timed, '; all done' after the last."""
    if not jobs:
        return "; all done"
    timed = [s for part in seconds.values() for s in part]
    if not timed:
        return ""
    mean = {part: sum(s) / len(s) for part, s in seconds.items()}
    overall = sum(timed) / len(timed)
    left = sum(mean.get(key.split("/")[0], overall) for key, _, _ in jobs)
    return f"; {len(jobs)} left, about {minutes(left)}"


def spread(values):
    """(mean, min, max) of a list, or None for an empty one."""
    return (float(np.mean(values)), float(np.min(values)), float(np.max(values))) if values else None


def summary(done, config, models=MODELS):
    """{model: {column: (mean, min, max) over the seeds}} of what `done` holds for `config`."""
    table = {}
    for model in models:
        row = {}
        for lag in config.lags:
            for bias in forget_biases(model, config):
                keys = [memory_key(model, bias, lag, seed, config) for seed in config.seeds]
                row[recall_column(lag, bias)] = spread(
                    [done[key]["accuracy"] for key in keys if key in done])
        for part, steps, column, field in (("char", config.char_steps, "char valid nats", "valid_nats"),
                                           ("mnist", config.mnist_steps, "MNIST test accuracy", "test_accuracy")):
            values = [done[key][field] for seed in config.seeds
                      if (key := f"{part}/{model}/seed{seed}/steps{steps}") in done]
            row[column] = spread(values)
        table[model] = row
    return table


def recall_column(lag, bias):
    return f"recall lag {lag}, " + ("no forget bias" if bias is None else f"bias {bias:g}")


def columns_of(config):
    """The table's columns: recall per lag and bias (then without one), char-rnn, MNIST."""
    recall = [recall_column(lag, bias) for lag in config.lags for bias in (*config.forget_biases, None)]
    return recall + ["char valid nats", "MNIST test accuracy"]


def cell_text(value, seeds):
    if value is None:
        return "—"
    mean, low, high = value
    digits = 1 if mean > 10 else 3
    return f"{mean:.{digits}f}" + (f" ({low:.{digits}f}–{high:.{digits}f})" if seeds > 1 else "")


def write_table(table, config, path):
    """The Markdown table: a row per model, the mean over the seeds (and its range with several)."""
    columns = columns_of(config)
    lines = [f"Steps: recall {config.memory_steps}, char-rnn {config.char_steps}, MNIST {config.mnist_steps}; "
             f"seeds {', '.join(map(str, config.seeds))}. Recall with a bias: the forget-gate bias at the start "
             f"(the GRU: its update gate's).", "",
             "| model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for model, row in table.items():
        lines.append(f"| {model} | " + " | ".join(cell_text(row.get(c), len(config.seeds)) for c in columns) + " |")
    text = "\n".join(lines) + "\n"
    with open(path, "w") as f:
        f.write(text)
    print("\n" + text)


def plot(table, config, path):
    """One panel per column with numbers: a bar per model (the mean) with the range over the seeds."""
    columns = [c for c in columns_of(config) if any(row.get(c) for row in table.values())]
    if not columns:
        return
    fig, axes = plt.subplots(len(columns), 1, figsize=(8, 2.2 * len(columns)), dpi=110, squeeze=False, sharex=True)
    models = list(table)
    for ax, column in zip(axes[:, 0], columns):
        values = [table[m].get(column) for m in models]
        means = [v[0] if v else np.nan for v in values]
        errors = [[v[0] - v[1] if v else 0 for v in values], [v[2] - v[0] if v else 0 for v in values]]
        colors = ["tab:orange" if m == "vanilla" else "tab:green" if m == "gru" else "tab:blue" for m in models]
        ax.bar(range(len(models)), means, yerr=errors, color=colors, capsize=3)
        ax.set_ylabel(column, fontsize=8)
        ax.set_xlim(-0.5, len(models) - 0.5)  # the same slot for a model in every panel, missing bars or not
        ax.grid(alpha=0.3, axis="y")
    axes[-1, 0].set_xticks(range(len(models)), models, rotation=30, ha="right", rotation_mode="anchor", fontsize=8)
    axes[0, 0].set_title(f"LSTM variants and the GRU ({len(config.seeds)} seed(s); bars: mean, whiskers: range)")
    save_figure(fig, path)


@friendly_main
def main(argv=None):
    startup.start_devices()
    parser = command_line(__doc__)
    parser.add_argument("--seeds", nargs="+", type=seed_number, metavar="SEED",
                        help="seeds, instead of the mode's (quick: 0; --full: 0 1 2); sorted, each once")
    parser.add_argument("--full", action="store_true", help="every lag and bias, three seeds, longer trainings")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=PARTS, metavar="PART",
                        help=f"which parts, of {', '.join(PARTS)} (default all)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=MODELS, metavar="MODEL",
                        help=f"the table's rows, in this order: of {', '.join(MODELS)} (default all)")
    parser.add_argument("--data-dir", help="the scripts' --data-dir (default: as they look)")
    parser.add_argument("--output-dir", default="runs/variants", help="where the table, the plot and the runs go")
    args = parse(parser, argv)
    config = FULL if args.full else QUICK
    if args.seeds is not None:
        config = dataclasses.replace(config, seeds=sorted_once(args.seeds))
    return run(config, args.output_dir, args.data_dir, in_order_once(args.parts), in_order_once(args.models))


if __name__ == "__main__":
    main()
