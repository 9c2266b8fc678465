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

The training recipe is `train_ptb.py`'s first `awd-small` (the model side of
today's preset, learning rate 30/35 held constant, every technique on, seed 0);
its mean@4 column repeats that run's valid perplexities exactly.

    python experiments/weight_averaging.py               # 8 epochs: ~30 min of training on a 2-core CPU
    python experiments/weight_averaging.py --epochs 2 --steps-per-epoch 200   # a quick look
"""

import argparse
import dataclasses
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from training.figures import pyplot  # noqa: E402

# name: (first epoch, counted from 1; window in steps, 0 for the plain mean)
AVERAGES = {"mean@3": (3, 0), "mean@4": (4, 0), "ema 500@2": (2, 500), "ema 1500@2": (2, 1500),
            "ema 4000@2": (2, 4000)}


def first_recipe():
    """train_ptb.py's `awd-small` as first measured: constant learning rate, no averaging of its own."""
    import train_ptb

    return dataclasses.replace(train_ptb.PRESETS["awd-small"], lr_decay=1.0, asgd_after=0, asgd_patience=0,
                               asgd_window=0)


def many_averages(config, steps_per_epoch, averages):
    """Keras' SGD that keeps one average of its iterates per entry of `averages`."""
    import keras
    from keras import ops

    from training.averaging import average_weight

    class ManyAverages(keras.optimizers.SGD):
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

    return ManyAverages(config.learning_rate, global_clipnorm=config.max_grad_norm,
                        weight_decay=config.weight_decay or None)


def run(config, epochs, steps_per_epoch=0, averages=AVERAGES, data_dir=None, seed=0):
    """Trains `config` for `epochs`; returns one row per epoch: the valid perplexity of raw and of each average."""
    import keras

    import train_ptb
    from datasets import load_corpus, ptb_folder
    from models import build_model
    from training.language_model import compile_evaluator, evaluate_perplexity, fit_epoch, stream_rows
    from training.metrics import sequence_loss
    from training.schedule import start_epoch

    train, valid, _, vocabulary, _ = load_corpus(ptb_folder(data_dir))
    x_train, y_train = stream_rows(train, config.batch_size, config.num_steps)
    if steps_per_epoch:
        x_train, y_train = x_train[:steps_per_epoch * config.batch_size], y_train[:steps_per_epoch * config.batch_size]
    x_valid, y_valid = stream_rows(valid, config.batch_size, config.num_steps)
    steps = len(x_train) // config.batch_size
    keras.utils.set_random_seed(seed)
    spec = train_ptb.model_spec(config, len(vocabulary), "custom", seed)
    layout = {"batch_size": config.batch_size, "num_steps": config.num_steps, "stateful": True}
    model = build_model(spec, **layout)
    model.compile(optimizer=many_averages(config, steps, averages), loss=sequence_loss)
    evaluator = compile_evaluator(build_model(spec, **layout))
    table = []
    for epoch in range(epochs):
        start_epoch(model, config, epoch)
        train_perplexity, seconds = fit_epoch(model, x_train, y_train, config.batch_size, config.num_steps)
        row = {"epoch": epoch + 1, "train_perplexity": train_perplexity, "seconds": seconds}
        candidates = {"raw": None, **{name: name for name, (first, _) in averages.items() if first <= epoch + 1}}
        for column, name in candidates.items():
            evaluator.set_weights(model.get_weights() if name is None else model.optimizer.weights_of(model, name))
            row[column] = evaluate_perplexity(evaluator, x_valid, y_valid, config.batch_size)
        print(json.dumps(row), flush=True)
        table.append(row)
    return table


def plot(table, path):
    """Valid perplexity by epoch, one line per average."""
    columns = [key for key in table[-1] if key not in ("epoch", "train_perplexity", "seconds")]
    figure, axes = pyplot().subplots(figsize=(7, 4.2))
    for column in columns:
        points = [(row["epoch"], row[column]) for row in table if column in row]
        axes.plot(*zip(*points), marker="o", label=column)
    axes.set_xlabel("epoch")
    axes.set_ylabel("valid perplexity")
    axes.set_yscale("log")
    axes.set_title("awd-small's iterates and their averages (PTB valid)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--steps-per-epoch", type=int, default=0, help="0: the whole training split")
    parser.add_argument("--data-dir", help="the data folder (default: LSTM_DATA_DIR or the download cache)")
    parser.add_argument("--output-dir", default="runs/weight_averaging")
    args = parser.parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)
    table = run(first_recipe(), args.epochs, args.steps_per_epoch, data_dir=args.data_dir)
    with open(os.path.join(args.output_dir, "averages.json"), "w") as file:
        json.dump(table, file, indent=1)
    plot(table, os.path.join(args.output_dir, "averages.png"))
    print(f"Table and plot in {args.output_dir}")
    return table


if __name__ == "__main__":
    from training.backend import import_keras

    import_keras()
    main()
