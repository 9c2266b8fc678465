"""Times one training step of every LSTM variant and of the GRU against the vanilla LSTM.

The same step as benchmarks/lstm_speed.py (forward + backward + SGD update of
a model that is just the layer, mean-squared-error loss), for this project's
LSTM in every variant of `models.VARIANTS`, its GRU and keras.layers.GRU, timed
in alternating rounds in one process, so each ratio to the vanilla LSTM is fair
on a shared, noisy machine (the absolute times are not). The vanilla LSTM runs
on the hand-written backward pass; the variants and the GRU on automatic
differentiation of the same unrolled loop.

    python -m benchmarks.variant_speed                       # ptb-small and the MNIST BiLSTM, TensorFlow
    python -m benchmarks.variant_speed --cases ptb-small --rounds 3
    python -m benchmarks.variant_speed --cases mnist-bilstm --layers coupled gru
"""

import functools

from training import startup  # first: the backend's environment, set before Keras loads

import numpy as np

import keras

from benchmarks.lstm_speed import CASES, alternating_rounds, build, device_name, round_of_steps
from experiments import command_line, in_order_once, parse, whole_number
from models import GRU, LSTM, VARIANTS

# What is timed: the LSTM in each variant, this project's GRU, keras.layers.GRU.
LAYERS = {**{variant: functools.partial(LSTM, variant=variant) for variant in VARIANTS}, "gru": GRU,
          "builtin-gru": keras.layers.GRU}


def time_layers(case, names, rounds, steps_per_round, jit_compile=True):
    """{name: median ms per training step} of the layers `names` on `case`, in alternating rounds."""
    _, batch, steps, input_dim, units, bidirectional = case
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (batch, steps, input_dim)).astype("float32")
    run, y = {}, None
    for name in names:
        model = build(LAYERS[name], batch, steps, input_dim, units, bidirectional, jit_compile)
        y = rng.uniform(-1, 1, keras.ops.shape(model(x))).astype("float32") if y is None else y
        run[name] = round_of_steps(model, x, y, batch, steps_per_round)
    return alternating_rounds(run, rounds, steps_per_round)


def main(argv=None):
    startup.start_devices()
    parser = command_line(__doc__)
    cases = {case[0]: case for case in CASES}
    parser.add_argument("--cases", nargs="+", choices=cases, default=["ptb-small", "mnist-bilstm"], metavar="CASE",
                        help=f"cases of lstm_speed.py, of {', '.join(cases)} (default ptb-small mnist-bilstm)")
    parser.add_argument("--layers", nargs="+", choices=LAYERS, default=list(LAYERS), metavar="LAYER",
                        help=f"which layers, of {', '.join(LAYERS)} (default all; vanilla always)")
    parser.add_argument("--rounds", type=whole_number(1), default=5,
                        help="alternating timing rounds per case (default 5)")
    parser.add_argument("--steps", type=whole_number(1), default=10, help="training steps per round (default 10)")
    args = parse(parser, argv)
    names, layers = in_order_once(args.cases), list(in_order_once(args.layers))
    if "vanilla" not in layers:
        layers.insert(0, "vanilla")  # the yardstick
    print(f"backend {keras.backend.backend()}, keras {keras.version()}, device {device_name()}")
    print("| case | layer | ms per step | / vanilla |\n|---|---|---|---|")
    found = {}
    for name in names:
        found[name] = time_layers(cases[name], layers, args.rounds, args.steps)
        for layer, ms in found[name].items():
            print(f"| {name} | {layer} | {ms:.1f} | {ms / found[name]['vanilla']:.2f} |", flush=True)
    return found


if __name__ == "__main__":
    main()
