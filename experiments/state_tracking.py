"""State tracking beyond the training lengths: the LSTM against a transformer on tasks of the Chomsky hierarchy.

Delétang et al., "Neural Networks and the Chomsky Hierarchy" (ICLR 2023; code:
google-deepmind/neural_networks_chomsky_hierarchy) train every network on
sequences of length 1–40 and test it on lengths 41–500. Followed here: the
tasks as their tasks/regular/*.py, tasks/dcf/reverse_string.py and
tasks/cs/{bucket_sort,duplicate_string}.py define them (same vocabularies and
labels; modular arithmetic with * before + and −, as theirs), one-hot inputs
for the recurrent networks, an output phase of blank tokens after the input
for the tasks whose answer is a string (the answer is read at those
positions), the loss and the accuracy over the output positions only, and
their score: the accuracy per test length, its mean over the test lengths,
the best of the seeds (their Section 4). Written here, not taken from them:
all of the code, and the training budget (a 2-core CPU, not 1,000,000 steps
on a GPU; docs/experiments.md says what each mode uses).

Tasks (`TASKS`), by the paper's level:

    regular   parity (count the 1s mod 2), modular (0–4 with + − *, mod 5), even-pairs (are "ab" and "ba"
              equally often in a string of a, b: first letter = last), cycle (walk −1/0/+1 on a cycle of 5)
    counter   bucket-sort (sort a string of 5 letters: counting them suffices)
    non-reg.  reverse (a binary string backwards: needs a stack), duplicate (the string twice: a tape)

Training: each batch holds sequences of lengths drawn uniformly from 1–40 (the
paper draws one length per batch), read from a zero state; the positions after
a sequence's end are never scored, and with causal models they cannot change
what is scored. `--supervision prefixes` (not the paper's) trains the regular
tasks on 40-token strings instead, scored after every prefix: the same lengths
1–40, 40 answers a sequence instead of one (`SUPERVISION`).

Scoring: the regular tasks' answer at step n depends on the first n tokens
only, so one pass over 500-token sequences scores every length 41–500 at once
(each prefix is a fresh string of its length); the other tasks are scored
length by length.

Models (`MODELS`): this project's LSTM (`models.LSTM`) and its Greff variants
(no-forget-gate, no-output-gate, coupled, peephole), keras.layers.LSTM as a
check, the project's GRU, keras.layers.SimpleRNN, and the transformer of
models/gpt.py with position encodings that reach any length (sinusoidal, RoPE,
ALiBi; the learned ones end at the block). It is causal, the paper's is not.

    python -m experiments.state_tracking --quick        # a subset, < 15 min on a 2-core CPU
    python -m experiments.state_tracking                # every task and model, three seeds (hours; see docs)
    python -m experiments.state_tracking --tasks parity --models lstm transformer-rope --steps 500
    python -m experiments.state_tracking --tasks modular --models lstm --seeds 0 --steps 6000 --supervision prefixes

results.json keeps every finished (task, model, seed): run the same command
again after a stop and only what is missing trains. results.md (the tables)
and accuracy_by_length.png go to --output-dir too.
"""

import argparse
import dataclasses
import json
import os
import time

from training import startup  # first: the backend's environment, set before Keras loads

import keras
import numpy as np

from experiments import command_line, fail, in_order_once, output_folder, parse, read_results, seed_number, \
    sorted_once, whole_number
from models import GRU, LSTM
from models.gpt import GPTSpec, build_gpt
from models.xlstm import MLSTMBlock, SLSTMBlock
from models.xlstm_parts import norm
from training.errors import friendly_main
from training.figures import plt, save_figure
from training.files import atomic_write
from training.optimizers import make_optimizer
from training.progress import ProgressLines
from training.run import minutes


# ----------------------------------------------------------------------------------------------------- the tasks

