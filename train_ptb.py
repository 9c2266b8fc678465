"""Word-level language model on Penn Treebank: the PTB example of 《TensorFlow实战》.

That example is TensorFlow's `ptb_word_lm.py` tutorial (after Zaremba, Sutskever
& Vinyals 2014, "Recurrent Neural Network Regularization"): an embedding, a
stack of LSTMs that carries its state from batch to batch through the text,
and a softmax over the 10,000 words; plain SGD with gradient clipping and a
learning rate that decays after `decay_after` epochs. Here it runs on this
project's LSTM (or `--cell builtin`) in Keras 3, on any backend.

    python train_ptb.py --preset small                     # 2-core CPU, TensorFlow
    KERAS_BACKEND=jax python train_ptb.py --preset medium  # GPU
    python train_ptb.py --corpus my_corpus/ --vocab-size 20000  # your own train.txt, valid.txt, test.txt

Results (perplexity on PTB; TensorFlow's table and ours; small measured with
`python train_ptb.py --preset small [--lr-schedule book]` on a 2-core CPU,
TensorFlow backend, 2026-11-23 ("again": the current code on another, AVX2
VM, 2026-11-24, best-valid model of epoch 6; "AVX-512": the same on a 2-core AVX-512
AMD EPYC, 2026-12-01); medium, large and awd with
`KERAS_BACKEND=jax python train_ptb.py --preset medium|large|awd` on one H100,
2026-11-24; the README has the details):

    | preset          | TF valid | TF test | ours valid | ours test      |
    |-----------------|----------|---------|------------|----------------|
    | small           | 121.39   | 115.91  | 119.15     | 113.55         |
    | small, book lr  |          |         | 138.41     | 133.18         |
    | small, again    |          |         | 118.66     | 114.17 (43 min)|
    | small, AVX-512  |          |         | 118.00     | 114.90 (18 min)|
    | medium          | 86.16    | 82.07   | 87.32      | 83.91 (185 s)  |
    | large           | 82.62    | 78.29   | 85.05 after 25 of 55 epochs (run lost) |
    | awd-small       |          |         | 95.33      | 91.51 (37 min) |
    | first awd-small |          |         | 104.31     | 101.05 (25 min)|
    | awd-small again |          |         | 95.60      | 91.68 (17 min) |
    | awd-small-long  |          |         | 87.87      | 84.00 (36 min) |
    | awd-small untied|          |         | 88.38      | 85.46 (27 min) |
    | first, 22 epochs|          |         | 92.81      | 89.36 (82 min) |
    | awd             |          |         | 78.75 after 25 of 500 epochs (run lost) |

`awd-small` and `awd` add AWD-LSTM's regularization (Merity et al. 2017): weight
tying, locked dropout, embedding dropout, weight drop, AR/TAR and NT-ASGD; awd-small
measured with `python train_ptb.py --preset awd-small`, same CPU, 2026-11-24,
"again", "untied" (`--without tying`) and awd-small-long on a 2-core AVX-512 AMD EPYC, 2026-12-01 (the
first awd-small, at b06aa62, averaged with NT-ASGD's plain mean from epoch 4; today's
averages over a ~500-step window from epoch 2, see `experiments/weight_averaging.py`).
`--without tying,...` switches techniques off for an ablation (the README's tables:
at 800 steps, tying is worth 30 points of test perplexity, locked dropout 4; at the
whole 8-epoch budget, untied is 6.2 points better, without weight drop 1.3 better,
without locked dropout 1.1, without embedding dropout 1.0, without AR/TAR 0.35 better;
only the averaging pays, 1.6).
"""

import dataclasses
import os

from training.cli import add_language_model_arguments, open_run, parse_script_args
from training.errors import UserError, friendly_main
from training.regularization import TECHNIQUES, Regularization, add_without_argument, spec_fields, switched_off


