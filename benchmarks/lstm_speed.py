"""Times one training step of the custom LSTM against keras.layers.LSTM.

A step is forward + backward + SGD update of a model that is just the LSTM
layer (or a Bidirectional pair) under a mean-squared-error loss, with the
same weights and the same compile settings on both sides. Both layers are
timed in alternating rounds in one process, so the ratio custom/builtin is
fair even on a shared, noisy machine; the absolute times are not.

    python -m benchmarks.lstm_speed                      # TensorFlow backend
    python -m benchmarks.lstm_speed --cases ptb-small mnist-bilstm --jit-compile false
    KERAS_BACKEND=jax python -m benchmarks.lstm_speed --loop fit --steps 50   # JAX on a GPU
"""

import os
import platform
import time

from training import startup  # first: the backend's environment, set before Keras loads

import numpy as np

import keras

from experiments import command_line, in_order_once, parse, whole_number
from models import LSTM
from training.optimizers import make_optimizer

# (name, batch, timesteps, input_dim, units, bidirectional)
CASES = [
    ("ptb-small", 20, 20, 200, 200, False),
    ("ptb-medium", 20, 35, 650, 650, False),
    ("ptb-large", 20, 35, 1500, 1500, False),
    ("mnist-bilstm", 128, 28, 28, 128, True),
]


def build(layer_class, batch, steps, input_dim, units, bidirectional, jit_compile):
    inputs = keras.Input(batch_size=batch, shape=(steps, input_dim))
    if bidirectional:
        outputs = keras.layers.Bidirectional(layer_class(units))(inputs)
    else:
        outputs = layer_class(units, return_sequences=True)(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=make_optimizer("sgd", 0.01), loss="mse", jit_compile=jit_compile)
    return model


def round_of_steps(model, x, y, batch_size, count, loop="train_on_batch"):
    """A function that runs `count` training steps of `model` on the batch (x, y) and waits for the device.

    loop "fit": one `model.fit` over the batch repeated `count` times (tiled once, here, outside
    the timed rounds), so the steps are dispatched one after another without waiting;
    "train_on_batch": one call per step, each waiting for its result.
    """
    if loop == "fit":
        xs = np.tile(x, (count,) + (1,) * (x.ndim - 1))
        ys = np.tile(y, (count,) + (1,) * (y.ndim - 1))
        return lambda: model.fit(xs, ys, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)

    def train_on_batch():
        for _ in range(count):
            loss = model.train_on_batch(x, y)
        float(loss)  # waits for the device

    return train_on_batch


def time_case(case, jit_compile, rounds, steps_per_round, loop="train_on_batch"):
    name, batch, steps, input_dim, units, bidirectional = case
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (batch, steps, input_dim)).astype("float32")
    custom = build(LSTM, batch, steps, input_dim, units, bidirectional, jit_compile)
    builtin = build(keras.layers.LSTM, batch, steps, input_dim, units, bidirectional, jit_compile)
    builtin.set_weights(custom.get_weights())
    y = rng.uniform(-1, 1, keras.ops.shape(custom(x))).astype("float32")
    run = {label: round_of_steps(model, x, y, batch, steps_per_round, loop)
           for label, model in (("custom", custom), ("builtin", builtin))}
    return alternating_rounds(run, rounds, steps_per_round)


def alternating_rounds(run, rounds, steps_per_round):
    """{label: median ms per step} of the round functions `run` ({label: f}), each run once to compile and warm
    up, then timed in `rounds` rounds that take turns, so that a noisy machine slows them alike."""
    for label in run:
        run[label]()
    times = {label: [] for label in run}
    for _ in range(rounds):
        for label in run:
            start = time.perf_counter()
            run[label]()
            times[label].append((time.perf_counter() - start) / steps_per_round)
    return {label: 1000 * float(np.median(t)) for label, t in times.items()}


def device_name():
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return str(jax.devices()[0].device_kind)
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return "GPU " + gpus[0].name
    return f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"


def main(argv=None):
    startup.start_devices()
    parser = command_line(__doc__)
    parser.add_argument("--cases", nargs="+", choices=[c[0] for c in CASES], default=[c[0] for c in CASES],
                        metavar="CASE", help=f"which cases, of {', '.join(c[0] for c in CASES)} (default all)")
    parser.add_argument("--jit-compile", nargs="+", choices=["true", "false"],
                        default=["true", "false"] if keras.backend.backend() == "tensorflow" else ["true"],
                        help="true, false or both (both sides always get the same; default: true false on "
                             "TensorFlow, true on JAX)")
    parser.add_argument("--rounds", type=whole_number(1), default=5,
                        help="alternating timing rounds per case (default 5)")
    parser.add_argument("--steps", type=whole_number(1), default=10, help="training steps per round (default 10)")
    parser.add_argument("--loop", choices=["train_on_batch", "fit"], default="train_on_batch",
                        help="train_on_batch (waits for each step; the CPU figures) or fit (one model.fit per round, "
                             "no wait between steps: use it on a GPU)")
    args = parse(parser, argv)
    names = in_order_once(args.cases)
    settings = [word == "true" for word in in_order_once(args.jit_compile)]

    print(f"backend {keras.backend.backend()}, keras {keras.version()}, device {device_name()}")
    header = "| case | batch | steps | input | units | jit_compile | custom ms | builtin ms | custom/builtin |"
    print(header)
    print("|" + "---|" * 9)
    for case in CASES:
        if case[0] not in names:
            continue
        for jit in settings:
            t = time_case(case, jit, args.rounds, args.steps, args.loop)
            name, batch, steps, input_dim, units, bidirectional = case
            label = name + (" (bidirectional)" if bidirectional else "")
            print(f"| {label} | {batch} | {steps} | {input_dim} | {units} | {jit} | "
                  f"{t['custom']:.1f} | {t['builtin']:.1f} | {t['custom'] / t['builtin']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
