"""The language-model recipe of train_ptb.py and train_char_rnn.py: its config, data checks and epoch loop.

    class Config(LanguageModelConfig): ...                  # a script's defaults and its own fields
    run = open_run(args, script, PRESETS, ...)
    data = LanguageModelData(train, valid, test, vocabulary, source="PTB", unit="word")
    results = train(run, data, args.distribute, valid_layout="streams")

Every epoch: start averaging when due, set the learning rate, fit the epoch's
rows from zero states, validate with the weights to keep (the averaged ones
once averaging), keep the best model, checkpoint. At the end the kept model
reads the whole test split once, batch 1, state carried.

`architecture` names the model (`models.ARCHITECTURES`), and its spec class
answers what the loop asks: the tokens per training row, whether a state is
carried, the loss form, what weight decay skips. `"gpt"` trains nanoGPT's
decoder-only transformer (models/gpt.py), `width` wide with windows of
`block_size`, by the same loop: the batches random windows (it has no state
to carry), the loss the mean per token (nanoGPT's, so that its clipping norm
means the same), AdamW on the matrices only, and a learning rate set every
step (`lr_schedule="warmup-cosine"`). Validation of a model without a state is
nanoGPT's estimate: `valid_batches` batches of random windows of the valid
split, each read from nothing, the same windows every epoch; the test split is
read once in order (`training.scoring.in_order_nats`).
"""

import dataclasses
import math
import os

import keras
import numpy as np

from datasets import check_fingerprints, fingerprint
from datasets.batching import check_length, epoch_rows, epoch_steps, random_windows, stream_rows, whole_stream_rows
from models import ARCHITECTURES
from training import distribute, nanogpt
from training.averaging import evaluation_weights, start_averaging_if_due
from training.errors import UserError
from training.language_model import compile_evaluator, epoch_row, evaluate_perplexity, fit_epoch, print_epoch
from training.metrics import sequence_loss, token_loss
from training.optimizers import make_optimizer
from training.regularization import Regularization
from training.schedule import WarmupCosine, start_epoch
from training.scoring import in_order_nats


@dataclasses.dataclass(frozen=True)
class LanguageModelConfig(Regularization):
    layers: int = 2                # stacked LSTMs
    units: int = 200               # LSTM units
    embedding_size: int = 200      # token-embedding width (0: one-hot tokens)
    num_steps: int = 20            # unrolled steps per batch: the truncated-BPTT length
    batch_size: int = 20           # parallel streams through the text
    batch_layout: str = "streams"  # "streams": contiguous, state carried; "windows": random places, zero state
    dropout: float = 0.0           # on the embedding output and every LSTM output
    optimizer: str = "sgd"         # "sgd" or "adam"
    learning_rate: float = 1.0     # at the start
    max_grad_norm: float = 5.0     # clip the gradients' global norm
    weight_decay: float = 0.0      # L2, as Keras' optimizers apply it
    lr_schedule: str = "step"      # "step": learning_rate · lr_decay^max(epoch + 1 − decay_after, 0); "book": never;
                                   # "warmup-cosine": every step, nanoGPT's (training.schedule.WarmupCosine)
    lr_decay: float = 0.5          # learning-rate factor per epoch after decay_after
    decay_after: int = 4           # epochs at the full learning rate
    epochs: int = 13               # epochs in all (an epoch reads the training split once)
    steps_per_epoch: int = 0       # 0: the whole training split each epoch; n: its first n steps
    eval_num_steps: int = 35       # window of the batch-1 passes (state carried: only speed depends on it)
    average_after: int = 0         # average the iterates after this many epochs (0: only by the trigger)
    average_patience: int = 0      # ... or once valid has not improved for n epochs (NT-ASGD's trigger; 0: never)
    average_window: int = 0        # 0: the mean of every iterate since; N: tapering to the last ~N steps
    architecture: str = "lstm"     # a name of models.ARCHITECTURES: "lstm" (units, num_steps), "gpt" (the rest)
    width: int = 0                 # gpt, xlstm: the residual stream's width
    heads: int = 4                 # gpt, xlstm: attention heads, sLSTM and mLSTM heads
    slstm_at: tuple = ()           # xlstm: indices of the sLSTM blocks (the others mLSTM)
    block_pattern: str = ""        # xlstm: "xLSTM[a:b]" instead of slstm_at: a mLSTM then b sLSTM blocks, repeated
    block_size: int = 0            # gpt: the longest context, and the length of the training windows
    beta_2: float = 0.999          # Adam's decay of its second moments
    warmup_steps: int = 0          # "warmup-cosine": steps of linear warm-up to learning_rate
    min_learning_rate: float = 0.0  # "warmup-cosine": the rate at the end of the cosine
    cosine_steps: int = 0          # "warmup-cosine": steps to the end of the cosine (nanoGPT's lr_decay_iters; 0: all)
    valid_batches: int = 200       # gpt: valid is nanoGPT's estimate, this many batches of batch_size windows

    @property
    def averaging(self):
        return bool(self.average_after or self.average_patience)

    @property
    def spec_class(self):
        """The model's spec class (`models.ARCHITECTURES`): what the recipe asks of the model."""
        return ARCHITECTURES[self.architecture]

    @property
    def sequence_length(self):
        """Tokens per training row: an LSTM's num_steps, a transformer's block_size."""
        return getattr(self, self.spec_class.sequence_field)


