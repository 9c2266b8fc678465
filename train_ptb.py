"""Word-level language model on Penn Treebank: the PTB example of 《TensorFlow实战》.

That example is TensorFlow's `ptb_word_lm.py` tutorial (after Zaremba, Sutskever
& Vinyals 2014, "Recurrent Neural Network Regularization"): an embedding, a
stack of LSTMs that carries its state from batch to batch through the text,
and a softmax over the 10,000 words; plain SGD with gradient clipping and a
learning rate that decays after `decay_after` epochs. Here it runs on this
project's LSTM (or `--cell builtin`) in Keras 3, on any backend. The `awd*`
presets add AWD-LSTM's regularization (Merity et al. 2017: weight tying, locked
dropout, embedding dropout, weight drop, AR/TAR and NT-ASGD); `--without
tying ...` switches techniques off for an ablation.

    python train_ptb.py --preset small                     # 2-core CPU, TensorFlow
    KERAS_BACKEND=jax python train_ptb.py --preset medium  # GPU
    python train_ptb.py --corpus my_corpus/ --vocab-size 20000  # your own train.txt, valid.txt, test.txt
    python train_ptb.py --variant coupled                  # an LSTM variant (models.VARIANTS); --cell gru: a GRU

Every preset's results, with commands, machines and dates: docs/results.md#penn-treebank.
"""

import dataclasses
import os

from training import startup  # first: the backend's environment, set before Keras loads

from datasets import SPLITS, load_corpus, ptb_folder, split_file
from training.cli import add_language_model_arguments, open_run, parse_script_args
from training.errors import UserError, friendly_main
from training.recipe import AVERAGING, XLSTM_RECIPE, LanguageModelConfig, LanguageModelData, check_lengths
from training.recipe import check_own_files, record_own_files, train
from training.regularization import TECHNIQUES, add_without_argument, switched_off

# Each op on all cores: the 10,000-word softmax's large products want both (docs/speed.md).
TWO_OPS_AT_ONCE = False


@dataclasses.dataclass(frozen=True)
class Config(LanguageModelConfig):  # TensorFlow's `small`; AWD-LSTM's techniques off unless a preset says
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
    eval_num_steps: int = 35     # window of the test pass (batch 1, state carried: any value gives the same result)


# The same model side, scaled to what a 2-core CPU trains in 30 minutes; for that budget the iterates are
# averaged from epoch 2 over a window of ~500 steps and the rate halves in each of the last two epochs.
AWD_SMALL = Config(init_scale=0.0, learning_rate=30 / 35, max_grad_norm=0.25 * 35, layers=2, num_steps=35,
                   units=400, embedding_size=200, epochs=8, decay_after=6, lr_decay=0.5, dropout=0.15,
                   input_dropout=0.2, output_dropout=0.25, tie_weights=True, locked_dropout=True,
                   embedding_dropout=0.05, weight_dropout=0.15, activation_penalty=2.0,
                   temporal_activation_penalty=1.0, weight_decay=1.2e-6, average_after=1, average_window=500)

