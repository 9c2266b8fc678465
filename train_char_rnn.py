"""Character-level LSTM language model on Tiny Shakespeare (the char-rnn family).

karpathy/char-rnn and its TensorFlow ports (crazydonkey200/tensorflow-char-rnn,
sherjilozair/char-rnn-tensorflow) read Shakespeare one character at a time and
learn to write more of it. This script trains such a model on this project's
LSTM (or `--cell builtin`), keeps the model with the best validation loss,
writes samples after every epoch and reports the loss in nats and bits per
character and as perplexity, on the valid split every epoch and on the test
split at the end (the 90/5/5 split of tensorflow-datasets and
tensorflow-char-rnn).

    python train_char_rnn.py --preset small                     # 2-core CPU, ~9 minutes
    python train_char_rnn.py --preset medium                    # 2-core CPU, ~14 minutes, better
    python train_char_rnn.py --preset wide                      # 2-core CPU, ~19 minutes, best in float32
    python train_char_rnn.py --preset wider --precision mixed_bfloat16  # ~20 minutes of a CPU with AMX, best
    KERAS_BACKEND=jax python train_char_rnn.py --preset large   # GPU
    python train_char_rnn.py --preset gpt-baby                  # nanoGPT's baby GPT, a transformer (models/gpt.py)
    python train_char_rnn.py --text my_novel.txt                # your own text (any UTF-8 file, split 90/5/5)
    python train_char_rnn.py --source tfds                      # Tiny Shakespeare from tensorflow-datasets
    python train_char_rnn.py --variant no-forget-gate           # an LSTM variant; --cell gru: a GRU
    python sample.py runs/<run> --prime "ROMEO:" --length 1000 --temperature 0.8

Batches are contiguous streams through the text (TensorFlow's PTB layout):
the LSTM state is carried from one batch to the next, so the model sees
context far beyond its unrolled `num_steps`. `--batch-layout windows` trains
on windows cut at random places instead (each starts from a zero state, as in
many Keras char-rnn scripts), as many characters per epoch. Validation and
test read the whole split once, in order, with the state carried (batch 1).
On Tiny Shakespeare the kept model is then scored on nanoGPT's validation
text, in order and in nanoGPT's random windows (training/nanogpt.py).
Every preset's results, with commands, machines and dates: docs/results.md#char-rnn-on-tiny-shakespeare.
"""

import dataclasses
import os

from training import startup  # first: the backend's environment, set before Keras loads

from datasets import DataError, check_split, load_shakespeare, load_text
from datasets.tfds_source import load_shakespeare_tfds
from training.cli import add_language_model_arguments, add_source_arguments, open_run, parse_script_args
from training.cli import run_source, source_setting
from training.errors import UserError, friendly_main
from training.files import atomic_write
from training.inference import line_start, new_sampler
from training.nanogpt import add_to_results
from training.recipe import AVERAGING, XLSTM_RECIPE, LanguageModelConfig, LanguageModelData, check_lengths
from training.recipe import check_own_files, record_own_files, train
from training.regularization import TECHNIQUES, add_without_argument, switched_off

# TensorFlow gives each op half the cores and runs independent ops side by side: the small recurrent
# products gain more from that than from being split over both cores (docs/speed.md).
TWO_OPS_AT_ONCE = True


@dataclasses.dataclass(frozen=True)
class Config(LanguageModelConfig):  # with AWD-LSTM's regularization, off unless a preset says
    layers: int = 2              # stacked LSTMs
    units: int = 128             # LSTM units
    embedding_size: int = 0      # 0: one-hot characters (tensorflow-char-rnn's default)
    num_steps: int = 10          # unrolled steps per batch (truncated BPTT)
    batch_size: int = 20         # parallel streams through the text
    optimizer: str = "adam"      # Adam
    learning_rate: float = 2e-3  # Adam's
    lr_decay: float = 1.0        # learning-rate factor per epoch after decay_after
    decay_after: int = 0         # epochs at the full learning rate
    max_grad_norm: float = 5.0   # clip the gradients' global norm
    dropout: float = 0.0         # on the input of every LSTM and on the last LSTM's output
    epochs: int = 50             # epochs in all (an epoch reads the training text once)
    eval_num_steps: int = 100    # window of the valid/test passes (state carried: only speed depends on it)
    sample_length: int = 300     # characters of the sample written after every epoch
    nanogpt_batches: int = 20    # Tiny Shakespeare: batches of 64 windows of nanoGPT's estimate at the end (0: none;
                                 # 20 as nanoGPT's CPU command, 200 as its GPU default)
    split: tuple = (0.9, 0.05, 0.05)  # train/valid/test fractions of a --text file (Tiny Shakespeare: tfds' split)


