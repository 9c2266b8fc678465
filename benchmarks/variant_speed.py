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
"""

import argparse
import functools

from training import startup  # first: the backend's environment, set before Keras loads

import numpy as np

import keras

from benchmarks.lstm_speed import CASES, alternating_rounds, build, device_name, round_of_steps
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--cases", default="ptb-small,mnist-bilstm", help="comma-separated cases of lstm_speed.py")
    parser.add_argument("--layers", default=",".join(LAYERS), help=f"comma-separated, of {', '.join(LAYERS)}")
    parser.add_argument("--rounds", type=int, default=5, help="alternating timing rounds per case (at least 1)")
    parser.add_argument("--steps", type=int, default=10, help="training steps per round (at least 1)")
    args = parser.parse_args(argv)
    cases = {case[0]: case for case in CASES}
    names, layers = args.cases.split(","), args.layers.split(",")
    unknown = [n for n in names if n not in cases] + [n for n in layers if n not in LAYERS]
    if unknown:
        parser.error(f"unknown case or layer {', '.join(unknown)}; cases: {', '.join(cases)}; layers: "
                     f"{', '.join(LAYERS)}")
    if args.rounds < 1 or args.steps < 1:
        parser.error("--rounds and --steps must be at least 1")
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