# What `--without` switches off besides the model's techniques (training.regularization.TECHNIQUES).
AVERAGING = {"averaging": {"average_after": 0, "average_patience": 0}}

# The xLSTM's recipe (Beck et al. 2024, Appendix; NX-AI/xlstm's experiments): AdamW (weight decay 0.1 on the matrices,
# models.XLSTMSpec.no_weight_decay), a linear warm-up then a cosine to a tenth of the rate, over the carried-state
# streams the LSTMs read; the loss summed over the steps as theirs (clipped at their norm, 5).
XLSTM_RECIPE = {"architecture": "xlstm", "optimizer": "adam", "lr_schedule": "warmup-cosine", "learning_rate": 2e-3,
                "min_learning_rate": 2e-4, "warmup_steps": 100, "beta_2": 0.99, "weight_decay": 0.1,
                "max_grad_norm": 5.0}


@dataclasses.dataclass
class LanguageModelData:
    """A run's token ids (training, validation, test), its vocabulary, and what it is."""

    train: object
    valid: object
    test: object
    vocabulary: object
    source: str  # for messages and titles: "PTB", a corpus folder, a text file
    unit: str    # "word" or "char"
    unknown: dict = dataclasses.field(default_factory=dict)  # words read as <unk>, per split (word models)


def model_spec(config, vocab_size, cell, seed, variant="vanilla"):
    """The spec of the config's model (`models.ARCHITECTURES[config.architecture]`)."""
    return config.spec_class.from_config(config, vocab_size, cell, variant, seed)


def make_training_optimizer(config, total_steps=0):
    """The config's optimizer: SGD or Adam, clipped, with weight decay, averaging its iterates when asked.

    With lr_schedule "warmup-cosine" its learning rate is a `WarmupCosine` of the step, decaying over
    `cosine_steps` (0: over `total_steps`, the run's).
    """
    rate = config.learning_rate
    if config.lr_schedule == "warmup-cosine":
        rate = WarmupCosine(config.learning_rate, config.min_learning_rate, config.warmup_steps,
                            config.cosine_steps or total_steps)
    return make_optimizer(config.optimizer, rate, clipnorm=config.max_grad_norm, weight_decay=config.weight_decay,
                          averaging=config.averaging, average_window=config.average_window,
                          beta_2=config.beta_2 if config.optimizer == "adam" else None)


LOSSES = {"sequence": sequence_loss, "token": token_loss}  # a spec's loss_form → the training loss


def tokens_per_loss(config):
    """The tokens the training loss sums over per sequence: the row (`sequence_loss`), 1 for the mean (`token_loss`)."""
    return config.sequence_length if config.spec_class.loss_form == "sequence" else 1