PRESETS = {  # TensorFlow's ptb_word_lm.py configs, then AWD-LSTM's; results: docs/results.md#penn-treebank
    "small": Config(),
    # A first result in under two minutes of the 2-core CPU: `small` for the first 1,500 steps of an epoch.
    "quick": Config(epochs=1, steps_per_epoch=1500),
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
                  weight_decay=1.2e-6, average_patience=5),
    "awd-small": AWD_SMALL,
    # The same recipe for ≤ 90 minutes of the 2-core CPU: 18 epochs, the rate halved in each of the last three.
    "awd-small-long": dataclasses.replace(AWD_SMALL, epochs=18, decay_after=15),
    # xLSTM[1:1] (models/xlstm.py) as wide as `small`, with its own recipe (training.recipe.XLSTM_RECIPE).
    "xlstm-small": Config(**XLSTM_RECIPE, layers=2, width=200, heads=4, block_pattern="xLSTM[1:1]", num_steps=20,
                          dropout=0.25, epochs=4),
    "xlstm-test": Config(**{**XLSTM_RECIPE, "warmup_steps": 5}, layers=2, width=8, heads=2, block_pattern="xLSTM[1:1]",
                         num_steps=5, epochs=1),
    # Every technique on a toy model, for the tests (averaging from the second epoch).
    "awd-test": Config(init_scale=0.0, learning_rate=30 / 5, max_grad_norm=0.25 * 5, layers=2, num_steps=5, units=8,
                       embedding_size=4, epochs=3, lr_decay=1.0, dropout=0.2, input_dropout=0.25, output_dropout=0.3,
                       tie_weights=True, locked_dropout=True, embedding_dropout=0.1, weight_dropout=0.3,
                       activation_penalty=2.0, temporal_activation_penalty=1.0, weight_decay=1.2e-6, average_after=1),
}

# What `--without` switches off, for the ablation of the awd presets: the model's techniques and NT-ASGD.
PTB_TECHNIQUES = {**TECHNIQUES, **AVERAGING}


def add_arguments(parser):
    parser.add_argument("--lr-schedule", choices=["step", "book"], help="learning-rate decay (default step)")
    parser.add_argument("--corpus", metavar="DIR", help="train on your own corpus: a folder with train.txt, valid.txt "
                                                        "and test.txt (default: Penn Treebank)")
    parser.add_argument("--vocab-size", type=int, help="keep the N most frequent training words; the rest become "
                                                       "<unk> (default: every word)")
    add_without_argument(parser, PTB_TECHNIQUES)
    add_language_model_arguments(parser)


def read_data(config, data_dir=None, corpus=None):
    """PTB or a corpus folder, as `LanguageModelData` (with the <unk> counts per split), checked to be long enough."""
    train_ids, valid, test, vocabulary, unknown = load_corpus(corpus or ptb_folder(data_dir), config.vocab_size or None)
    data = LanguageModelData(train_ids, valid, test, vocabulary, source=corpus or "PTB", unit="word", unknown=unknown)
    check_lengths(config, data, "streams", advice="Lower --batch-size or --num-steps, or give the split more text.",
                  eval_advice="Give the split more text.")
    return data


@friendly_main
def main(argv=None):
    startup.start_devices(TWO_OPS_AT_ONCE)
    args = parse_script_args(__doc__.split("\n\n")[0], PRESETS, "small", argv, add_arguments)
    if args.vocab_size is not None and args.vocab_size < 2:
        raise UserError(f"--vocab-size must be at least 2 (a word and <unk>); got {args.vocab_size}.")
    run = open_run(args, "train_ptb.py", PRESETS, data={"corpus": args.corpus and os.path.abspath(args.corpus)},
                   lr_schedule=args.lr_schedule, vocab_size=args.vocab_size, batch_size=args.batch_size,
                   num_steps=args.num_steps, batch_layout=args.batch_layout, **switched_off(args.without, PTB_TECHNIQUES))
    corpus = run.settings["data"].get("corpus")
    if corpus:
        check_own_files(run)
    data = read_data(run.config, args.data_dir, corpus)
    if corpus:
        record_own_files(run, [split_file(corpus, split) for split in SPLITS])
    if any(data.unknown.values()):
        print("Words outside the vocabulary, read as <unk>: "
              + ", ".join(f"{count:,} in {split}" for split, count in data.unknown.items()))
    # The tutorial's valid pass: batch_size streams, state carried; the test pass: batch 1, state carried.
    results = train(run, data, args.distribute, valid_layout="streams")
    print(f"Test perplexity {results['test_perplexity']:.2f} (whole test stream, batch 1, state carried) with the "
          f"model of epoch {results['best_epoch']}. Run folder: {run.shown}")
    return results


if __name__ == "__main__":
    main()
