"""One whole training step of each script's real model: ours, keras.layers.LSTM, and the same model in PyTorch.

    python -m benchmarks.model_speed                          # all three models, 7 rounds of 10 steps
    python -m benchmarks.model_speed --models ptb-small char-small --rounds 5
    KERAS_BACKEND=jax python -m benchmarks.model_speed --loop fit --steps 50   # GPU
    KERAS_BACKEND=jax python -m benchmarks.model_speed --loop fit --steps 50 --precision mixed_bfloat16  # and bfloat16

Each framework runs in its own long-lived process (ours and the builtin on
the Keras backend of the environment, PyTorch eager with `nn.LSTM`), all
warmed up, then timed in alternating rounds, so that the noise of a shared
machine falls on all of them alike; the table gives the median ms per step,
the ratios, and the achieved GFLOP/s (the model's matrix products, forward
and backward, per second) beside this machine's own float32 matmul GFLOP/s (NumPy's and
the Keras backend's own, whose libraries differ).
`--precision mixed_bfloat16` (the scripts' option) adds our model under
Keras' mixed_bfloat16 policy as a fourth column, timed in the same rounds,
and its ratio to float32 (the other columns stay float32, the yardsticks).
PyTorch is optional: `pip install torch` for the benchmark only (without it
its column is left out).

The models are the scripts' own: `train_ptb.py --preset small` (20 × 20
words, 2 × 200, a 10,000-word softmax, SGD with clipping, stateful),
`train_char_rnn.py --preset small` (32 × 50 characters, a 64-wide embedding,
2 × 256, dropout 0.1, Adam with clipping, stateful) and
`train_mnist_bilstm.py` (128 images of 28 rows, 2 × BiLSTM(128), dropout
0.25, Adam); the PyTorch twins have the same shapes, loss, optimizer and clipping.
"""

import argparse
import json
import os
import subprocess
import sys
import time

from experiments import command_line, in_order_once, parse, whole_number

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("ptb-small", "char-small", "mnist-default")
FRAMEWORKS = ("custom", "builtin", "torch")
PRECISIONS = ("float32", "mixed_bfloat16")  # training.precision.PRECISIONS, which imports Keras (this process does not)
MIXED = "custom-mixed_bfloat16"  # ours under Keras' mixed_bfloat16 policy (--precision mixed_bfloat16)


def shapes(name):
    """(batch, steps, vocabulary or input width, embedding, units, layers, bidirectional) of a model."""
    return {"ptb-small": (20, 20, 10_000, 200, 200, 2, False),
            "char-small": (32, 50, 65, 64, 256, 2, False),
            "mnist-default": (128, 28, 28, 0, 128, 2, True)}[name]


def flops_per_step(name):
    """Multiply-adds ×2 of the matrix products of one step, forward and backward (≈ 3 × forward)."""
    batch, steps, vocab, embedding, units, layers, bidirectional = shapes(name)
    directions = 2 if bidirectional else 1
    forward, width = 0, embedding or vocab
    for _ in range(layers):
        forward += directions * 2 * batch * steps * (width + units) * 4 * units
        width = directions * units
    forward += 2 * batch * (steps if name != "mnist-default" else 1) * width * (vocab if name != "mnist-default" else 10)
    return 3 * forward


def keras_steps(name, cell, jit_compile, loop, count, precision="float32"):
    """A function that runs `count` training steps of the script's model with `cell`, on fixed random data."""
    import importlib  # late: this runs in a fresh worker process, set up as its script sets itself up

    import numpy as np

    from training import startup  # oneDNN on, TensorFlow's start-up lines hidden

    script = importlib.import_module({"ptb-small": "train_ptb", "char-small": "train_char_rnn",
                                      "mnist-default": "train_mnist_bilstm"}[name])
    startup.start_devices(script.TWO_OPS_AT_ONCE)  # the script's threads per op

    from models import build_model
    from training.optimizers import make_optimizer
    from training.precision import set_precision
    from training.recipe import compile_for_training, model_spec

    set_precision(precision)

    rng = np.random.default_rng(0)
    batch, steps, vocab, *_ = shapes(name)
    if name == "mnist-default":
        config = script.PRESETS["default"]
        model = build_model(script.model_spec(config, cell, 0))
        model.compile(optimizer=make_optimizer("adam", config.learning_rate), loss="sparse_categorical_crossentropy")
        x, y = rng.uniform(0, 1, (batch, 28, 28)).astype("float32"), rng.integers(0, 10, batch).astype("int32")
    else:
        config = script.PRESETS["small"]
        model = build_model(model_spec(config, vocab, cell, 0), batch_size=batch, num_steps=steps, stateful=True)
        compile_for_training(model, config)
        x, y = (rng.integers(0, vocab, (batch, steps)).astype("int32") for _ in range(2))
    if jit_compile != "auto":  # before the first step builds the train function
        model.jit_compile = jit_compile == "true"

    from benchmarks.lstm_speed import round_of_steps

    return round_of_steps(model, x, y, batch, count, loop)