def compile_for_training(model, config, total_steps=0):
    """Compiles `model` with the config's optimizer on its model's loss (`LOSSES`), weight decay skipping what the
    model's spec says (a transformer, as nanoGPT: the LayerNorm gains)."""
    optimizer = make_training_optimizer(config, total_steps)
    skipped = config.spec_class.no_weight_decay(model)
    if skipped:
        optimizer.exclude_from_weight_decay(var_list=skipped)
    model.compile(optimizer=optimizer, loss=LOSSES[config.spec_class.loss_form])
    return model


def check_own_files(run):
    """On resume: the user's own files the run was trained on are there, unchanged (else a clear DataError)."""
    if run.resumed:
        check_fingerprints(run.settings["data"]["files"])


def record_own_files(run, paths):
    """Fingerprints the user's own files in the run's settings (once they have been read)."""
    run.settings["data"]["files"] = [fingerprint(path) for path in paths]


def check_layout(config):
    """A clear error for a model without a state asked to carry one (the streams layout)."""
    if not config.spec_class.carries_state and config.batch_layout != "windows":
        raise UserError(f"a {config.spec_class.family} has no state to carry from one batch to the next, so it "
                        f"trains on random windows: leave out --batch-layout streams with this preset.")


def check_lengths(config, data, valid_layout, advice, eval_advice):
    """A clear error for a split too short for its batches: training (and valid in `streams`) B × n, valid in
    `windows` (a transformer's) one window of n, the rest 1."""
    check_length(data.train, f"the training split of {data.source}", config.batch_size, config.sequence_length, advice)
    if valid_layout == "streams":
        check_length(data.valid, f"the valid split of {data.source}", config.batch_size, config.sequence_length, advice)
    elif valid_layout == "windows":
        check_length(data.valid, f"the valid split of {data.source}", 1, config.sequence_length, eval_advice)
    else:
        check_length(data.valid, f"the valid split of {data.source}", advice=eval_advice)
    check_length(data.test, f"the test split of {data.source}", advice=eval_advice)


def validation(build_model, config, ids, layout):
    """A function from weights to the perplexity of the valid split `ids`, starting from zero states.

    Args:
        build_model: Builds the model at a shape (`RunFolder.build_model`, or
            `models.build_model` with the spec bound).
        layout: "streams": batch_size streams × num_steps, state carried (the
            PTB tutorial's valid pass); "whole": the split once, in order,
            batch 1, state carried; "windows": nanoGPT's estimate, `valid_batches`
            × batch_size random windows of num_steps, each from a zero state
            (the same windows every time).
    """
    if layout == "windows":
        evaluator = compile_evaluator(build_model(batch_size=config.batch_size, num_steps=config.sequence_length))
        x, y = random_windows(ids, config.valid_batches * config.batch_size, config.sequence_length,
                              np.random.default_rng(nanogpt.SEED))
        rows = {"x": x, "y": y, "batch_size": config.batch_size}
    elif layout == "streams":
        evaluator = compile_evaluator(build_model(batch_size=config.batch_size, num_steps=config.sequence_length,
                                                  stateful=True))
        x, y = stream_rows(ids, config.batch_size, config.sequence_length)
        rows = {"x": x, "y": y, "batch_size": config.batch_size}
    else:
        evaluator = compile_evaluator(build_model(batch_size=1, num_steps=config.eval_num_steps, stateful=True))
        x, y, w = whole_stream_rows(ids, config.eval_num_steps)
        rows = {"x": x, "y": y, "batch_size": 1, "sample_weight": w}

    def perplexity(weights):
        evaluator.set_weights(weights)
        return evaluate_perplexity(evaluator, **rows)

    return perplexity


def train_epoch(model, config, ids, seed, epoch, callbacks=()):
    """Sets the epoch's learning rate and fits the epoch's rows of `ids` in order, from zero states (and `callbacks`).

    Returns:
        (learning rate, train perplexity, tokens read, seconds of training).
    """
    lr = start_epoch(model, config, epoch)
    x, y = epoch_rows(ids, config.batch_size, config.sequence_length, config.steps_per_epoch, config.batch_layout,
                      rng=np.random.default_rng([seed, epoch]))  # windows: the same for the same (seed, epoch)
    train_ppl, seconds = fit_epoch(model, x, y, config.batch_size, tokens_per_loss(config), callbacks)
    return lr, train_ppl, x.size, seconds