# nanoGPT's recipe for its transformers: random windows (no state to carry), AdamW (β₂ 0.99, weight decay 0.1,
# clip 1), warm-up over 100 steps then a cosine from 1e-3 to 1e-4, validated every 250 steps (an epoch here).
NANOGPT = {"architecture": "gpt", "batch_layout": "windows", "steps_per_epoch": 250, "lr_schedule": "warmup-cosine",
           "learning_rate": 1e-3, "min_learning_rate": 1e-4, "warmup_steps": 100, "beta_2": 0.99,
           "weight_decay": 0.1, "max_grad_norm": 1.0}

PRESETS = {  # results: docs/results.md#char-rnn-on-tiny-shakespeare
    # crazydonkey200/tensorflow-char-rnn's defaults: 2×128, 10 steps, batch 20, Adam 2e-3, clip 5, no dropout.
    # A first result in under two minutes of the 2-core CPU: `small`'s model for one epoch, no averaging.
    "quick": Config(units=256, embedding_size=64, num_steps=50, batch_size=32, epochs=1, nanogpt_batches=0),
    "classic": Config(),
    # 2 × 256 for the 2-core CPU in about 9 minutes: Adam's iterates averaged over the last ~300 steps from
    # epoch 2 on (`--without averaging`: the same without).
    "small": Config(units=256, embedding_size=64, num_steps=50, batch_size=32, dropout=0.1, epochs=13,
                    lr_decay=0.85, decay_after=6, average_after=1, average_window=300),
    # `small` 1.5 × wider with more dropout, for the 2-core CPU in under 20 minutes.
    "medium": Config(units=384, embedding_size=64, num_steps=50, batch_size=32, dropout=0.25, epochs=15,
                     lr_decay=0.85, decay_after=6, average_after=1, average_window=300),
    # `medium` wider still (2 × 448) with more dropout: the best of these within 20 minutes of the 2-core CPU.
    "wide": Config(units=448, embedding_size=64, num_steps=50, batch_size=32, dropout=0.3, epochs=14,
                   lr_decay=0.85, decay_after=6, average_after=1, average_window=300),
    # 2 × 640 with more dropout and AdamW's weight decay, `wide`'s schedule: ≤ 1.40 on nanoGPT's validation within
    # 20 minutes of a CPU with AMX under `--precision mixed_bfloat16` (float32 takes about 1.5 × as long).
    "wider": Config(units=640, embedding_size=64, num_steps=50, batch_size=32, dropout=0.35, weight_decay=0.1,
                    epochs=12, lr_decay=0.85, decay_after=4, average_after=1, average_window=300),
    # `small` with AWD-LSTM's locked dropout and weight drop (behind `small` in these 20 minutes).
    "awd-small": Config(units=256, embedding_size=64, num_steps=50, batch_size=32, dropout=0.2, input_dropout=0.1,
                        output_dropout=0.2, locked_dropout=True, weight_dropout=0.2, epochs=13, lr_decay=0.85,
                        decay_after=6),
    # For a GPU; behind `small` as it stands (too few updates for its size): needs retuning.
    "large": Config(layers=3, units=700, embedding_size=128, num_steps=100, batch_size=64, dropout=0.35,
                    epochs=40, lr_decay=0.9, decay_after=10, nanogpt_batches=200),
    # nanoGPT's CPU "baby GPT", a decoder-only transformer (models/gpt.py): 4 layers × 128, 4 heads, block 64,
    # batch 12, 2,000 iterations (8 epochs of 250); validation on 20 batches, as its command.
    "gpt-baby": Config(**NANOGPT, layers=4, width=128, heads=4, block_size=64, batch_size=12, epochs=8,
                       cosine_steps=2000, valid_batches=20),
    # `gpt-baby` with its cosine stretched over 16,000 iterations (64 epochs of 250): the baby GPT given about
    # 20 minutes of the 2-core CPU, as the LSTM presets are, instead of its 3.
    "gpt-baby-long": Config(**NANOGPT, layers=4, width=128, heads=4, block_size=64, batch_size=12, epochs=64,
                            cosine_steps=16000, valid_batches=20),
    # nanoGPT's shakespeare_char for a GPU: 6 layers × 384, 6 heads, block 256, batch 64, 5,000 iterations
    # (20 epochs of 250), dropout 0.2; validation on 200 batches, as nanoGPT.
    "gpt-small": Config(**NANOGPT, layers=6, width=384, heads=6, block_size=256, batch_size=64, epochs=20,
                        cosine_steps=5000, dropout=0.2, valid_batches=200, nanogpt_batches=200),
    # xLSTM[1:1] (models/xlstm.py): an mLSTM block and an sLSTM block, 192 wide, 4 heads, for the 2-core CPU in
    # 10–20 minutes.
    "xlstm-small": Config(**XLSTM_RECIPE, layers=2, width=192, heads=4, block_pattern="xLSTM[1:1]", num_steps=50,
                          batch_size=32, dropout=0.1, epochs=4),
    # `xlstm-small` wider (2 × 256) with more dropout, for 20 minutes of the 2-core CPU.
    "xlstm-medium": Config(**XLSTM_RECIPE, layers=2, width=256, heads=4, block_pattern="xLSTM[1:1]", num_steps=50,
                           batch_size=32, dropout=0.2, epochs=5),
    # The same for a GPU: 4 blocks × 256 (mLSTM, sLSTM, mLSTM, sLSTM), 100 steps, batch 64.
    "xlstm-large": Config(**XLSTM_RECIPE, layers=4, width=256, heads=4, block_pattern="xLSTM[1:1]", num_steps=100,
                          batch_size=64, dropout=0.2, epochs=20, nanogpt_batches=200),
    # A few seconds, for tests.
    "test": Config(units=32, embedding_size=16, num_steps=20, batch_size=16, epochs=1, eval_num_steps=50,
                   sample_length=50, learning_rate=1e-2, nanogpt_batches=2),
    "xlstm-test": Config(**{**XLSTM_RECIPE, "warmup_steps": 10, "learning_rate": 1e-2, "min_learning_rate": 1e-3},
                         layers=2, width=32, heads=2, block_pattern="xLSTM[1:1]", num_steps=20, batch_size=16,
                         epochs=2, steps_per_epoch=40, cosine_steps=80, eval_num_steps=50, sample_length=50,
                         nanogpt_batches=2),
    "gpt-test": Config(**{**NANOGPT, "learning_rate": 5e-3, "min_learning_rate": 5e-4, "steps_per_epoch": 150,
                          "warmup_steps": 10}, layers=2, width=48, heads=4, block_size=32, batch_size=16, epochs=2,
                       cosine_steps=300, valid_batches=4, sample_length=50, nanogpt_batches=2),
}

