"""Generate text from (or score text with) a saved language model of this project.

    python sample.py runs/char-small --prime "ROMEO:" --length 1000 --temperature 0.8
    python sample.py runs/ptb-small --prime "the company said" --length 50
    python sample.py runs/char-small --evaluate some.txt
    python sample.py runs/char-small --evaluate-nanogpt     # the loss on nanoGPT's validation, two ways

It loads the run folder's model.keras and vocab.json in a fresh process,
reads the prime one token at a time and then generates, carrying the LSTM
state from token to token (nothing is re-read); a transformer, which has no
state, reads its last block_size tokens again for every new one.
"""

import math
import sys
import time

from training import startup  # first: the backend's environment, set before Keras loads

from datasets import EOS, UNK, read_text
from models import spec_from_dict
from training import nanogpt
from training.cli import ArgumentParser, MAX_SEED, check_data_dir, check_seed
from training.errors import UserError, friendly_main
from training.inference import Sampler, line_start, load_run_model, load_vocabulary
from training.scoring import in_order_nats

MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 1e3  # beyond them the logits over- or underflow
MAX_LENGTH = 1_000_000  # tokens: about an hour of sampling on a 2-core CPU; more is a slip of the keyboard
PROGRESS_SECONDS = 10   # a progress line on stderr this often while the text goes to a file or a pipe


def parse_args(argv):
    parser = ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", help="run folder of train_char_rnn.py or train_ptb.py")
    parser.add_argument("--prime", default=None, help="text to start from (default: the start of a line)")
    parser.add_argument("--length", type=int, default=500, help="tokens to generate (default 500)")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help=f"divides the logits, {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}; < 1 is more conservative")
    parser.add_argument("--top-k", type=int, default=0, help="sample only among the k likeliest tokens (0: all)")
    parser.add_argument("--greedy", action="store_true", help="always take the likeliest token")
    parser.add_argument("--seed", type=int, default=0, help=f"random seed, 0 to {MAX_SEED} (default 0)")
    parser.add_argument("--evaluate", metavar="FILE", help="score FILE instead: nats per token and perplexity")
    parser.add_argument("--evaluate-nanogpt", action="store_true",
                        help="score a Tiny Shakespeare run on nanoGPT's validation (the last 10%% of input.txt): read "
                             "in order, and in nanoGPT's random windows")
    parser.add_argument("--nanogpt-batches", type=int, default=nanogpt.BATCHES,
                        help=f"batches of {nanogpt.BATCH_SIZE} windows of --evaluate-nanogpt (default "
                             f"{nanogpt.BATCHES}, nanoGPT's)")
    parser.add_argument("--data-dir", help="folder with tinyshakespeare/ for --evaluate-nanogpt (default: "
                                           "$LSTM_DATA_DIR, then the download cache)")
    args = parser.parse_args(argv)
    check_data_dir(args.data_dir)
    if not MIN_TEMPERATURE <= args.temperature <= MAX_TEMPERATURE:  # also refuses nan
        raise UserError(f"--temperature must lie between {MIN_TEMPERATURE:g} and {MAX_TEMPERATURE:g}; got "
                        f"{args.temperature}. Lower values pick likelier tokens; use --greedy for the likeliest one.")
    if not 1 <= args.length <= MAX_LENGTH:
        raise UserError(f"--length must lie between 1 and {MAX_LENGTH:,} tokens; got {args.length:,}. Sampling "
                        f"takes about a millisecond or more per token, so {MAX_LENGTH:,} already take a good part of "
                        f"an hour; sample in pieces with different --seed values for more.")
    if args.top_k < 0:
        raise UserError(f"--top-k must be 0 (off) or positive; got {args.top_k}.")
    if args.nanogpt_batches < 1:
        raise UserError(f"--nanogpt-batches must be at least 1; got {args.nanogpt_batches}.")
    check_seed(args.seed)
    return args


