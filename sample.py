"""Generate text from (or score text with) a saved language model of this project.

    python sample.py runs/char-small --prime "ROMEO:" --length 1000 --temperature 0.8
    python sample.py runs/ptb-small --prime "the company said" --length 50
    python sample.py runs/char-small --evaluate some.txt

It loads the run folder's model.keras and vocab.json in a fresh process,
reads the prime one token at a time and then generates, carrying the LSTM
state from token to token (nothing is re-read).
"""

import argparse
import math
import sys
import time

from training.errors import UserError, friendly_main


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="run folder of train_char_rnn.py or train_ptb.py")
    parser.add_argument("--prime", default=None, help="text to start from (default: a newline, or 'the' for words)")
    parser.add_argument("--length", type=int, default=500, help="tokens to generate (default 500)")
    parser.add_argument("--temperature", type=float, default=1.0, help="divides the logits; < 1 is more conservative")
    parser.add_argument("--top-k", type=int, default=0, help="sample only among the k likeliest tokens (0: all)")
    parser.add_argument("--greedy", action="store_true", help="always take the likeliest token")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--evaluate", metavar="FILE", help="score FILE instead: nats per token and perplexity")
    args = parser.parse_args(argv)
    if args.temperature <= 0:
        raise UserError(f"--temperature must be greater than 0; got {args.temperature}. Use --greedy for the likeliest token.")
    if args.length < 1:
        raise UserError(f"--length must be at least 1; got {args.length}.")
    if args.top_k < 0:
        raise UserError(f"--top-k must be 0 (off) or positive; got {args.top_k}.")
    return args


def evaluate_file(model, vocab, path, window=100):
    from training.inference import restack
    from training.language_model import compile_evaluator, evaluate_perplexity, whole_stream_rows

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as error:
        raise UserError(f"cannot read --evaluate file {path}: {error.strerror}.") from None
    ids = vocab.encode(text, what=f"file {path}")
    if len(ids) < 2:
        raise UserError(f"{path} has fewer than two tokens; there is nothing to predict.")
    evaluator = compile_evaluator(restack(model, batch_size=1, num_steps=window))
    x, y, w = whole_stream_rows(ids, window)
    ppl = evaluate_perplexity(evaluator, x, y, 1, sample_weight=w)
    nats = math.log(ppl)
    unit = "char" if vocab.kind == "chars" else "word"
    print(f"{path}: {len(ids) - 1:,} predictions, {nats:.4f} nats/{unit}, {nats / math.log(2):.4f} bits/{unit}, "
          f"perplexity {ppl:.3f}")
    return nats


@friendly_main
def main(argv=None):
    args = parse_args(argv)
    from training.inference import Sampler, load_run

    model, vocab = load_run(args.run_dir)
    if args.evaluate:
        return evaluate_file(model, vocab, args.evaluate)
    prime = args.prime if args.prime is not None else ("\n" if vocab.kind == "chars" else "the")
    prime_ids = vocab.encode(prime, what="prime")
    if len(prime_ids) == 0:
        raise UserError("the prime is empty; give at least one token with --prime.")
    sampler = Sampler(model)
    start = time.perf_counter()
    ids = sampler.generate(prime_ids, args.length, args.temperature, args.top_k, args.greedy, args.seed)
    seconds = time.perf_counter() - start
    separator = "" if vocab.kind == "chars" else " "
    sys.stdout.write(vocab.decode(prime_ids) + separator + vocab.decode(ids) + "\n")
    print(f"[{args.length} tokens in {seconds:.2f} s after loading]", file=sys.stderr)
    return ids


if __name__ == "__main__":
    main()