# What `--without` switches off: the model's techniques and the averaging of Adam's iterates.
CHAR_TECHNIQUES = {**TECHNIQUES, **AVERAGING}
SAMPLE_TEMPERATURE = 0.8  # of the sample written after every epoch


def append_sample(run, epoch, text, temperature):
    """Adds the epoch's sample to samples.txt (replacing the block of this epoch a crash may have left)."""
    path, header = run.file("samples.txt"), f"=== epoch {epoch + 1} "
    samples = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    if header in samples:
        samples = samples[: samples.index(header)]
    atomic_write(path, samples + f"{header}(temperature {temperature}) ===\n{text}\n\n")


def sample_every_epoch(run, data):
    """The epoch hook of `training.recipe.train`: a sample of the epoch's model, appended to samples.txt."""
    sampler = new_sampler(run.build_model, run.settings["model"])
    vocabulary = data.vocabulary

    def write_sample(epoch, weights):
        sampler.model.set_weights(weights)
        sample = sampler.generate(line_start(vocabulary), run.config.sample_length, temperature=SAMPLE_TEMPERATURE,
                                  seed=run.seed + epoch)
        append_sample(run, epoch, vocabulary.decode(sample), SAMPLE_TEMPERATURE)

    return write_sample


def add_arguments(parser):
    parser.add_argument("--text", metavar="FILE", help="train on your own text: any UTF-8 file (default: Tiny "
                                                       "Shakespeare)")
    parser.add_argument("--split", nargs=3, type=float, metavar=("TRAIN", "VALID", "TEST"),
                        help="fractions of --text for each split (default 0.9 0.05 0.05)")
    parser.add_argument("--nanogpt-batches", type=int, help="batches of 64 windows of nanoGPT's validation estimate "
                                                            "at the end of a Tiny Shakespeare run (0: none; default: "
                                                            "the preset's)")
    add_source_arguments(parser)
    add_without_argument(parser, CHAR_TECHNIQUES)
    add_language_model_arguments(parser)