@dataclasses.dataclass(frozen=True)
class Config(Regularization):
    init_scale: float = 0.1      # every weight starts uniform in ±init_scale (LSTM biases at 0)
    learning_rate: float = 1.0   # plain SGD
    max_grad_norm: float = 5.0   # clip the gradients' global norm
    layers: int = 2              # stacked LSTMs
    num_steps: int = 20          # unrolled steps: the truncated-BPTT length
    units: int = 200             # LSTM units
    embedding_size: int = 200    # word-embedding width (the tutorial: as wide as the LSTM)
    decay_after: int = 4         # epochs at the full learning rate (the tutorial's max_epoch)
    epochs: int = 13             # epochs in all (the tutorial's max_max_epoch)
    dropout: float = 0.0         # on the embedding output and every LSTM output (the tutorial's 1 − keep_prob)
    lr_decay: float = 0.5        # learning-rate factor per epoch after decay_after
    lr_schedule: str = "step"    # "step" (the tutorial's), or "book": the book's code decays after `epochs`, i.e. never
    batch_size: int = 20         # parallel streams through the text
    vocab_size: int = 0          # at most this many words (the rest become <unk>); 0: every training word
    steps_per_epoch: int = 0     # 0: the whole training stream each epoch; n: its first n steps
    eval_num_steps: int = 35     # window of the test pass (batch 1, state carried: any value gives the same result)
    # AWD-LSTM's optimizer side, off in the book's presets (its model side: the fields of `Regularization`).
    weight_decay: float = 0.0               # SGD's weight decay (L2)
    asgd_patience: int = 0                  # NT-ASGD: average the iterates once valid has not improved for n epochs
    asgd_after: int = 0                     # ... or after this many epochs at the latest (0: only the trigger)
    asgd_window: int = 0                    # 0: the mean of every iterate since; N: tapering to the last ~N steps


# The same model side, scaled to what a 2-core CPU trains in 30 minutes; for that budget the iterates are
# averaged from epoch 2 over a window of ~500 steps and the rate halves in each of the last two epochs
# (each measured: README).
AWD_SMALL = Config(init_scale=0.0, learning_rate=30 / 35, max_grad_norm=0.25 * 35, layers=2, num_steps=35,
                   units=400, embedding_size=200, epochs=8, decay_after=6, lr_decay=0.5, dropout=0.15,
                   input_dropout=0.2, output_dropout=0.25, tie_weights=True, locked_dropout=True,
                   embedding_dropout=0.05, weight_dropout=0.15, activation_penalty=2.0,
                   temporal_activation_penalty=1.0, weight_decay=1.2e-6, asgd_after=1, asgd_window=500)

PRESETS = {  # TensorFlow's ptb_word_lm.py configs
    "small": Config(),
    "medium": Config(init_scale=0.05, num_steps=35, units=650, embedding_size=650, decay_after=6, epochs=39,
                     dropout=0.5, lr_decay=0.8),
    "large": Config(init_scale=0.04, max_grad_norm=10.0, num_steps=35, units=1500, embedding_size=1500,
                    decay_after=14, epochs=55, dropout=0.65, lr_decay=1 / 1.15),
    "test": Config(max_grad_norm=1.0, layers=1, num_steps=2, units=2, embedding_size=2, decay_after=1, epochs=1),
    # AWD-LSTM's PTB setting (its README's command: batch 20, dropouti 0.4, dropouth 0.25; 500 epochs on a GPU).
    # Our loss sums over the steps where AWD-LSTM's averages, so its lr 30 and clip 0.25 become 30/70 and 0.25·70.
    "awd": Config(init_scale=0.0, learning_rate=30 / 70, max_grad_norm=0.25 * 70, layers=3, num_steps=70,
                  units=1150, embedding_size=400, epochs=500, lr_decay=1.0, dropout=0.25, input_dropout=0.4,
                  output_dropout=0.4, tie_weights=True, locked_dropout=True, embedding_dropout=0.1,
                  weight_dropout=0.5, activation_penalty=2.0, temporal_activation_penalty=1.0,
                  weight_decay=1.2e-6, asgd_patience=5),
    "awd-small": AWD_SMALL,
    # The same recipe for ≤ 90 minutes of the 2-core CPU: 18 epochs, the rate halved in each of the last three
    # (test 84.00 in 36 minutes on the AVX-512 VM: README).
    "awd-small-long": dataclasses.replace(AWD_SMALL, epochs=18, decay_after=15),
    # Every technique on a toy model, for the tests (averaging from the second epoch).
    "awd-test": Config(init_scale=0.0, learning_rate=30 / 5, max_grad_norm=0.25 * 5, layers=2, num_steps=5, units=8,
                       embedding_size=4, epochs=3, lr_decay=1.0, dropout=0.2, input_dropout=0.25, output_dropout=0.3,
                       tie_weights=True, locked_dropout=True, embedding_dropout=0.1, weight_dropout=0.3,
                       activation_penalty=2.0, temporal_activation_penalty=1.0, weight_decay=1.2e-6, asgd_after=1),
}