@dataclasses.dataclass(frozen=True)
class Task:
    name: str
    level: str        # "regular", "counter", "non-regular" (the table they appear in)
    inputs: int       # input tokens (the output phase's blank is one more, where there is one)
    classes: int      # output classes
    answer: str       # "last": one answer after the input; "string": an answer string in an output phase
    paper: dict       # Table 2's scores (percent) of the paper's RNN, LSTM and transformer
    chance: float     # the accuracy of guessing the most frequent class

    def output_length(self, length):
        """Answer tokens of an input of `length` (an output phase of that many blanks follows the input)."""
        return 0 if self.answer == "last" else 2 * length if self.name == "duplicate" else length

    @property
    def vocabulary(self):
        """Input tokens, the blank of the output phase included."""
        return self.inputs + (self.answer == "string")


def parity_labels(x):
    return np.cumsum(x, axis=1) % 2


def even_pairs_labels(x):
    return (x == x[:, :1]).astype(np.int32)  # as many "ab" as "ba" ⇔ the string ends with the letter it starts with


def cycle_labels(x):
    return np.cumsum(x - 1, axis=1) % 5  # tokens 0, 1, 2: a step left, none, a step right


PLUS, MINUS, TIMES = 5, 6, 7  # modular arithmetic's operators; tokens 0–4 are the numbers