def torch_steps(name, count):
    """The same model, loss, optimizer and clipping in PyTorch (nn.LSTM): a function that runs `count` training steps.

    On a GPU (cuDNN's LSTM) float32 matrix products may use TF32, as JAX's do by default.
    """
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count())
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    batch, steps, vocab, embedding, units, layers, bidirectional = shapes(name)

    class LanguageModel(nn.Module):
        def __init__(self, dropout):
            super().__init__()
            self.embedding = nn.Embedding(vocab, embedding)
            self.drop = nn.Dropout(dropout)
            self.lstm = nn.LSTM(embedding, units, layers, batch_first=True, dropout=dropout)
            self.logits = nn.Linear(units, vocab)
            self.state = None

        def forward(self, tokens):
            out, state = self.lstm(self.drop(self.embedding(tokens)), self.state)
            self.state = tuple(s.detach() for s in state)  # carried to the next batch, as the stateful Keras LSTM
            return self.logits(self.drop(out))

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(28, units, layers, batch_first=True, dropout=0.25, bidirectional=True)
            self.drop = nn.Dropout(0.25)
            self.logits = nn.Linear(2 * units, 10)

        def forward(self, images):
            out, _ = self.lstm(images)
            return self.logits(self.drop(torch.cat([out[:, -1, :units], out[:, 0, units:]], dim=-1)))

    if name == "mnist-default":
        model, clip = Classifier().to(device), None
        optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
        x, y = torch.rand(batch, steps, 28, device=device), torch.randint(0, 10, (batch,), device=device)
        loss_of = nn.CrossEntropyLoss()
    else:
        model = LanguageModel(0.0 if name == "ptb-small" else 0.1).to(device)
        clip = 5.0
        optimizer = (torch.optim.SGD(model.parameters(), lr=1.0) if name == "ptb-small"
                     else torch.optim.Adam(model.parameters(), lr=2e-3))
        x, y = (torch.randint(0, vocab, (batch, steps), device=device) for _ in range(2))

        def loss_of(logits, targets):  # summed over the steps, averaged over the batch (sequence_loss)
            return nn.functional.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1), reduction="sum") / batch
    model.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(model(x), y)
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        return loss

    def run():
        for _ in range(count):
            loss = step()
        loss.item()  # waits for the device

    return run


