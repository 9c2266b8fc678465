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

    python experiments/weight_averaging.py               # 8 epochs: ~30 min of training on a 2-core CPU
    python experiments/weight_averaging.py --epochs 2 --steps-per-epoch 200   # a quick look
    python experiments/weight_averaging.py --model char --epochs 13          # char-rnn small, Adam
"""

import argparse
import dataclasses
import json
import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from training.figures import pyplot  # noqa: E402

# name: (first epoch, counted from 1; window in steps, 0 for the plain mean)
AVERAGES = {"mean@3": (3, 0), "mean@4": (4, 0), "ema 500@2": (2, 500), "ema 1500@2": (2, 1500),
            "ema 4000@2": (2, 4000)}
CHAR_AVERAGES = {"ema 300@2": (2, 300), "ema 1000@2": (2, 1000), "ema 2500@2": (2, 2500), "mean@7": (7, 0)}


def first_recipe():
    """train_ptb.py's `awd-small` as first measured: constant learning rate, no averaging of its own."""
    import train_ptb

    return dataclasses.replace(train_ptb.PRESETS["awd-small"], lr_decay=1.0, asgd_after=0, asgd_patience=0,
                               asgd_window=0)


def char_recipe():
    """train_char_rnn.py's `small`, without an average of its own."""
    import train_char_rnn

    return dataclasses.replace(train_char_rnn.PRESETS["small"], average_after=0)


def many_averages(optimizer, steps_per_epoch, averages):
    """The Keras optimizer class `optimizer` that keeps one average of its iterates per entry of `averages`."""
    from keras import ops

    from training.averaging import average_weight

    class ManyAverages(optimizer):
        def build(self, variables):
            if self.built:
                return
            super().build(variables)
            self.averages = {name: self.add_optimizer_variables(variables, f"average_{index}")
                             for index, name in enumerate(averages)}

        def update_step(self, gradient, variable, learning_rate):
            super().update_step(gradient, variable, learning_rate)
            index = self._get_variable_index(variable)
            for name, (first_epoch, window) in averages.items():
                k = self.iterations - (first_epoch - 1) * steps_per_epoch + 1
                average = self.averages[name][index]
                self.assign_add(average, (variable - average) * average_weight(k, window, variable.dtype))

        def weights_of(self, model, name):
            trainable = {id(v): self.averages[name][self._get_variable_index(v)] for v in model.trainable_variables}
            return [ops.convert_to_numpy(trainable.get(id(v), v)) for v in model.weights]

    return ManyAverages


def ptb_task(config, steps_per_epoch, data_dir, seed):
    """train_ptb.py's data, model and valid pass (the perplexity, batch 20 as in training), for `run`."""
    import keras

    import train_ptb
    from datasets import load_corpus, ptb_folder
    from training.language_model import evaluate_perplexity, stream_rows

    train, valid, _, vocabulary, _ = load_corpus(ptb_folder(data_dir))
    x_train, y_train = stream_rows(train, config.batch_size, config.num_steps)
    if steps_per_epoch:
        x_train, y_train = x_train[:steps_per_epoch * config.batch_size], y_train[:steps_per_epoch * config.batch_size]
    x_valid, y_valid = stream_rows(valid, config.batch_size, config.num_steps)
    return types.SimpleNamespace(
        spec=train_ptb.model_spec(config, len(vocabulary), "custom", seed),
        steps=len(x_train) // config.batch_size, training_rows=lambda epoch: (x_train, y_train),
        optimizer=keras.optimizers.SGD, optimizer_args={"weight_decay": config.weight_decay or None},
        eval_layout={"batch_size": config.batch_size, "num_steps": config.num_steps},
        valid_figure=lambda evaluator: evaluate_perplexity(evaluator, x_valid, y_valid, config.batch_size))