# Each op on all cores: the 10,000-word softmax's large products want both (PTB small's step 35 → 40 ms with
# half the cores per op, benchmarks/model_speed.py, README Speed).
TWO_OPS_AT_ONCE = False

# What `--without` switches off, for the ablation of the awd presets: the model's techniques and NT-ASGD.
PTB_TECHNIQUES = {**TECHNIQUES, "asgd": {"asgd_patience": 0, "asgd_after": 0}}


def model_spec(config, vocab_size, cell, seed):
    from models import LanguageModelSpec

    return LanguageModelSpec(vocab_size=vocab_size, cell=cell, seed=seed, **spec_fields(config))


def compile_for_training(model, config):
    """SGD with global-norm clipping on the tutorial's cost (summed over the steps, averaged over the batch).

    With NT-ASGD (`asgd_patience` or `asgd_after`) the SGD is `training.averaging.AveragedSGD`.
    """
    import keras

    from training.averaging import AveragedSGD
    from training.metrics import sequence_loss

    sgd = AveragedSGD if config.asgd_patience or config.asgd_after else keras.optimizers.SGD
    averaging = {"average_window": config.asgd_window} if sgd is AveragedSGD else {}
    optimizer = sgd(config.learning_rate, global_clipnorm=config.max_grad_norm, weight_decay=config.weight_decay or None,
                    **averaging)
    model.compile(optimizer=optimizer, loss=sequence_loss)
    return model


def add_arguments(parser):
    parser.add_argument("--lr-schedule", choices=["step", "book"], help="learning-rate decay (default step)")
    parser.add_argument("--corpus", metavar="DIR", help="train on your own corpus: a folder with train.txt, valid.txt "
                                                        "and test.txt (default: Penn Treebank)")
    parser.add_argument("--vocab-size", type=int, help="keep the N most frequent training words; the rest become "
                                                       "<unk> (default: every word)")
    add_without_argument(parser, PTB_TECHNIQUES)
    add_language_model_arguments(parser)


def load_data(run, data_dir):
    """(train, valid, test, vocabulary, unknown) of PTB or of the run's --corpus folder, checked to be long enough."""
    from datasets import SPLITS, check_fingerprints, fingerprint, load_corpus, ptb_folder, split_file
    from training.language_model import check_length

    config, corpus = run.config, run.settings["data"].get("corpus")
    if corpus and run.resumed:
        check_fingerprints(run.settings["data"]["files"])
    train, valid, test, vocabulary, unknown = load_corpus(corpus or ptb_folder(data_dir), config.vocab_size or None)
    if corpus:
        run.settings["data"]["files"] = [fingerprint(split_file(corpus, split)) for split in SPLITS]
    advice = "Lower --batch-size or --num-steps, or give the split more text."
    for split, ids in (("train", train), ("valid", valid)):  # both are read in the training layout
        check_length(ids, f"the {split} split of {corpus or 'PTB'}", config.batch_size, config.num_steps, advice)
    check_length(test, f"the test split of {corpus or 'PTB'}", advice="Give the split more text.")
    return train, valid, test, vocabulary, unknown


