"""Where the unrolled loop stops paying: the first and the later training steps at long --num-steps.

    python -m benchmarks.long_sequences                          # 2 × 128, batch 8, TensorFlow
    python -m benchmarks.long_sequences --num-steps 100 400 1600 --loops default builtin --timeout 300

For every length T and every loop, a fresh process builds a character model
(one-hot 65 → LSTMStack of 2 × 128 → softmax, batch 8 × T) and trains it on
random tokens: "unrolled" is this project's LSTM unrolled (`unroll=True`) with its
hand-written backward pass, "scan" the same layers with `unroll=False` (a `keras.ops.scan`,
automatic differentiation), "default" `unroll=None` (unrolled up to
`models.backward.MAX_UNROLLED_STEPS`, the scan loop beyond: what the scripts use), "builtin"
`keras.layers.LSTM`. It prints the seconds of the first step (tracing and
compiling included), the median of the next three, and the peak resident memory; a process that
has not finished within --timeout is reported as such.
"""

import json
import os
import subprocess
import sys

from experiments import command_line, in_order_once, parse, sorted_once, whole_number

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MEASURE = """
import json, resource, statistics, sys, time
from training import startup
startup.start_devices(two_ops_at_once=True)
keras = startup.keras
import numpy as np
from models import LSTM, LSTMStack
T, loop = {steps}, {loop!r}
tokens = keras.Input(batch_size=8, shape=(T,), dtype="int32")
x = keras.layers.Embedding(65, 65, embeddings_initializer="identity", trainable=False)(tokens)
if loop == "builtin":
    for _ in range(2):
        x = keras.layers.LSTM(128, return_sequences=True)(x)
else:
    unroll = {{"default": None, "unrolled": True, "scan": False}}[loop]
    x = LSTMStack([LSTM(128, return_sequences=True, unroll=unroll) for _ in range(2)])(x)
model = keras.Model(tokens, keras.layers.Dense(65)(x))
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
rng = np.random.default_rng(0)
data = rng.integers(0, 65, (8, T + 1)).astype("int32")
times = []
for _ in range(4):
    start = time.perf_counter()
    model.train_on_batch(data[:, :-1], data[:, 1:])
    times.append(time.perf_counter() - start)
print("RESULT", json.dumps({{"first": times[0], "step": statistics.median(times[1:]),
                            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

NUM_STEPS = (100, 200, 400, 800, 1600)
LOOPS = ("unrolled", "scan", "default", "builtin")


def measure(steps, loop, timeout):
    try:
        done = subprocess.run([sys.executable, "-c", MEASURE.format(steps=steps, loop=loop)],
                              capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return None
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise SystemExit(f"T={steps} {loop} failed:\n{done.stderr[-2000:]}")
    return json.loads(lines[0][len("RESULT "):])


def main(argv=None):
    parser = command_line(__doc__)
    parser.add_argument("--num-steps", nargs="+", type=whole_number(1), default=NUM_STEPS, metavar="T",
                        help=f"the lengths T, as the scripts' --num-steps; sorted, each once (default "
                             f"{' '.join(map(str, NUM_STEPS))})")
    parser.add_argument("--loops", nargs="+", choices=LOOPS, default=LOOPS, metavar="LOOP",
                        help=f"which loops, of {', '.join(LOOPS)} (default all)")
    parser.add_argument("--timeout", type=float, default=240, help="seconds a process may take (default 240)")
    args = parse(parser, argv)
    print("| T | loop | first step | later step | peak memory |")
    print("|---|---|---|---|---|")
    for steps in sorted_once(args.num_steps):
        for loop in in_order_once(args.loops):
            m = measure(steps, loop, args.timeout)
            if m is None:
                print(f"| {steps} | {loop} | not done in {args.timeout:.0f} s | | |", flush=True)
            else:
                print(f"| {steps} | {loop} | {m['first']:.1f} s | {m['step']:.3f} s | {m['peak_mib']:,.0f} MiB |",
                      flush=True)


if __name__ == "__main__":
    main()