def char_task(config, steps_per_epoch, data_dir, seed):
    """train_char_rnn.py's: nats per character on the whole valid split (batch 1, state carried), for `run`."""
    import math

    import keras

    import train_char_rnn
    from datasets import load_shakespeare
    from training.language_model import evaluate_perplexity, whole_stream_rows

    config = dataclasses.replace(config, steps_per_epoch=steps_per_epoch)
    *splits, vocabulary = load_shakespeare(data_dir)
    train, valid = (vocabulary.encode(split) for split in splits[:2])
    x_valid, y_valid, w_valid = whole_stream_rows(valid, config.eval_num_steps)
    return types.SimpleNamespace(
        spec=train_char_rnn.model_spec(config, len(vocabulary), "custom", seed),
        steps=train_char_rnn.rows_per_epoch(config, len(train)) // config.batch_size,
        training_rows=lambda epoch: train_char_rnn.training_rows(config, train, seed, epoch),
        optimizer=keras.optimizers.Adam, optimizer_args={},
        eval_layout={"batch_size": 1, "num_steps": config.eval_num_steps},
        valid_figure=lambda evaluator: math.log(evaluate_perplexity(evaluator, x_valid, y_valid, 1,
                                                                    sample_weight=w_valid)))


def run(config, epochs, steps_per_epoch=0, averages=AVERAGES, data_dir=None, seed=0, task=ptb_task):
    """Trains `config` for `epochs`; returns one row per epoch: the valid figure of raw and of each average.

    The figure is the perplexity with `ptb_task`, nats per character with `char_task`.
    """
    import keras

    from models import build_model
    from training.language_model import compile_evaluator, fit_epoch
    from training.metrics import sequence_loss
    from training.schedule import start_epoch

    study = task(config, steps_per_epoch, data_dir, seed)
    keras.utils.set_random_seed(seed)
    model = build_model(study.spec, batch_size=config.batch_size, num_steps=config.num_steps, stateful=True)
    optimizer = many_averages(study.optimizer, study.steps, averages)(
        config.learning_rate, global_clipnorm=config.max_grad_norm, **study.optimizer_args)
    model.compile(optimizer=optimizer, loss=sequence_loss)
    evaluator = compile_evaluator(build_model(study.spec, stateful=True, **study.eval_layout))
    table = []
    for epoch in range(epochs):
        start_epoch(model, config, epoch)
        x, y = study.training_rows(epoch)
        train_perplexity, seconds = fit_epoch(model, x, y, config.batch_size, config.num_steps)
        row = {"epoch": epoch + 1, "train_perplexity": train_perplexity, "seconds": seconds}
        candidates = {"raw": None, **{name: name for name, (first, _) in averages.items() if first <= epoch + 1}}
        for column, name in candidates.items():
            evaluator.set_weights(model.get_weights() if name is None else model.optimizer.weights_of(model, name))
            row[column] = study.valid_figure(evaluator)
        print(json.dumps(row), flush=True)
        table.append(row)
    return table


def plot(table, path, ylabel="valid perplexity", title="awd-small's iterates and their averages (PTB valid)"):
    """The valid figure by epoch, one line per average."""
    columns = [key for key in table[-1] if key not in ("epoch", "train_perplexity", "seconds")]
    figure, axes = pyplot().subplots(figsize=(7, 4.2))
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["ptb", "char"], default="ptb",
                        help="ptb: awd-small's SGD (default); char: char-rnn small's Adam")
    parser.add_argument("--epochs", type=int, help="default: 8 (ptb), 13 (char)")
    parser.add_argument("--steps-per-epoch", type=int, default=0, help="0: the whole training split")
    parser.add_argument("--data-dir", help="the data folder (default: LSTM_DATA_DIR or the download cache)")
    parser.add_argument("--output-dir", default="runs/weight_averaging")
    args = parser.parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)
    if args.model == "char":
        table = run(char_recipe(), args.epochs or 13, args.steps_per_epoch, CHAR_AVERAGES, args.data_dir,
                    task=char_task)
        labels = {"ylabel": "valid nats per character", "title": "char-rnn small's iterates and their averages"}
    else:
        table = run(first_recipe(), args.epochs or 8, args.steps_per_epoch, data_dir=args.data_dir)
        labels = {}
    with open(os.path.join(args.output_dir, "averages.json"), "w") as file:
        json.dump(table, file, indent=1)
    plot(table, os.path.join(args.output_dir, "averages.png"), **labels)
    print(f"Table and plot in {args.output_dir}")
    return table


if __name__ == "__main__":
    from training.backend import import_keras

    import_keras()
    main()
