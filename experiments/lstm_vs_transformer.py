"""Our LSTMs against nanoGPT's transformers on Tiny Shakespeare: the same split, the same metrics, equal budgets.

Each preset of train_char_rnn.py is trained as it stands (its own schedule,
from the start), one after the other on the same machine, until its training
time reaches the largest budget or its run ends. When its training time
passes each budget, the weights of that moment (Adam's averaged iterates where
the preset averages them) are put aside; after the run, each is scored on
nanoGPT's validation text, the last 111,540 characters of input.txt, both ways
(training/nanogpt.py): read in order (an LSTM carries its state, a transformer
reads windows of its block every half block) and nanoGPT's estimate (random
windows of 64 and of 256 characters, each from a zero state, 200 batches of
64). A run that ends before a budget is scored at its end for that budget.

Training time is the time inside the epochs' fit (its first compilation
included); validation, samples and checkpoints between epochs, and the scoring,
are not counted.

    python -m experiments.lstm_vs_transformer --nanogpt-batches 20       # PRESETS at 5, 10, 20 min on a CPU
    python -m experiments.lstm_vs_transformer --presets wide gpt-small --budgets 3    # on a GPU
    python -m experiments.lstm_vs_transformer --presets wide --precision mixed_bfloat16  # bfloat16 (GPU, AMX CPU)
    python -m experiments.lstm_vs_transformer --presets test gpt-test --budgets 0.1 0.2 --nanogpt-batches 2  # a check

It writes table.md and table.json (after each preset) and the runs in --output-dir.
"""

import json
import os
import platform
import time

from training import startup  # first: the backend's environment, set before Keras loads

import keras

import train_char_rnn
from models import spec_from_dict
from training import nanogpt
from training.averaging import evaluation_weights
from experiments import budget_minutes, command_line, in_order_once, output_folder, parse, seed_number, sorted_once, whole_number
from training.errors import UserError, friendly_main
from training.precision import PRECISIONS

PRESETS = ("small", "wide", "gpt-baby", "gpt-baby-long", "gpt-small")
BUDGETS = (5.0, 10.0, 20.0)  # minutes of training


class BudgetSpent(Exception):
    """The run's training time has passed the largest budget."""


class Budgets(keras.callbacks.Callback):
    """Puts the weights aside when the training time passes each budget; ends the run after the last one.

    The training time adds up the epochs' fits: from the start of each to its last step so far.
    """

    def __init__(self, seconds):
        super().__init__()
        self.left = sorted(seconds)
        self.snapshots = []  # {"budget_seconds", "seconds", "steps", "weights"}, one per budget passed
        self.seconds = self.steps = 0
        self.start = None
        self.last = None  # the same at the end of the last fit

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def snapshot(self, budget, seconds):
        if keras.backend.backend() == "jax":  # JAX holds the variables off the model while it fits
            self.model.jax_state_sync()
        return {"budget_seconds": budget, "seconds": seconds, "steps": self.steps,
                "weights": evaluation_weights(self.model)}

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        seconds = self.seconds + time.perf_counter() - self.start
        while self.left and seconds >= self.left[0]:
            self.snapshots.append(self.snapshot(self.left.pop(0), seconds))
        if not self.left:
            raise BudgetSpent()

    def on_train_end(self, logs=None):
        self.seconds += time.perf_counter() - self.start
        self.last = self.snapshot(None, self.seconds)

    def at_budgets(self, budgets):
        """A snapshot for every budget: those put aside, then the run's end for the budgets it never reached."""
        return self.snapshots + [{**self.last, "budget_seconds": budget} for budget in budgets[len(self.snapshots):]]


def train_preset(preset, budgets, folder, data_dir, nanogpt_batches, seed, lstm_batch_layout="streams",
                 precision="float32"):
    """Trains `preset` up to the last budget (minutes); returns one table row per budget.

    An LSTM preset trains on `lstm_batch_layout` ("windows": random windows from a zero state, as the
    transformers always do); its rows then name the preset "NAME (windows)". Under `precision`
    "mixed_bfloat16" the preset trains and is scored in that policy, and its rows say so.
    """
    config = train_char_rnn.PRESETS[preset]
    budget = Budgets([60 * minutes for minutes in budgets])
    argv = ["--preset", preset, "--output-dir", folder, "--seed", str(seed), "--nanogpt-batches", "0",  # scored here
            "--precision", precision] + (["--data-dir", data_dir] if data_dir else [])
    windows = config.spec_class.carries_state and lstm_batch_layout == "windows"
    if windows:
        argv += ["--batch-layout", "windows"]
    notes = ["windows"] * windows + [precision] * (precision != "float32")
    label = f"{preset} ({', '.join(notes)})" if notes else preset
    try:
        train_char_rnn.main(argv, callbacks=[budget])
    except BudgetSpent:
        pass
    settings, ids = nanogpt.run_validation_ids(folder, data_dir)
    spec = spec_from_dict(settings["model"])
    build = spec.build
    rows = []
    for minutes, shot in zip(budgets, budget.at_budgets([60 * minutes for minutes in budgets])):
        print(f"Scoring {preset} at {minutes:g} minutes ({shot['steps']:,} steps) on nanoGPT's validation ...",
              flush=True)
        scores = nanogpt.evaluate(build, spec, shot["weights"], ids, nanogpt_batches, config.eval_num_steps)
        rows.append({"preset": label, "model": spec.family, "parameters": spec.parameter_summary(build()),
                     "budget_minutes": minutes, "training_seconds": shot["seconds"], "steps": shot["steps"],
                     "characters": shot["steps"] * config.batch_size * config.sequence_length,
                     "in_order": scores.get(nanogpt.CARRIED, scores.get(nanogpt.SLIDING)),
                     **{key: value for key, value in scores.items() if key.startswith("nanogpt_")}})
        print(nanogpt.describe(scores), flush=True)
    return rows