def evaluate_file(run_dir, path, window=100):
    """Nats per token of the text in `path`, read once with the state carried (a transformer: in windows).

    Words outside the vocabulary count as <unk> where the vocabulary has it; other tokens the model never saw
    (characters, or words of a vocabulary without <unk>) are left out of the stream, and counted.
    """
    model, settings = load_run_model(run_dir, "language_model")
    vocab = load_vocabulary(run_dir, model)
    tokens = vocab.split(read_text(path, what="--evaluate file"))
    readable = vocab.kind == "words" and UNK in vocab.index
    unknown = [] if readable else vocab.unknown(tokens)
    skipped = 0
    if unknown:
        known = [t for t in tokens if t in vocab.index]
        skipped = len(tokens) - len(known)
        what = "characters" if vocab.kind == "chars" else "words (the vocabulary has no <unk> to read them as)"
        print(f"note: {skipped:,} {what} of {path} are not in the model's vocabulary and are left out: "
              f"{', '.join(repr(c) for c in unknown[:20])}{' …' if len(unknown) > 20 else ''}", file=sys.stderr)
        tokens = known
    ids = vocab.encode(tokens)
    if len(ids) < 2:
        raise UserError(f"{path} has fewer than two tokens the model knows; there is nothing to predict.")
    spec = spec_from_dict(settings["model"])
    how = "in order, the state carried" if spec.carries_state else "in windows of its block, one every half block"
    print(f"Scoring {len(ids):,} tokens of {path} ({how}) ...", file=sys.stderr, flush=True)
    nats = in_order_nats(spec.build, spec, model.get_weights(), ids, window, verbose=1 if sys.stderr.isatty() else 0)
    ppl = math.exp(nats)
    unit = "char" if vocab.kind == "chars" else "word"
    outside = sum(1 for t in tokens if t not in vocab.index)
    print(f"{path}: {len(ids) - 1:,} predictions, {nats:.4f} nats/{unit}, {nats / math.log(2):.4f} bits/{unit}, "
          f"perplexity {ppl:.3f}" + (f" ({outside:,} words outside the vocabulary read as <unk>)" if outside else "")
          + (f" ({skipped:,} unseen tokens left out)" if skipped else ""))
    return nats


def encode_prime(vocab, prime):
    tokens = vocab.split(prime, close_last_line=False)
    cased = vocab.read_cased(tokens)
    if cased != tokens:
        print("note: the vocabulary is lower-case (as PTB's is), so the prime is read in lower case.", file=sys.stderr)
        tokens = cased
    unknown = vocab.unknown(tokens)
    if unknown:
        hint = " The vocabulary is lower-case (as PTB's is)." if vocab.lower_case else ""
        raise UserError(f"the prime has {len(unknown)} {'characters' if vocab.kind == 'chars' else 'words'} that "
                        f"are not in the model's vocabulary: {', '.join(repr(u) for u in unknown[:20])}.{hint} "
                        f"Remove or replace them.")
    if not tokens:
        raise UserError("the prime is empty; give at least one token with --prime.")
    return vocab.encode(tokens)


def write_as_drawn(tokens, vocab, length):
    """Writes the text of `tokens` to stdout as they are drawn (as `vocab.decode` joins them), with a progress line
    on stderr every PROGRESS_SECONDS while stdout is not a terminal; returns the ids and prints the time taken."""
    ids, start, shown = [], time.perf_counter(), time.perf_counter()
    progress = not sys.stdout.isatty()
    for token in tokens:
        word = vocab.tokens[token]
        if vocab.kind == "chars":
            piece = word
        elif word == EOS:
            piece = "\n"
        else:
            piece = (" " if ids and vocab.tokens[ids[-1]] != EOS else "") + word
        ids.append(token)
        sys.stdout.write(piece)
        now = time.perf_counter()
        if piece.endswith("\n") or now - shown > 1:
            sys.stdout.flush()
        if progress and now - shown > PROGRESS_SECONDS:
            shown = now
            print(f"[{len(ids):,} of {length:,} tokens, ~{(now - start) / len(ids) * (length - len(ids)):.0f} s "
                  f"left]", file=sys.stderr, flush=True)
    sys.stdout.flush()
    print(f"[{len(ids)} tokens in {time.perf_counter() - start:.2f} s after loading]", file=sys.stderr)
    return ids


@friendly_main
def main(argv=None):
    startup.start_devices()
    args = parse_args(argv)
    if args.evaluate:
        return evaluate_file(args.run_dir, args.evaluate)
    if args.evaluate_nanogpt:
        return nanogpt.evaluate_run(args.run_dir, args.data_dir, args.nanogpt_batches)
    sampler, vocab = Sampler.from_run(args.run_dir)
    prime_ids = line_start(vocab) if args.prime is None else encode_prime(vocab, args.prime)
    separator = "" if vocab.kind == "chars" else " "
    sys.stdout.write(vocab.decode(prime_ids) + separator)
    sys.stdout.flush()
    ids = write_as_drawn(sampler.stream(prime_ids, args.length, args.temperature, args.top_k, args.greedy,
                                        args.seed), vocab, args.length)
    sys.stdout.write("\n")
    return ids


if __name__ == "__main__":
    main()