def train(run, data, distribute_mode="off", valid_layout="streams", epoch_hook=None, title=None, callbacks=()):
    """Trains the run's config on `data` from its first unfinished epoch, tests the kept model, writes results.json.

    Args:
        run: The `training.run.RunFolder` (its config a `LanguageModelConfig`).
        data: The `LanguageModelData`.
        distribute_mode: "off" or "data" (`--distribute`).
        valid_layout: "streams": the valid split in the training layout
            (batch_size streams, state carried: the PTB tutorial's); "whole":
            once, in order, batch 1, state carried.
        epoch_hook: Called as epoch_hook(run, data) once the models are built; what
            it returns is called as f(epoch, weights) after each epoch's
            validation, with the weights to keep (the char model writes a sample).
        title: The plots' title.
        callbacks: Keras callbacks of every epoch's `fit` besides the run's own.

    Returns:
        The results dict (also in results.json).
    """
    config, unit = run.config, data.unit
    check_layout(config)
    if not config.spec_class.carries_state:  # nanoGPT's estimate
        valid_layout = "windows"
    keras.utils.set_random_seed(run.seed)
    spec = model_spec(config, len(data.vocabulary), run.cell, run.seed, run.variant)
    run.begin(spec, data.vocabulary,
              title=title or f"{os.path.basename(data.source)} {run.preset}, {run.model_title}",
              keep=("valid_perplexity", "min"),
              plots={"perplexity.png": (["train_perplexity", "valid_perplexity"], "perplexity", True)})
    stateful = config.batch_layout == "streams"
    steps = epoch_steps(len(data.train), config.batch_size, config.sequence_length, config.steps_per_epoch,
                        config.batch_layout)
    distribution = distribute.start(distribute_mode, config.batch_size, stateful)
    with distribute.scope(distribution):
        model = run.build_model(batch_size=config.batch_size, num_steps=config.sequence_length, stateful=stateful)
        compile_for_training(model, config, total_steps=steps * config.epochs)
        if run.resumed:
            run.restore(model)
            print(f"Resuming {run.shown} after epoch {len(run.history)}.")
    validate = validation(run.build_model, config, data.valid, valid_layout)
    end_epoch = epoch_hook(run, data) if epoch_hook else None
    print(f"{data.source} {run.preset}: {len(data.vocabulary):,} {unit}s in the vocabulary, "
          f"{spec.describe(run.cell_title)}, {model.count_params():,} parameters, {steps:,} steps of "
          f"{config.batch_size}×{config.sequence_length} {unit}s per epoch ({config.batch_layout}), "
          f"backend {keras.backend.backend()}")

    for epoch in run.epochs(config.epochs):
        start_averaging_if_due(model.optimizer, [row["valid_perplexity"] for row in run.history],
                               after=config.average_after, patience=config.average_patience)
        with distribute.scope(distribution):
            lr, train_ppl, tokens, seconds = train_epoch(model, config, data.train, run.seed, epoch, callbacks)
        weights = evaluation_weights(model)  # the averaged weights once averaging has started
        row = epoch_row(lr, train_ppl, validate(weights), tokens, seconds, unit)
        if end_epoch:
            end_epoch(epoch, weights)
        print_epoch(run.end_epoch(model, row, weights), unit)
    return evaluate_best(run, data)


def evaluate_best(run, data):
    """The kept model reads the whole test split once, in order (`training.scoring.in_order_nats`); writes and
    returns results.json."""
    test_nats = in_order_nats(run.build_model, run.settings["model"], run.best_weights(), data.test,
                              run.config.eval_num_steps)
    test_ppl = math.exp(test_nats)
    best = run.best_row()
    results = {"best_epoch": best["epoch"], "valid_perplexity": best["valid_perplexity"],
               "valid_nats": best["valid_nats"], "test_perplexity": test_ppl, "test_nats": test_nats,
               "test_bits": test_nats / math.log(2), "train_seconds": sum(row["epoch_seconds"] for row in run.history),
               "vocabulary_size": len(data.vocabulary)}
    if data.unknown:  # a word model: the words of each split read as <unk>
        results["unknown_words"] = data.unknown
    run.write_json("results.json", results)
    return results