def read_data(config, data_dir=None, text=None, source="files", tfds_dir=None):
    """Tiny Shakespeare (from the files or tensorflow-datasets) or a text file, as `LanguageModelData`, checked."""
    if text:
        train_ids, valid, test, vocabulary = load_text(text, config.split)
    else:
        *splits, vocabulary = (load_shakespeare_tfds(tfds_dir, data_dir) if source == "tfds"
                               else load_shakespeare(data_dir))
        train_ids, valid, test = (vocabulary.encode(split) for split in splits)
    if len(vocabulary) < 2:
        raise DataError(f"the text file {text} holds one distinct character ({vocabulary.tokens[0]!r}) over and over: "
                        f"there is nothing to predict. Give a text with at least two different characters.")
    name = text or ("Tiny Shakespeare (tensorflow-datasets)" if source == "tfds" else "Tiny Shakespeare")
    data = LanguageModelData(train_ids, valid, test, vocabulary, source=name, unit="char")
    valid_layout = "whole" if config.spec_class.carries_state else "windows"  # no state: nanoGPT's estimate
    check_lengths(config, data, valid_layout, advice="Lower --batch-size or --num-steps, or give the file more text "
                                                     "(or more of it to training with --split).",
                  eval_advice="Give it a larger share with --split.")
    return data


@friendly_main
def main(argv=None, callbacks=()):
    """The command line `argv`; `callbacks`: Keras callbacks of every epoch's fit (experiments/lstm_vs_transformer.py)."""
    startup.start_devices(TWO_OPS_AT_ONCE)
    args = parse_script_args(__doc__.split("\n\n")[0], PRESETS, "small", argv, add_arguments)
    if args.nanogpt_batches is not None and args.nanogpt_batches < 0:
        raise UserError(f"--nanogpt-batches is a number of batches, 0 for none; got {args.nanogpt_batches}.")
    if args.split is not None and not args.text:
        raise UserError("--split cuts a --text file; Tiny Shakespeare keeps the split of tensorflow-datasets.")
    data = {"text": args.text and os.path.abspath(args.text), "source": source_setting(args, args.text)}
    run = open_run(args, "train_char_rnn.py", PRESETS, data=data,
                   batch_layout=args.batch_layout, split=args.split and check_split(args.split),
                   batch_size=args.batch_size, num_steps=args.num_steps, nanogpt_batches=args.nanogpt_batches,
                   **switched_off(args.without, CHAR_TECHNIQUES))
    text = run.settings["data"].get("text")
    if text:
        check_own_files(run)
    data = read_data(run.config, args.data_dir, text, run_source(run, args), args.tfds_dir)
    if text:
        record_own_files(run, [text])
    # valid and test: the whole split once, in order, state carried (batch 1)
    results = train(run, data, args.distribute, valid_layout="whole", epoch_hook=sample_every_epoch,
                    title=f"char-rnn {run.preset}, {run.model_title}",
                    callbacks=callbacks)
    print(f"Best epoch {results['best_epoch']}: valid {results['valid_nats']:.4f} nats/char, test "
          f"{results['test_nats']:.4f} nats/char ({results['test_bits']:.4f} bits/char, perplexity "
          f"{results['test_perplexity']:.3f}). Run folder: {run.shown}")
    if not text and run.config.nanogpt_batches:  # Tiny Shakespeare: nanoGPT's validation, both ways
        results = add_to_results(run, data, results, run.config.nanogpt_batches)
    return results


if __name__ == "__main__":
    main()
