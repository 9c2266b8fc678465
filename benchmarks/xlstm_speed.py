"""One training step of our LSTM against an all-sLSTM and an all-mLSTM xLSTM of the same number of parameters.

    python -m benchmarks.xlstm_speed                              # char-rnn shapes, 5 rounds of 5 steps
    python -m benchmarks.xlstm_speed --cases char ptb --rounds 7
    KERAS_BACKEND=jax python -m benchmarks.xlstm_speed --models lstm mlstm

The LSTM is the scripts' (`train_char_rnn.py --preset small`: 2 × 256, a
64-wide embedding, on 32 × 50 characters of a 65-symbol vocabulary; "ptb":
2 × 200, a 200-wide embedding, on 20 × 35 words of 10,000). Each xLSTM has
`--layers` blocks (`XLSTMSpec`, xLSTM[0:1] all sLSTM, xLSTM[1:0] all mLSTM in
the parallel form) of the width, a multiple of `--heads`, whose trainable
parameters come nearest the LSTM model's; the table prints both counts. A step
is Adam (clipnorm 5) on the summed sparse cross-entropy, stateful, one
`train_on_batch`; the models take turns in alternating rounds in one process,
so the ratios to the LSTM are fair on a shared machine, the absolute times not.
"""

from training import startup  # first: the backend's environment, set before Keras loads

import numpy as np

import keras

from benchmarks.lstm_speed import alternating_rounds, device_name, round_of_steps
from experiments import command_line, in_order_once, parse, whole_number
from models import LanguageModelSpec, XLSTMSpec
from models.language_model import trainable_count
from training.optimizers import make_optimizer

# name: (batch, steps, vocabulary, LSTM embedding, LSTM units, LSTM layers)
CASES = {"char": (32, 50, 65, 64, 256, 2), "ptb": (20, 35, 10_000, 200, 200, 2)}
MODELS = {"lstm": None, "slstm": "xLSTM[0:1]", "mlstm": "xLSTM[1:0]"}


def lstm_spec(case, units=None):
    batch, steps, vocab, embedding, default_units, layers = CASES[case]
    return LanguageModelSpec(vocab_size=vocab, units=units or default_units, layers=layers, embedding_size=embedding)


def xlstm_spec(vocab, pattern, width, layers, heads):
    return XLSTMSpec(vocab_size=vocab, layers=layers, width=width, heads=heads, block_pattern=pattern)


def parameters(spec):
    return trainable_count(spec.build())


def matching_width(target, vocab, pattern, layers, heads, largest=2048):
    """The width (a multiple of `heads`) whose xLSTM's trainable parameters come nearest `target`, by bisection
    (the count grows with the width). Returns (width, parameters)."""
    low, high = 1, largest // heads
    counts = {}

    def count(k):
        if k not in counts:
            counts[k] = parameters(xlstm_spec(vocab, pattern, heads * k, layers, heads))
        return counts[k]

    while high - low > 1:
        middle = (low + high) // 2
        if count(middle) < target:
            low = middle
        else:
            high = middle
    best = min((low, high), key=lambda k: abs(count(k) - target))
    return heads * best, count(best)


def compiled(spec, batch, steps):
    model = spec.build(batch_size=batch, num_steps=steps, stateful=True)
    model.compile(optimizer=make_optimizer("adam", 2e-3, clipnorm=5.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def time_case(case, models, rounds, steps_per_round, layers, heads, units=None):
    """{model: (width, parameters, ms per step)} of one case, the models timed in alternating rounds."""
    batch, steps, vocab = CASES[case][:3]
    lstm = lstm_spec(case, units)
    target = parameters(lstm)
    specs, rows = {}, {}
    for name in models:
        if MODELS[name] is None:
            specs[name], rows[name] = lstm, (lstm.units, target)
        else:
            width, count = matching_width(target, vocab, MODELS[name], layers, heads)
            specs[name], rows[name] = xlstm_spec(vocab, MODELS[name], width, layers, heads), (width, count)
    rng = np.random.default_rng(0)
    x = rng.integers(0, vocab, (batch, steps)).astype("int32")
    y = rng.integers(0, vocab, (batch, steps)).astype("int32")
    run = {name: round_of_steps(compiled(spec, batch, steps), x, y, batch, steps_per_round)
           for name, spec in specs.items()}
    times = alternating_rounds(run, rounds, steps_per_round)
    return {name: (*rows[name], times[name]) for name in models}


def main(argv=None):
    startup.start_devices()
    parser = command_line(__doc__)
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=["char"], metavar="CASE",
                        help=f"which shapes, of {', '.join(CASES)} (default char)")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS), metavar="MODEL",
                        help=f"which models, of {', '.join(MODELS)} (default all)")
    parser.add_argument("--rounds", type=whole_number(1), default=5, help="alternating timing rounds (default 5)")
    parser.add_argument("--steps", type=whole_number(1), default=5, help="training steps per round (default 5)")
    parser.add_argument("--layers", type=whole_number(1), default=4, help="xLSTM blocks (default 4)")
    parser.add_argument("--heads", type=whole_number(1), default=4, help="heads of every xLSTM block (default 4)")
    parser.add_argument("--units", type=whole_number(1), default=None,
                        help="the LSTM's units instead of the case's (smaller: a quick run; the xLSTMs follow)")
    args = parse(parser, argv)
    models = in_order_once(args.models)

    print(f"backend {keras.backend.backend()}, keras {keras.version()}, device {device_name()}")
    print("| case | model | width | parameters | ms/step | tokens/s | ×LSTM |")
    print("|" + "---|" * 7)
    found = {}
    for case in in_order_once(args.cases):
        batch, steps = CASES[case][:2]
        found[case] = time_case(case, models, args.rounds, args.steps, args.layers, args.heads, args.units)
        lstm_ms = found[case]["lstm"][2] if "lstm" in found[case] else None
        for name, (width, count, ms) in found[case].items():
            label = "LSTM" if name == "lstm" else f"{MODELS[name]} ×{args.layers}"
            ratio = f"{ms / lstm_ms:.2f}" if lstm_ms else "–"
            print(f"| {case} {batch}×{steps} | {label} | {width} | {count:,} | {ms:.1f} | "
                  f"{batch * steps / ms * 1000:,.0f} | {ratio} |", flush=True)
    return found


if __name__ == "__main__":
    main()
