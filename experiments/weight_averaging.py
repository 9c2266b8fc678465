"""Which average of the SGD iterates does a short PTB run want? Measured in one training run.

AWD-LSTM's NT-ASGD evaluates the plain mean of every iterate since averaging
began. Over a long run that is right; over the 8 epochs a 2-core CPU trains in
half an hour, the early iterates of the mean hold it back. Averaging never feeds
back into training (SGD goes on from the raw iterates), so one run can keep
several averages side by side and evaluate each on the valid split after every
epoch:

    raw        the iterate itself
    mean@E     the plain mean of the iterates from the start of epoch E on (NT-ASGD; mean@4 is the earlier preset)
    ema N@E    from epoch E on, w̄ += (w − w̄)·max(1/k, 1/N): the mean of the first N steps, then an
               exponential average with a memory of about N steps (`AveragedSGD(average_window=N)`)

The word-level recipe is `train_ptb.py`'s first `awd-small` (the model side of
today's preset, learning rate 30/35 held constant, every technique on, seed 0);
its mean@4 column repeats that run's valid perplexities exactly. `--model char`
averages the Adam iterates of `train_char_rnn.py`'s `small` instead (without
averaging of its own; valid in nats per character, the whole split, batch 1).

    python -m experiments.weight_averaging               # 8 epochs: ~30 min of training on a 2-core CPU
    python -m experiments.weight_averaging --epochs 2 --steps-per-epoch 200   # a quick look
    python -m experiments.weight_averaging --model char --epochs 13          # char-rnn small, Adam
"""

import dataclasses
import functools
import json
import math
import os

from training import startup  # first: the backend's environment, set before Keras loads

import keras

import train_char_rnn
import train_ptb
from datasets.batching import stream_steps
from experiments import command_line, output_folder, parse, whole_number
from models import build_model
from training.errors import friendly_main
from training.figures import plt
from training.metrics import sequence_loss
from training.optimizers import make_optimizer
from training.recipe import model_spec, train_epoch, validation

# name: (first epoch, counted from 1; window in steps, 0 for the plain mean)
AVERAGES = {"mean@3": (3, 0), "mean@4": (4, 0), "ema 500@2": (2, 500), "ema 1500@2": (2, 1500),
            "ema 4000@2": (2, 4000)}
CHAR_AVERAGES = {"ema 300@2": (2, 300), "ema 1000@2": (2, 1000), "ema 2500@2": (2, 2500), "mean@7": (7, 0)}

# model: (the script, its recipe, its valid layout, the valid figure from the perplexity)
TASKS = {
    # train_ptb.py's `awd-small` as first measured: constant learning rate, no averaging of its own;
    # valid perplexity, batch 20 as in training.
    "ptb": (train_ptb, dataclasses.replace(train_ptb.PRESETS["awd-small"], lr_decay=1.0, average_after=0,
                                           average_patience=0, average_window=0), "streams", float),
    # train_char_rnn.py's `small` without an average of its own; nats per character on the whole valid split.
    "char": (train_char_rnn, dataclasses.replace(train_char_rnn.PRESETS["small"], average_after=0), "whole",
             math.log),
}


def run(model="ptb", epochs=8, steps_per_epoch=0, averages=AVERAGES, data_dir=None, seed=0, config=None, data=None):
    """Trains the recipe of `model` for `epochs`; returns one row per epoch: the valid figure of raw and of each average.

    The figure is the perplexity for "ptb", nats per character for "char". `config` replaces the task's
    recipe, `data` (a `training.recipe.LanguageModelData`) its data set.
    """
    script, recipe, valid_layout, figure = TASKS[model]
    config = dataclasses.replace(config or recipe, steps_per_epoch=steps_per_epoch)
    if data is None:
        data = script.read_data(config, data_dir)
    spec = model_spec(config, len(data.vocabulary), "custom", seed)
    steps = min(stream_steps(len(data.train), config.batch_size, config.num_steps), steps_per_epoch or math.inf)
    keras.utils.set_random_seed(seed)
    model = build_model(spec, batch_size=config.batch_size, num_steps=config.num_steps, stateful=True)
    optimizer = make_optimizer(config.optimizer, config.learning_rate, clipnorm=config.max_grad_norm,
                               weight_decay=config.weight_decay,
                               averages={name: ((first - 1) * steps, window) for name, (first, window) in averages.items()})
    model.compile(optimizer=optimizer, loss=sequence_loss)
    validate = validation(functools.partial(build_model, spec), config, data.valid, valid_layout)
    table = []
    for epoch in range(epochs):
        _, train_perplexity, _, seconds = train_epoch(model, config, data.train, seed, epoch)
        row = {"epoch": epoch + 1, "train_perplexity": train_perplexity, "seconds": seconds}
        candidates = {"raw": None, **{name: name for name, (first, _) in averages.items() if first <= epoch + 1}}
        for column, name in candidates.items():
            weights = model.get_weights() if name is None else optimizer.averaged_weights(model, name)
            row[column] = figure(validate(weights))
        print(json.dumps(row), flush=True)
        table.append(row)
    return table


def plot(table, path, ylabel="valid perplexity", title="awd-small's iterates and their averages (PTB valid)"):
    """The valid figure by epoch, one line per average."""
    columns = [key for key in table[-1] if key not in ("epoch", "train_perplexity", "seconds")]
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for column in columns:
        points = [(row["epoch"], row[column]) for row in table if column in row]
        axes.plot(*zip(*points), marker="o", label=column)
    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    axes.set_yscale("log")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


@friendly_main
def main(argv=None):
    startup.start_devices()
    parser = command_line(__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["ptb", "char"], default="ptb",
                        help="ptb: awd-small's SGD (default); char: char-rnn small's Adam")
    parser.add_argument("--epochs", type=whole_number(1), help="default: 8 (ptb), 13 (char)")
    parser.add_argument("--steps-per-epoch", type=whole_number(0), default=0, help="0: the whole training split")
    parser.add_argument("--data-dir", help="the data folder (default: LSTM_DATA_DIR or the download cache)")
    parser.add_argument("--output-dir", default="runs/weight_averaging")
    args = parse(parser, argv)
    output_folder(args.output_dir)
    if args.model == "char":
        table = run("char", args.epochs or 13, args.steps_per_epoch, CHAR_AVERAGES, args.data_dir)
        labels = {"ylabel": "valid nats per character", "title": "char-rnn small's iterates and their averages"}
    else:
        table = run("ptb", args.epochs or 8, args.steps_per_epoch, data_dir=args.data_dir)
        labels = {}
    with open(os.path.join(args.output_dir, "averages.json"), "w") as file:
        json.dump(table, file, indent=1)
    plot(table, os.path.join(args.output_dir, "averages.png"), **labels)
    print(f"Table and plot in {args.output_dir}")
    return table


if __name__ == "__main__":
    main()