def markdown(rows, machine):
    """The table: one line per preset and budget, nats per character on nanoGPT's validation."""
    lines = [f"Machine: {machine}.", "",
             "| preset | model | parameters | budget | steps | characters read | in order | windows of 64 | "
             "windows of 256 |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        windows = [f"{row[key]:.4f}" if key in row else "—" for key in ("nanogpt_val_windows_64",
                                                                           "nanogpt_val_windows_256")]
        how = "carried" if nanogpt.CARRIED in row else "sliding"
        lines.append(f"| {row['preset']} | {row['model']} | "
                     f"{row['parameters']} | {row['budget_minutes']:g} min | {row['steps']:,} | "
                     f"{row['characters']:,} | {row['in_order']:.4f} ({how}) | {' | '.join(windows)} |")
    lines += ["", "Nats per character on the last 111,540 characters of input.txt (nanoGPT's validation): in order "
              "(an LSTM with its state carried, a transformer in windows of its block every half block), and "
              f"nanoGPT's estimate_loss (random windows from a zero state, {rows[0]['nanogpt_windows_batches']} "
              f"batches of {nanogpt.BATCH_SIZE}, seed {nanogpt.SEED}). A transformer reads no window longer than "
              "its block (—). Each row: the weights after that much training time (or at the run's end)."]
    return "\n".join(lines) + "\n"


def parse_args(argv):
    parser = command_line(__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", choices=train_char_rnn.PRESETS, default=PRESETS, metavar="PRESET",
                        help=f"train_char_rnn.py presets, trained one after the other in this order: of "
                             f"{', '.join(train_char_rnn.PRESETS)} (default {' '.join(PRESETS)})")
    parser.add_argument("--budgets", nargs="+", type=budget_minutes, default=BUDGETS, metavar="MINUTES",
                        help=f"minutes of training at which to score, sorted, each once (default "
                             f"{' '.join(f'{b:g}' for b in BUDGETS)})")
    parser.add_argument("--nanogpt-batches", type=whole_number(1), default=nanogpt.BATCHES,
                        help=f"batches of {nanogpt.BATCH_SIZE} windows of nanoGPT's validation estimate (default "
                             f"{nanogpt.BATCHES}, nanoGPT's), as train_char_rnn.py's")
    parser.add_argument("--lstm-batch-layout", choices=["streams", "windows"], default="streams",
                        help="what the LSTM presets train on: streams (their own: contiguous, state carried) or "
                             "windows (random windows from a zero state, as the transformers)")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="float32 (default) or mixed_bfloat16, as train_char_rnn.py's --precision, for every "
                             "preset")
    parser.add_argument("--seed", type=seed_number, default=0, help="the runs' seed (default 0)")
    parser.add_argument("--data-dir", help="folder with tinyshakespeare/ (default: $LSTM_DATA_DIR, then the cache)")
    parser.add_argument("--output-dir", default="runs/lstm_vs_transformer", help="the table and the runs")
    args = parse(parser, argv)
    args.presets, args.budgets = list(in_order_once(args.presets)), list(sorted_once(args.budgets))
    taken = [name for name in args.presets if os.path.exists(os.path.join(args.output_dir, name))]
    if taken:
        raise UserError(f"{args.output_dir} already holds runs of {', '.join(taken)}; choose another --output-dir "
                        f"so that nothing is overwritten.")
    return args


@friendly_main
def main(argv=None):
    startup.start_devices(train_char_rnn.TWO_OPS_AT_ONCE)
    args = parse_args(argv)
    output_folder(args.output_dir)
    machine = (f"{platform.machine()}, {os.cpu_count()} CPUs, backend {keras.backend.backend()}, "
               f"{time.strftime('%Y-%m-%d')}")
    rows = []
    for preset in args.presets:
        rows += train_preset(preset, args.budgets, os.path.join(args.output_dir, preset), args.data_dir,
                             args.nanogpt_batches, args.seed, args.lstm_batch_layout, args.precision)
        with open(os.path.join(args.output_dir, "table.json"), "w") as file:
            json.dump({"machine": machine, "rows": rows}, file, indent=1)
        with open(os.path.join(args.output_dir, "table.md"), "w") as file:
            file.write(markdown(rows, machine))
    print("\n" + markdown(rows, machine) + f"\nTable and runs in {args.output_dir}")
    return rows


if __name__ == "__main__":
    main()
