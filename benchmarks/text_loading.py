"""How fast, and in how much memory, a large text of the user's loads and encodes.

    python -m benchmarks.text_loading               # a 100 MB text: train_char_rnn.py --text, train_ptb.py --corpus
    python -m benchmarks.text_loading --mb 20

It writes a text of the given size (Tiny Shakespeare repeated, with a line of
non-ASCII characters every 1,000 lines) into a temporary folder, then in a
fresh process per path measures the wall time of loading and encoding it
(`datasets.load_text` for characters, `datasets.load_corpus` for words, the
text as train.txt with small valid/test files) and the peak resident memory
above what the process held before (`ru_maxrss`).
"""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from experiments import command_line, parse
from training.errors import UserError, friendly_main

MEASURE = """
import json, resource, sys, time
from datasets import load_corpus, load_text
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if {path!r}.endswith(".txt"):
    train, valid, test, vocabulary = load_text({path!r})
else:
    train, valid, test, vocabulary, unknown = load_corpus({path!r})
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({{"seconds": seconds, "peak_kib": peak, "tokens": len(train) + len(valid) + len(test),
                  "vocabulary": len(vocabulary)}}))
"""


def write_text(path, megabytes, data_dir):
    from datasets import load_shakespeare

    train, valid, test, _ = load_shakespeare(data_dir)
    lines = (train + valid + test).split("\n")
    block = "\n".join(line if i % 1000 else "Über Ästhetik — 日本語 ☃" for i, line in enumerate(lines)) + "\n"
    target = megabytes * 1_000_000
    with open(path, "w", encoding="utf-8") as f:
        written = 0
        while written < target:
            data = block.encode("utf-8")[: target - written]
            f.write(data.decode("utf-8", "ignore"))
            written += len(data)
    return os.path.getsize(path)


def measure(path):
    result = subprocess.run([sys.executable, "-c", MEASURE.format(path=path)], capture_output=True,
                            text=True, check=True, cwd=ROOT)
    return json.loads(result.stdout.strip().splitlines()[-1])


@friendly_main
def main(argv=None):
    parser = command_line(__doc__)
    parser.add_argument("--mb", type=int, default=100, help="size of the text in MB (default 100)")
    parser.add_argument("--data-dir", help="folder with tinyshakespeare/ (default: $LSTM_DATA_DIR, the cache)")
    args = parse(parser, argv)
    if args.mb < 1:
        raise UserError(f"--mb is the size of the text to load, at least 1 (MB); got {args.mb}.")
    with tempfile.TemporaryDirectory() as folder:
        text = os.path.join(folder, "input.txt")
        size = write_text(text, args.mb, args.data_dir)
        corpus = os.path.join(folder, "corpus")
        os.makedirs(corpus)
        os.replace(text, os.path.join(corpus, "train.txt"))
        for split in ("valid", "test"):
            with open(os.path.join(corpus, f"{split}.txt"), "w") as f:
                f.write("ROMEO: what say you?\n" * 1000)
        os.link(os.path.join(corpus, "train.txt"), text)
        print(f"text of {size / 1e6:.1f} MB")
        print("| path | tokens | vocabulary | seconds | peak memory above start | × file size |")
        print("|---|---|---|---|---|---|")
        for label, path in (("train_char_rnn.py --text (characters)", text), ("train_ptb.py --corpus (words)", corpus)):
            m = measure(path)
            print(f"| {label} | {m['tokens']:,} | {m['vocabulary']:,} | {m['seconds']:.1f} | "
                  f"{m['peak_kib'] / 1024:.0f} MiB | {m['peak_kib'] * 1024 / size:.2f} |", flush=True)


if __name__ == "__main__":
    main()