@friendly_main(two_ops_at_once=TWO_OPS_AT_ONCE)
def main(argv=None):
    args = parse_script_args(__doc__.split("\n\n")[0], PRESETS, "small", argv, add_arguments)
    if args.vocab_size is not None and args.vocab_size < 2:
        raise UserError(f"--vocab-size must be at least 2 (a word and <unk>); got {args.vocab_size}.")
    run = open_run(args, "train_ptb.py", PRESETS, data={"corpus": args.corpus and os.path.abspath(args.corpus)},
                   lr_schedule=args.lr_schedule, vocab_size=args.vocab_size, batch_size=args.batch_size,
                   num_steps=args.num_steps, **switched_off(args.without, PTB_TECHNIQUES))
    config = run.config

    import keras

    from training import distribute
    from training.averaging import evaluation_weights, start_averaging_if_due
    from training.language_model import (compile_evaluator, epoch_row, evaluate_perplexity, fit_epoch, print_epoch,
                                         stream_rows, whole_stream_rows)
    from training.schedule import start_epoch

    train, valid, test, vocabulary, unknown = load_data(run, args.data_dir)
    if any(unknown.values()):
        print("Words outside the vocabulary, read as <unk>: "
              + ", ".join(f"{count:,} in {split}" for split, count in unknown.items()))
    x_train, y_train = stream_rows(train, config.batch_size, config.num_steps)
    if config.steps_per_epoch:
        rows = config.steps_per_epoch * config.batch_size
        x_train, y_train = x_train[:rows], y_train[:rows]
    x_valid, y_valid = stream_rows(valid, config.batch_size, config.num_steps)

    source = run.settings["data"].get("corpus") or "PTB"
    keras.utils.set_random_seed(run.seed)
    run.begin(model_spec(config, len(vocabulary), run.cell, run.seed), vocabulary,
              title=f"{os.path.basename(source)} {run.preset}, {run.cell} cell", keep=("valid_perplexity", "min"),
              plots={"perplexity.png": (["train_perplexity", "valid_perplexity"], "perplexity", True)})
    layout = {"batch_size": config.batch_size, "num_steps": config.num_steps, "stateful": True}
    distribution = distribute.start(args.distribute, config.batch_size, stateful=True)
    with distribute.scope(distribution):
        model = compile_for_training(run.build_model(**layout), config)
        if run.resumed:
            run.restore(model)
            print(f"Resuming {run.path} after epoch {len(run.history)}.")
    evaluator = compile_evaluator(run.build_model(**layout))
    print(f"{source} {run.preset}: {len(vocabulary):,} words, {config.layers}×{config.units} {run.cell} LSTM, "
          f"{model.count_params():,} parameters, {len(x_train) // config.batch_size} steps of "
          f"{config.batch_size}×{config.num_steps} words per epoch, backend {keras.backend.backend()}")

    for epoch in run.epochs(config.epochs):
        start_averaging_if_due(model.optimizer, [row["valid_perplexity"] for row in run.history],
                               after=config.asgd_after, patience=config.asgd_patience)
        lr = start_epoch(model, config, epoch)
        with distribute.scope(distribution):
            train_ppl, seconds = fit_epoch(model, x_train, y_train, config.batch_size, config.num_steps)
        weights = evaluation_weights(model)  # the averaged weights once NT-ASGD averages
        evaluator.set_weights(weights)  # the tutorial's valid pass: batch 20, state carried
        valid_ppl = evaluate_perplexity(evaluator, x_valid, y_valid, config.batch_size)
        row = epoch_row(lr, train_ppl, valid_ppl, x_train.size, seconds, "word")
        print_epoch(run.end_epoch(model, row, weights), "word")

    # The test pass: the kept model reads the whole test stream once, batch 1, state carried.
    tester = compile_evaluator(run.build_model(batch_size=1, num_steps=config.eval_num_steps, stateful=True))
    tester.set_weights(run.kept_weights())
    x_test, y_test, w_test = whole_stream_rows(test, config.eval_num_steps)
    test_ppl = evaluate_perplexity(tester, x_test, y_test, 1, sample_weight=w_test)
    kept = run.kept_row()
    results = {"test_perplexity": test_ppl, "valid_perplexity": kept["valid_perplexity"], "kept_epoch": kept["epoch"],
               "train_seconds": sum(row["epoch_seconds"] for row in run.history), "vocabulary_size": len(vocabulary),
               "unknown_words": unknown}
    run.write_json("results.json", results)
    print(f"Test perplexity {test_ppl:.2f} (whole test stream, batch 1, state carried) with the model of epoch "
          f"{kept['epoch']}. Run folder: {run.path}")
    return results


if __name__ == "__main__":
    main()