def matmul_gflops():
    """This machine's float32 matmul speed, GFLOP/s: the ceilings the table compares with.

    Returns:
        `[(GFLOP/s, what was timed), ...]`: with a CUDA GPU (PyTorch), 8192² on
        the GPU with TF32 allowed, as the models run; on a CPU, NumPy's 2048²
        and the Keras backend's own (`keras.ops.matmul`, all cores, in a worker
        process): the backend's library can be much faster than NumPy's BLAS
        (docs/speed.md), so both are printed and the higher one is the ceiling to read the table against.
    """
    import numpy as np

    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        a = torch.randn(8192, 8192, device="cuda")
        (a @ a).sum().item()
        start, count = time.perf_counter(), 20
        for _ in range(count):
            b = a @ a
        b.sum().item()
        seconds = time.perf_counter() - start
        return [(2 * 8192**3 * count / seconds / 1e9, f"{torch.cuda.get_device_name()}, 8192², TF32")]
    backend = subprocess.run([sys.executable, "-m", "benchmarks.model_speed", "--worker-matmul"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()[-1]
    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    return [(_timed_matmul(lambda: a @ a, np.asarray), "NumPy, 2048²"),
            (float(backend), f"{os.environ.get('KERAS_BACKEND', 'tensorflow')}'s keras.ops.matmul, 2048²")]


def _timed_matmul(product, to_numpy, count=5):
    """GFLOP/s of `count` calls of `product`, a 2048² float32 matrix by itself (after one untimed)."""
    to_numpy(product())
    start = time.perf_counter()
    for _ in range(count):
        b = product()
    to_numpy(b)  # JAX runs asynchronously: wait for the last product
    return 2 * 2048**3 * count / (time.perf_counter() - start) / 1e9


def backend_matmul_worker():
    """Prints the Keras backend's own 2048² float32 matmul GFLOP/s, with its default threads (all cores)."""
    import numpy as np

    from training import startup

    startup.start_devices()  # the backend's default threads (all cores)
    keras = startup.keras
    x = keras.ops.convert_to_tensor(np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32))
    print(_timed_matmul(lambda: keras.ops.matmul(x, x), keras.ops.convert_to_numpy), flush=True)


def worker(name, framework, jit_compile, loop, count):
    """Answers each line on stdin with the ms per step of `count` more steps."""
    if framework == "torch":
        steps = torch_steps(name, count)
    elif framework == MIXED:
        steps = keras_steps(name, "custom", jit_compile, loop, count, precision="mixed_bfloat16")
    else:
        steps = keras_steps(name, framework, jit_compile, loop, count)
    for _ in range(2):  # compile and warm up
        steps()
    print("ready", flush=True)
    for _ in sys.stdin:
        start = time.perf_counter()
        steps()
        print(1000 * (time.perf_counter() - start) / count, flush=True)


def main(argv=None):
    parser = command_line(__doc__)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=MODELS, metavar="MODEL",
                        help=f"which models, of {', '.join(MODELS)} (default all)")
    parser.add_argument("--rounds", type=whole_number(1), default=7, help="alternating rounds (default 7)")
    parser.add_argument("--steps", type=whole_number(1), default=10, help="training steps per round (default 10)")
    parser.add_argument("--jit-compile", choices=["auto", "true", "false"], default="auto",
                        help="the Keras models' jit_compile (default auto, as the scripts: XLA off on a CPU-only "
                             "TensorFlow, on under JAX)")
    parser.add_argument("--loop", choices=["train_on_batch", "fit"], default="train_on_batch",
                        help="how the Keras models take their steps: train_on_batch (waits for each step; the CPU "
                             "figures) or fit (one model.fit per round, no wait between steps: use it on a GPU)")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="float32 (default) or mixed_bfloat16: also time our model under Keras' mixed_bfloat16 "
                             "policy, in the same rounds, beside the float32 columns (for a GPU)")
    parser.add_argument("--worker", nargs=2, metavar=("MODEL", "FRAMEWORK"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-matmul", action="store_true", help=argparse.SUPPRESS)
    args = parse(parser, argv)
    if args.worker_matmul:
        return backend_matmul_worker()
    if args.worker:
        return worker(*args.worker, args.jit_compile, args.loop, args.steps)
    names = in_order_once(args.models)
    import importlib.util

    frameworks = [f for f in FRAMEWORKS if f != "torch" or importlib.util.find_spec("torch")]
    frameworks += [MIXED] if args.precision == "mixed_bfloat16" else []
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    ceilings = "; ".join(f"{timed} {gflops:.1f}" for gflops, timed in matmul_gflops())
    print(f"Keras backend {backend}, jit_compile {args.jit_compile}, loop {args.loop}; {os.cpu_count()} cores; "
          f"float32 matmul GFLOP/s: {ceilings}")
    print("| model | " + " | ".join(f"{f} ms (GFLOP/s)" for f in frameworks)
          + " | custom/builtin" + (" | custom/torch" if "torch" in frameworks else "")
          + (" | mixed_bfloat16/float32" if MIXED in frameworks else "") + " |")
    print("|---" * (len(frameworks) + 2 + ("torch" in frameworks) + (MIXED in frameworks)) + "|")
    results = {}
    for name in names:
        processes = {f: subprocess.Popen([sys.executable, "-m", "benchmarks.model_speed", "--worker", name, f,
                                          "--jit-compile", args.jit_compile, "--loop", args.loop,
                                          "--steps", str(args.steps)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                                         env={**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"})  # GPU: share
                     for f in frameworks}
        times = {f: [] for f in frameworks}
        try:
            for f, process in processes.items():  # one at a time, so the warm-ups do not overlap
                while process.stdout.readline().strip() != "ready":
                    if process.poll() is not None:
                        raise RuntimeError(f"the {f} worker of {name} failed")
            for _ in range(args.rounds):
                for f, process in processes.items():
                    process.stdin.write("go\n")
                    process.stdin.flush()
                    times[f].append(float(process.stdout.readline()))
        finally:
            for process in processes.values():
                process.stdin.close()
                process.wait()
        median = {f: sorted(t)[len(t) // 2] for f, t in times.items()}
        gflops = {f: flops_per_step(name) / (median[f] / 1000) / 1e9 for f in frameworks}
        row = " | ".join(f"{median[f]:.1f} ({gflops[f]:.1f})" for f in frameworks)
        ratios = f" | {median['custom'] / median['builtin']:.2f}"
        if "torch" in frameworks:
            ratios += f" | {median['custom'] / median['torch']:.2f}"
        if MIXED in frameworks:
            ratios += f" | {median[MIXED] / median['custom']:.2f}"
        print(f"| {name} | {row}{ratios} |", flush=True)
        results[name] = median
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