def modular_sample(rng, count, length):
    """count expressions of `length` tokens (numbers at even positions, operators between)."""
    x = rng.integers(0, 5, size=(count, length))
    x[:, 1::2] = rng.integers(PLUS, TIMES + 1, size=(count, length // 2))
    return x


def modular_labels(x):
    """The value mod 5 of every prefix that ends with a number (* before + and −; the rest −1): the sum of
    the finished terms and the product of the current one, carried along."""
    count, steps = x.shape
    labels = np.full((count, steps), -1, dtype=np.int64)
    total, term = np.zeros(count, np.int64), x[:, 0].astype(np.int64)
    labels[:, 0] = term % 5
    for t in range(1, steps - 1, 2):
        op, number = x[:, t], x[:, t + 1]
        total = np.where(op == TIMES, total, total + term)
        term = np.where(op == TIMES, term * number, np.where(op == PLUS, number, -number)) % 5
        labels[:, t + 1] = (total + term) % 5
    return labels


def reverse_answer(s):
    return s[:, ::-1]


def duplicate_answer(s):
    return np.concatenate([s, s], axis=1)


def sort_answer(s):
    return np.sort(s, axis=1)


PREFIX_LABELS = {"parity": parity_labels, "even-pairs": even_pairs_labels, "cycle": cycle_labels,
                 "modular": modular_labels}
ANSWERS = {"reverse": reverse_answer, "duplicate": duplicate_answer, "bucket-sort": sort_answer}

# Table 2 of the paper (Section 5.1): the score, in percent, of its RNN, LSTM and transformer (the transformer: the
# best of its five position encodings). Where each figure was checked, and which were not, is in docs/experiments.md
# ("The paper's figures"); duplicate's RNN 50.3 is from the reprint there (51.0 before, a neighbouring cell).
TASKS = {task.name: task for task in (
    Task("parity", "regular", 2, 2, "last", {"RNN": 100.0, "LSTM": 100.0, "Transformer": 52.0}, 0.5),
    Task("modular", "regular", 8, 5, "last", {"RNN": 100.0, "LSTM": 100.0, "Transformer": 24.2}, 0.2),
    Task("even-pairs", "regular", 2, 2, "last", {"RNN": 100.0, "LSTM": 100.0, "Transformer": 96.4}, 0.5),
    Task("cycle", "regular", 3, 5, "last", {"RNN": 100.0, "LSTM": 100.0, "Transformer": 61.9}, 0.2),
    Task("bucket-sort", "counter", 5, 5, "string", {"RNN": 27.9, "LSTM": 99.3, "Transformer": 91.9}, 0.2),
    Task("reverse", "non-regular", 2, 2, "string", {"RNN": 62.0, "LSTM": 60.9, "Transformer": 62.3}, 0.5),
    Task("duplicate", "non-regular", 2, 2, "string", {"RNN": 50.3, "LSTM": 57.6, "Transformer": 52.8}, 0.5),
)}
LEVELS = ("regular", "counter", "non-regular")


def batch(task, rng, lengths, steps=None):
    """Sequences of the given input `lengths`, side by side: (x tokens, y targets, w weights), each
    (len(lengths), steps). w is 1 where an answer is scored; every other position is filler (random tokens for
    the regular tasks, which the causal models read only after the answer)."""
    lengths = np.asarray(lengths)
    count = len(lengths)
    if task.answer == "last":
        steps = steps or int(lengths.max())
        x = modular_sample(rng, count, steps) if task.name == "modular" else rng.integers(
            0, task.inputs, size=(count, steps))
        y = np.maximum(PREFIX_LABELS[task.name](x), 0)
        w = np.zeros((count, steps), np.float32)
        w[np.arange(count), lengths - 1] = 1.0
        return x, y, w
    steps = steps or int(max(n + task.output_length(n) for n in lengths))
    blank = task.inputs
    x = np.full((count, steps), blank, np.int64)
    y = np.zeros((count, steps), np.int64)
    w = np.zeros((count, steps), np.float32)
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        s = rng.integers(0, task.inputs, size=(len(rows), length))
        answer = ANSWERS[task.name](s)
        x[rows, :length] = s
        y[rows, length:length + answer.shape[1]] = answer
        w[rows, length:length + answer.shape[1]] = 1.0
    return x, y, w


def training_lengths(task, rng, count, longest):
    """Input lengths for one batch: uniform in 1–longest (modular arithmetic: the odd ones, as its expressions)."""
    if task.name == "modular":
        return 2 * rng.integers(0, (longest + 1) // 2, size=count) + 1
    return rng.integers(1, longest + 1, size=count)


def scored_length(task, length):
    """The length a test length scores: modular arithmetic's even lengths are one shorter, as in the paper."""
    return length - 1 if task.name == "modular" and length % 2 == 0 else length


# ---------------------------------------------------------------------------------------------------- the models

XLSTMS = {"slstm": "xLSTM[0:1]", "mlstm": "xLSTM[1:0]"}  # two sLSTM or two mLSTM blocks (models/xlstm.py)
RECURRENT = ("lstm", "keras-lstm", "gru", "no-forget-gate", "no-output-gate", "coupled", "peephole", "rnn", *XLSTMS)
TRANSFORMERS = ("transformer-sinusoidal", "transformer-rope", "transformer-alibi")
MODELS = RECURRENT + TRANSFORMERS
TITLES = {"lstm": "LSTM (ours)", "keras-lstm": "keras.layers.LSTM", "gru": "GRU (ours)", "rnn": "SimpleRNN",
          **{variant: f"LSTM {variant}" for variant in ("no-forget-gate", "no-output-gate", "coupled", "peephole")},
          **{name: f"transformer, {name.split('-')[1]}" for name in TRANSFORMERS},
          **{name: f"{pattern} ({name[:1]}LSTM blocks)" for name, pattern in XLSTMS.items()}}


@dataclasses.dataclass(frozen=True)
class Config:
    tasks: tuple = tuple(TASKS)
    models: tuple = MODELS
    seeds: tuple = (0, 1, 2)
    steps: int = 3000              # training steps per (task, model, seed) of a recurrent network
    transformer_steps: int = None  # those of a transformer (None: `steps`)
    batch_size: int = 128          # the paper's
    learning_rate: float = 1e-3    # Adam, the gradient's norm clipped to 1 (the paper: 1e-4, 3e-4 or 5e-4, the best)
    units: int = 128               # recurrent width (the paper: 256)
    layers: int = 5                # transformer blocks (the paper's 5 × 64, 8 heads)
    width: int = 64
    heads: int = 8
    train_length: int = 40         # training lengths 1..train_length
    test_lengths: tuple = (41, 500)  # first and last test length
    string_lengths: tuple = ()     # the tasks with an output phase: these lengths only (empty: all, stride 1)
    test_sequences: int = 128      # per test length
    supervision: str = "last"      # regular tasks: "last" scores the answer after the whole string only (the
    #                                paper's); "prefixes" the answer after every prefix of it (SUPERVISION)


QUICK = Config(tasks=("parity", "modular", "even-pairs", "cycle"), models=("lstm", "transformer-alibi"), seeds=(0,),
               steps=1500, transformer_steps=300, layers=2, string_lengths=(41, 60, 100, 200, 500),
               test_sequences=64)


SUPERVISION = {
    "last": "the answer after the whole training string only, as the paper trains",
    "prefixes": "the answer after every prefix of a string of train_length tokens: the prefixes are strings of "
                "every training length, so the networks see no longer input, but each sequence teaches "
                "train_length answers (modular arithmetic: the half that ends with a number) instead of one",
}


FULL = Config(string_lengths=(41, 50, 60, 80, 100, 150, 200, 300, 400, 500))


def steps_of(model, config):
    """The training steps of `model` in `config`."""
    return config.transformer_steps or config.steps if model.startswith("transformer") else config.steps


def build(name, task, config, seed, unroll=None):
    """The network `name` for `task`: (batch, T) tokens → (batch, T, classes) logits, one answer per step."""
    keras.utils.set_random_seed(seed)
    if name.startswith("transformer"):
        spec = GPTSpec(vocab_size=max(task.vocabulary, task.classes), layers=config.layers, width=config.width,
                       heads=config.heads, block_size=config.train_length, seed=seed)
        return build_gpt(spec, positions=name.split("-")[1])  # logits over the vocabulary: the classes come first
    tokens = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Lambda(lambda t: keras.ops.one_hot(t, task.vocabulary), name="one_hot")(tokens)
    if name in XLSTMS:
        return keras.Model(tokens, xlstm_blocks(name, x, task, config, seed, unroll), name=name)
    if name == "keras-lstm":
        recurrent = keras.layers.LSTM(config.units, return_sequences=True, seed=seed, unroll=bool(unroll))
    elif name == "gru":
        recurrent = GRU(config.units, return_sequences=True, seed=seed, unroll=unroll)
    elif name == "rnn":
        recurrent = keras.layers.SimpleRNN(config.units, return_sequences=True, seed=seed, unroll=bool(unroll))
    else:
        recurrent = LSTM(config.units, return_sequences=True, seed=seed, unroll=unroll,
                         variant="vanilla" if name == "lstm" else name)
    logits = keras.layers.Dense(task.classes)(recurrent(x))
    return keras.Model(tokens, logits, name=name)


def xlstm_blocks(name, x, task, config, seed, unroll):
    """The logits of two xLSTM blocks of one kind over the one-hot tokens `x`, as Beck et al. (2024, Section 4.1)
    compare them on these tasks: x → dense (units wide) → 2 residual sLSTM (or mLSTM) blocks, 4 heads → LayerNorm →
    dense. The mLSTM blocks read a sequence in their parallel form."""
    x = keras.layers.Dense(config.units, name="embedding")(x)
    for index in range(2):
        if name == "slstm":
            block = SLSTMBlock(4, block_index=index, blocks=2, unroll=unroll, seed=seed + index, name=f"block_{index}")
        else:
            block = MLSTMBlock(4, blocks=2, seed=seed + index, name=f"block_{index}")
        x = block(x)
    return keras.layers.Dense(task.classes)(norm("post_blocks_norm")(x))


def compiled(model, config):
    model.compile(optimizer=make_optimizer("adam", config.learning_rate, clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), weighted_metrics=[])
    return model


def train(model, task, config, seed, steps_count=None):
    """`steps_count` (config.steps) steps of config.batch_size fresh sequences of lengths 1..train_length; the
    seconds it took."""
    rng = np.random.default_rng([seed, 1])
    steps = config.train_length + task.output_length(config.train_length)

    prefixes = config.supervision == "prefixes" and task.answer == "last"

    def batches():
        while True:
            if prefixes:  # every string train_length long: its prefixes are the strings of every length 1..train_length
                lengths = np.full(config.batch_size, config.train_length)
                x, y, _ = batch(task, rng, lengths, steps)
                w = answer_positions(task, lengths, steps)
            else:
                x, y, w = batch(task, rng, training_lengths(task, rng, config.batch_size, config.train_length), steps)
            yield x.astype(np.int32), y.astype(np.int32), w / w.sum() * w.size  # the mean over answers

    start = time.perf_counter()
    model.fit(batches(), steps_per_epoch=steps_count or config.steps, epochs=1, verbose=0, shuffle=False,
              callbacks=[ProgressLines(fraction=0.1)])  # a line every tenth of the steps, with the time left
    return time.perf_counter() - start


def answer_positions(task, lengths, steps):
    """Weights (len(lengths), steps): 1 at the end of every prefix of each string that has an answer (modular
    arithmetic: the prefixes that end with a number, the odd lengths), 0 after the string's end."""
    ends = np.arange(1, steps + 1)
    w = (ends[None, :] <= np.asarray(lengths)[:, None]).astype(np.float32)
    if task.name == "modular":
        w[:, ends % 2 == 0] = 0.0
    return w


def predictions(model, x):
    """The class the model picks at every step. Called eagerly: `predict` would trace again for each length and
    then settle on an unknown length, which the TensorFlow scan loop of the recurrent layers cannot take."""
    return np.argmax(keras.ops.convert_to_numpy(model(x.astype(np.int32), training=False)), axis=-1)


def test_lengths(task, config):
    first, last = config.test_lengths
    if task.answer == "last" or not config.string_lengths:
        return list(range(first, last + 1))
    return [n for n in config.string_lengths if first <= n <= last] or sorted({first, last})


def score(model, task, config, seed):
    """{test length: accuracy over its answer positions}, on config.test_sequences fresh sequences each."""
    rng = np.random.default_rng([seed, 2])
    lengths = test_lengths(task, config)
    if task.answer == "last":  # one pass: the answer after every prefix
        x, y, _ = batch(task, rng, [max(lengths)] * config.test_sequences)
        correct = predictions(model, x) == y
        return {n: float(correct[:, scored_length(task, n) - 1].mean()) for n in lengths}
    found = {}
    for n in lengths:
        x, y, w = batch(task, rng, [n] * config.test_sequences)
        found[n] = float(((predictions(model, x) == y) * w).sum() / w.sum())
    return found


def cell_key(task, model, seed, config):
    """The key of one training in results.json: everything that changes its result."""
    size = f"{config.layers}x{config.width}h{config.heads}" if model.startswith("transformer") else f"u{config.units}"
    prefixes = "/prefixes" if config.supervision == "prefixes" and TASKS[task].answer == "last" else ""
    return (f"{task}/{model}/seed{seed}/steps{steps_of(model, config)}/batch{config.batch_size}/lr{config.learning_rate:g}/"
            f"{size}/train{config.train_length}{prefixes}")


def run_cell(task_name, model_name, seed, config, save_runs=None):
    """Trains and scores one (task, model, seed); with `save_runs`, an LSTM's or a GRU's trained network goes to
    the run folder save_runs/<task>-<model>-seed<seed> too, for explore.py."""
    task = TASKS[task_name]
    model = compiled(build(model_name, task, config, seed), config)
    seconds = train(model, task, config, seed, steps_of(model_name, config))
    if save_runs and model_name in EXPLORABLE:
        folder = save_run_folder(model, model_name, task_name, config,
                                 os.path.join(save_runs, f"{task_name}-{model_name}-seed{seed}"))
        print(f"  saved as a run folder: python explore.py {folder}", flush=True)
    if not model_name.startswith("transformer") and model_name != "keras-lstm":  # a scan loop for long tests
        scorer = build(model_name, task, config, seed, unroll=False)
        scorer.set_weights(model.get_weights())
    else:
        scorer = model
    start = time.perf_counter()
    by_length = score(scorer, task, config, seed)
    in_training = score(scorer, task, dataclasses.replace(config, test_lengths=(1, config.train_length),
                                                         string_lengths=(10, 20, 40)), seed)
    return {"by_length": {str(n): a for n, a in by_length.items()}, "mean": float(np.mean(list(by_length.values()))),
            "train_mean": float(np.mean(list(in_training.values()))),
            "train_seconds": seconds, "score_seconds": time.perf_counter() - start}


# ------------------------------------------------------------------------------------------------------ the run

def run(config, out_dir, save_runs=None):
    """Trains what results.json lacks, one (task, model, seed) at a time; writes the tables and the plot (and with
    `save_runs`, a run folder of every LSTM and GRU trained: `run_cell`)."""
    output_folder(out_dir)
    path = os.path.join(out_dir, "results.json")
    saved = read_results(path, "the finished trainings of this experiment", "every training then runs again")
    done = saved.get("cells", {})
    jobs = [(task, model, seed) for task in config.tasks for model in config.models for seed in config.seeds
            if cell_key(task, model, seed, config) not in done]
    total = len(config.tasks) * len(config.models) * len(config.seeds)
    print(f"{total - len(jobs)} of {total} trainings done before (kept in {path}); {len(jobs)} to run", flush=True)
    times = []
    for index, (task, model, seed) in enumerate(jobs):
        print(f"[{index + 1}/{len(jobs)}] {task}, {TITLES[model]}, seed {seed}, {steps_of(model, config):,} steps ...", flush=True)
        start = time.perf_counter()
        done[cell_key(task, model, seed, config)] = cell = run_cell(task, model, seed, config, save_runs)
        keras.backend.clear_session()
        times.append(time.perf_counter() - start)
        atomic_write(path, json.dumps({"config": config_dict(config), "cells": done}, indent=1))
        left = len(jobs) - index - 1
        estimate = f"; {left} left, about {minutes(left * np.mean(times))}" if left else "; all done"
        print(f"  accuracy {cell['mean']:.3f} on lengths {config.test_lengths[0]}–{config.test_lengths[1]}, "
              f"{cell['train_mean']:.3f} on 1–{config.train_length} ({minutes(times[-1])}{estimate})", flush=True)
    table = summary(done, config)
    text = markdown(table, config)
    atomic_write(os.path.join(out_dir, "results.md"), text)
    print("\n" + text)
    plot(done, config, os.path.join(out_dir, "accuracy_by_length.png"))
    return {"cells": done, "table": table}


def config_dict(config):
    return {key: list(value) if isinstance(value, tuple) else value for key, value in dataclasses.asdict(config).items()}


def summary(done, config):
    """{task: {model: {"best": the paper's score (best seed's mean), "seeds": [each seed's mean]}}}."""
    table = {}
    for task in config.tasks:
        for model in config.models:
            means = [done[key]["mean"] for seed in config.seeds
                     if (key := cell_key(task, model, seed, config)) in done]
            if means:
                table.setdefault(task, {})[model] = {"best": max(means), "seeds": means}
    return table


def markdown(table, config):
    first, last = config.test_lengths
    lines = [f"Score (the paper's): accuracy over the answer positions, mean over test lengths {first}–{last}, best "
             f"of seeds {', '.join(map(str, config.seeds))}; trained on lengths 1–{config.train_length}, "
             f"{config.steps:,} steps of {config.batch_size} (transformers {steps_of('transformer', config):,}), Adam {config.learning_rate:g}; recurrent "
             f"{config.units} units, transformer {config.layers}×{config.width}, {config.heads} heads; the regular tasks trained on "
             f"{SUPERVISION[config.supervision]}. In brackets: the paper's Table 2 (RNN for SimpleRNN, LSTM for the LSTMs, Transformer for the "
             f"transformers).", ""]
    for level in LEVELS:
        tasks = [t for t in config.tasks if TASKS[t].level == level and t in table]
        if not tasks:
            continue
        lines += [f"**{level}**", "", "| model | " + " | ".join(tasks) + " |", "|---" * (len(tasks) + 1) + "|"]
        for model in config.models:
            cells = []
            for task in tasks:
                found = table[task].get(model)
                paper = TASKS[task].paper[paper_column(model)] if paper_column(model) else None
                text = "—" if found is None else f"{100 * found['best']:.1f}"
                cells.append(text + (f" ({paper:g})" if paper is not None else ""))
            lines.append(f"| {TITLES[model]} | " + " | ".join(cells) + " |")
        lines += ["", "chance: " + ", ".join(f"{t} {100 * TASKS[t].chance:g}" for t in tasks), ""]
    return "\n".join(lines)


def paper_column(model):
    if model.startswith("transformer"):
        return "Transformer"
    return {"rnn": "RNN", "gru": None}.get(model, "LSTM")


def plot(done, config, path, tasks=("parity", "modular")):
    """Accuracy against test length, one line per model (its best seed), a panel per task."""
    tasks = [t for t in tasks if t in config.tasks]
    if not tasks:
        return
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 3.8), dpi=90, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for model in config.models:
            cells = [done[key] for seed in config.seeds if (key := cell_key(task, model, seed, config)) in done]
            if not cells:
                continue
            best = max(cells, key=lambda cell: cell["mean"])
            lengths = sorted(int(n) for n in best["by_length"])
            values = [best["by_length"][str(n)] for n in lengths]
            window = 9  # a running mean over 9 lengths: 64–128 sequences per length are noisy
            smooth = np.convolve(values, np.ones(window) / window, mode="valid") if len(values) > window else values
            ax.plot(lengths[len(lengths) - len(smooth):], smooth, label=TITLES[model],
                    linestyle="--" if model.startswith("transformer") else "-")
        ax.axhline(TASKS[task].chance, color="gray", linestyle=":", label="chance")
        ax.set_ylim(0, 1.03)
        ax.set_xlabel("test length (trained on 1–40)")
        ax.set_ylabel("accuracy")
        ax.set_title(task)
        ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=7, loc="lower left")
    save_figure(fig, path)


# ------------------------------------------------------------------------------- a trained model as a run folder

TOKEN_NAMES = {"modular": "01234+-*"}  # one character per token; the rest: digits, and "_" for the blank


# The contenders whose cells explore.py draws: their (cell, variant) in a language model's spec.
EXPLORABLE = {"lstm": ("custom", "vanilla"), "keras-lstm": ("builtin", "vanilla"), "gru": ("gru", "vanilla"),
              **{v: ("custom", v) for v in ("no-forget-gate", "no-output-gate", "coupled", "peephole")}}


def save_run_folder(model, model_name, task_name, config, folder, passage_length=100):
    """Writes a trained recurrent `model` of `build` as a run folder that explore.py opens (and sample.py reads):
    config.json with a one-layer language-model spec, vocab.json with the task's tokens as characters, model.keras.

    The task's network is the language model's shape (one-hot tokens, a recurrent layer, a dense layer): its
    "next-token" logits are the task's answer classes, named as the tokens of the same index (for parity, "1":
    an odd number of 1s so far). Where the classes and the tokens differ in number, the smaller side is padded
    (unused input rows 0, unused classes at a logit of −30). The page's first text is a task sequence.
    """
    from datasets import Vocabulary
    from models import LanguageModelSpec, build_model
    from models.language_model import lstm_layers

    def write_json(path, obj):
        atomic_write(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")

    cells = EXPLORABLE
    if model_name not in cells:
        fail(f"save_run_folder takes the LSTMs and the GRU ({', '.join(cells)}), whose cells explore.py draws; "
             f"got {model_name!r}.")
    task = TASKS[task_name]
    size = max(task.vocabulary, task.classes)
    names = TOKEN_NAMES.get(task_name, "0123456789"[:task.inputs] + "_" * (task.answer == "string"))
    names += "".join(chr(ord("a") + k) for k in range(size - len(names)))  # classes without a token of their own
    cell, variant = cells[model_name]
    spec = LanguageModelSpec(vocab_size=size, units=config.units, layers=1, cell=cell, variant=variant,
                             fused_layers=False, seed=0)
    runnable = build_model(spec, batch_size=1, num_steps=None, stateful=False)
    source = [layer for layer in model.layers if layer.weights and not isinstance(layer, keras.layers.Dense)][0]
    kernel, *rest = source.get_weights()
    lstm_layers(runnable)[0].set_weights([np.pad(kernel, ((0, size - kernel.shape[0]), (0, 0)))] + rest)
    dense_kernel, dense_bias = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][0].get_weights()
    runnable.get_layer("logits").set_weights([np.pad(dense_kernel, ((0, 0), (0, size - task.classes))),
                                              np.pad(dense_bias, (0, size - task.classes), constant_values=-30.0)])
    rng = np.random.default_rng([0, 3])
    x, _, _ = batch(task, rng, [passage_length])
    os.makedirs(folder, exist_ok=True)
    write_json(os.path.join(folder, "config.json"), {
        "script": "experiments/state_tracking.py", "preset": f"{task_name} task", "task": task_name,
        "cell": cell, "variant": variant, "model": dataclasses.asdict(spec), "config": config_dict(config),
        "passage": "".join(names[k] for k in x[0][:passage_length])})
    write_json(os.path.join(folder, "vocab.json"), Vocabulary("chars", list(names)).to_json())
    runnable.save(os.path.join(folder, "model.keras"))
    return folder


def positive_number(text):
    """An argparse `type`: a number above 0, such as 0.001."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, such as 0.001; got {text!r}")
    return value


@friendly_main
def main(argv=None):
    startup.start_devices()
    parser = command_line(__doc__)
    parser.add_argument("--quick", action="store_true", help="the quick subset (tasks, models, one seed, fewer steps)")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, metavar="TASK",
                        help=f"tasks, of {', '.join(TASKS)} (default: the mode's)")
    parser.add_argument("--models", nargs="+", choices=MODELS, metavar="MODEL",
                        help=f"models, of {', '.join(MODELS)} (default: the mode's)")
    parser.add_argument("--seeds", nargs="+", type=seed_number, metavar="SEED", help="seeds (default: the mode's)")
    parser.add_argument("--steps", type=whole_number(1), help="training steps per task, model and seed (all models)")
    parser.add_argument("--batch-size", type=whole_number(1), help="sequences per training step (default 128)")
    parser.add_argument("--units", type=whole_number(1), help="recurrent width (default 128)")
    parser.add_argument("--learning-rate", type=positive_number, help="Adam's learning rate (default 0.001)")
    parser.add_argument("--train-length", type=whole_number(1), help="longest training length (default 40)")
    parser.add_argument("--test-lengths", nargs=2, type=whole_number(1), metavar=("FIRST", "LAST"),
                        help="first and last test length (default 41 500); beyond the training lengths")
    parser.add_argument("--test-sequences", type=whole_number(1), help="sequences per test length")
    parser.add_argument("--supervision", choices=SUPERVISION,
                        help="what the regular tasks train on: " + "; ".join(
                            f"{name}: {text}" for name, text in SUPERVISION.items()) + " (default last)")
    parser.add_argument("--save-runs", metavar="DIR", help="also save every LSTM and GRU trained as a run folder "
                                                           "in DIR, for explore.py (DIR/<task>-<model>-seed<seed>)")
    parser.add_argument("--output-dir", help="where results.json, results.md and the plot go "
                                             "(default runs/state_tracking, runs/state_tracking-quick)")
    args = parse(parser, argv)
    config = QUICK if args.quick else FULL
    changes = {"tasks": args.tasks and in_order_once(args.tasks), "models": args.models and in_order_once(args.models),
               "seeds": args.seeds and sorted_once(args.seeds), "steps": args.steps, "batch_size": args.batch_size,
               "transformer_steps": args.steps, "units": args.units, "learning_rate": args.learning_rate, "train_length": args.train_length, "test_sequences": args.test_sequences,
               "supervision": args.supervision,
               "test_lengths": args.test_lengths and tuple(args.test_lengths)}
    config = dataclasses.replace(config, **{key: value for key, value in changes.items() if value is not None})
    first, last = config.test_lengths
    if first > last:
        fail(f"--test-lengths {first} {last}: the first test length is above the last; give them as FIRST LAST, "
             f"such as 41 500. Nothing was run or written.")
    if first <= config.train_length:
        fail(f"the test lengths ({first}–{last}) must lie beyond the training lengths (1–{config.train_length}): "
             f"this experiment measures what a network does on lengths it never saw. Start the tests at "
             f"{config.train_length + 1} or more, or train on shorter sequences. Nothing was run or written.")
    out_dir = args.output_dir or ("runs/state_tracking-quick" if args.quick else "runs/state_tracking")
    if args.save_runs:
        output_folder(args.save_runs, "--save-runs")
    return run(config, out_dir, args.save_runs)


if __name__ == "__main__":
    main()
