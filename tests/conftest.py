"""Shared test helpers and fixtures: gradients, the data folder, fresh processes and their RESULT lines, and one
short trained run of each script for the whole session.

The runs (`ptb_run`, `char_run`, `char_run_scored`, `mnist_run`, `awd_run`, `gpt_run`, `xlstm_run`) are trained once per session,
in a folder of tmp_path_factory, and shared by every test that reads them: a test that changes a run folder works on
`copy_run(...)` of it. Under pytest-xdist (pytest.ini runs two workers) one worker makes each, the others wait for it
(`once_per_session`), and the tests that share a module fixture stay on one worker (--dist loadfile). Tests marked `slow` (pytest.ini) are left out of the quick tier,
`python -m pytest -q -m "not slow"`; the full suite, `python -m pytest -q`, runs them all.
"""

import importlib
import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from training import startup  # noqa: F401  the scripts' numerics: oneDNN on before TensorFlow loads
from training.gradients import gradients  # noqa: F401  the tests import it from here

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- made once per session, also under pytest-xdist ----------------------------------------------------------------

def once_per_session(tmp_path_factory, name, make):
    """(folder, make(folder)) for a new folder `name`: made once per test session.

    Under pytest-xdist (pytest.ini: -n 2) the first worker that asks makes it, in a folder all the workers share,
    while the others wait on a lock and read what it returned from JSON (so `make` returns JSON's types; the worker
    that made it gets the same from JSON too). Without xdist, as any session fixture.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.mktemp(name, numbered=False)
        return folder, make(folder)
    import fcntl

    root = tmp_path_factory.getbasetemp().parent / "made-once"  # the session's base folder, the workers' parent
    root.mkdir(exist_ok=True)
    folder, made = root / name, root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed, or the worker dies
        if not made.exists():
            folder.mkdir()
            made.write_text(json.dumps(make(folder)))
        return folder, json.loads(made.read_text())


# ---- fresh processes ---------------------------------------------------------------------------------------

def run_python(code, cwd=ROOT, env=None, timeout=600):
    """Runs `code` in a fresh Python process in the project root."""
    full_env = {**os.environ, "PYTHONPATH": ROOT, **(env or {})}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def result_of(completed):
    """What a fresh process printed after "RESULT " (its first such line), read as JSON.

    The test fails with the end of the process's output when there is no such line or the process failed.
    """
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines and completed.returncode == 0, (f"exit {completed.returncode}, {len(lines)} RESULT lines:\n"
                                                 f"{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}")
    return json.loads(lines[0][len("RESULT "):])


def python_result(code, env=None, timeout=600):
    """`code` in a fresh process (`run_python`); the JSON it printed after "RESULT " (`result_of`)."""
    return result_of(run_python(code, env=env, timeout=timeout))


def script_in_fresh_process(script, argv, devices=1, backend="jax"):
    """`script`.main(argv) in a fresh process on `devices` CPU devices of `backend`.

    Returns:
        (what main returned, or {"exit": code} for a SystemExit; the process's stderr).

    The device count is fixed when the backend starts: XLA_FLAGS for JAX's CPU devices, logical devices
    for TensorFlow. The process runs once more if XLA's CPU runtime ended it in a collective that one
    virtual device never joined ("Termination timeout for `all gather ...`" after 40 s): XLA's own failure,
    now and then in a fresh process on a 2-core VM, never seen within a long-lived one
    (docs/gpu-and-distributed.md#the-xla-cpu-collective-rendezvous-abort).
    """
    [results], stderr = jobs_in_fresh_process([(script, argv)], devices, backend)
    return results, stderr


def jobs_in_fresh_process(jobs, devices=1, backend="jax"):
    """Several jobs one after the other in one fresh process on `devices` CPU devices of `backend`
    (`script_in_fresh_process`): (script, argv) runs script.main(argv); a string is code that sets `result`.

    Returns:
        ([for each job what main returned, {"exit": code} for a SystemExit, or the code's `result`], the stderr).
    """
    env = {"KERAS_BACKEND": backend}
    setup = ""
    if backend == "jax":
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    elif devices > 1:
        setup = f"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * {devices})
"""
    code = f"""{setup}
import importlib, json
found = []
for job in {[job if isinstance(job, str) else (job[0], list(job[1])) for job in jobs]!r}:
    if isinstance(job, str):
        scope = {{}}
        exec(job, scope)
        found.append(scope["result"])
        continue
    script, argv = job
    try:
        found.append(importlib.import_module(script).main(argv))
    except SystemExit as exit:
        found.append({{"exit": exit.code}})
print("RESULT", json.dumps(found))
"""
    return result_with_retry(code, env)


def result_with_retry(code, env):
    """(`result_of` a fresh process running `code` with `env`, its stderr), run once more after an XLA
    collective timeout (see `script_in_fresh_process`)."""
    completed = run_python(code, env=env)
    if "Termination timeout for" in completed.stderr and "rendezvous" in completed.stderr.lower():
        completed = run_python(code, env=env)
    return result_of(completed), completed.stderr


# Models of the project's layers that test modules save here and a fresh process loads and predicts: one process
# for all of them (tests/test_models.py, test_variants.py, test_gru.py), the session's `reloaded` fixture.
RELOADED = {}


def reloaded_in_fresh_process(name, probe="{}"):
    """Registers build(rng) -> (model, x) as the model `name` of the session's `reloaded` fixture.

    `probe` is a Python expression of the reloaded model `m`, evaluated in the fresh process: a dict of what the
    test reads besides the outputs (JSON)."""

    def register(build):
        RELOADED[name] = (build, probe)
        return build

    return register


@pytest.fixture(scope="session")
def reloaded(tmp_path_factory):
    """Every registered model saved as a .keras file here, then loaded and predicted by one fresh process
    (importing json, numpy, keras and models only).

    Returns: {name: {"outputs": the fresh process's predictions, "expected": this process's outputs, and the probe's
    entries}}.
    """
    _, found = once_per_session(tmp_path_factory, "reloaded", reload_in_fresh_process)
    return {name: {**found[name], "outputs": np.array(found[name]["outputs"]),
                   "expected": np.array(found[name]["expected"], np.float32)} for name in RELOADED}


def reload_in_fresh_process(folder):
    """`reloaded`'s models saved in `folder`, loaded and predicted by a fresh process: {name: its findings and
    "expected", this process's outputs, as lists}."""
    import keras

    expected = {}
    for name, (build, _) in RELOADED.items():
        model, x = build(np.random.default_rng(1234))
        model.save(folder / f"{name}.keras")
        np.save(folder / f"{name}_x.npy", x)
        expected[name] = np.asarray(keras.ops.convert_to_numpy(model(x))).tolist()
    probes = {name: probe for name, (_, probe) in RELOADED.items()}
    found = python_result(f"""
import json, numpy as np, keras, models
folder, found = r"{folder}", {{}}
for name, probe in {probes!r}.items():
    m = keras.models.load_model(f"{{folder}}/{{name}}.keras")
    found[name] = {{"outputs": m.predict(np.load(f"{{folder}}/{{name}}_x.npy"), verbose=0).tolist(), **eval(probe)}}
print("RESULT", json.dumps(found))
""")
    return {name: {**found[name], "expected": expected[name]} for name in RELOADED}


def numeric_gradients(loss, args, eps=1e-6):
    """Central differences of loss(**args) with respect to every array of `args` (float64; each entry is moved
    by ±eps in place and put back). Returns {name: gradient}."""
    found = {}
    for name, value in args.items():
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            for sign in (1, -1):
                value[index] += sign * eps
                numeric[index] += sign * loss(**args) / (2 * eps)
                value[index] -= sign * eps
        found[name] = numeric
    return found


def benchmark(name):
    """The module `name` of benchmarks/."""
    return importlib.import_module(f"benchmarks.{name}")


# ---- the data --------------------------------------------------------------------------------------------------

def shared_data_dir():
    """The verified data folder: $LSTM_DATA_DIR, or ../shared/data beside the checkout."""
    folder = os.environ.get("LSTM_DATA_DIR") or os.path.join(ROOT, "..", "shared", "data")
    return os.path.abspath(folder) if os.path.isdir(folder) else None


def required_data_dir():
    """shared_data_dir(), or the test is skipped."""
    folder = shared_data_dir()
    if folder is None:
        pytest.skip("no data folder: set LSTM_DATA_DIR or put the verified copies in ../shared/data")
    return folder


@pytest.fixture
def data_dir():
    return required_data_dir()


def write_corpus(folder, names=("train.txt", "valid.txt", "test.txt"), lines=400):
    """A corpus folder of a 13-word language: lines without trailing spaces; valid and test have words the
    training split never saw (zebra ×30 in valid, yak and gnu ×30 each in test). train_ptb.py trains on it
    (--corpus) in a second or two: for the tests that need a run of train_ptb.py, not PTB's figures.
    `lines`: of 7 words in the training split (400: 2,800 words and as many <eos>)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    words = "the cat sat on a mat and the dog ran to it".split()
    train = "\n".join(" ".join(rng.choice(words, 7)) for _ in range(lines)) + "\n"
    (folder / names[0]).write_text(train)
    (folder / names[1]).write_text("the zebra sat on the mat\n" * 30)
    (folder / names[2]).write_text("a cat and a yak ran\nthe gnu\n" * 30)
    return folder


# ---- trained runs ------------------------------------------------------------------------------------------------

def script_run(tmp_path_factory, main, *argv):
    """One run of a script's main(argv) on the verified data, in a fresh folder of tmp_path_factory, once per session
    (`once_per_session`: under pytest-xdist one worker trains it, the others read its folder and results).

    Returns:
        (run folder, the results main returned, data folder); skips the tests without data.
    """
    data = required_data_dir()

    def train(folder):
        return main([*argv, "--data-dir", data, "--output-dir", str(folder / "run")])

    folder, results = once_per_session(tmp_path_factory, f"{main.__module__}-{'-'.join(argv).replace('--', '')}", train)
    return folder / "run", results, data


def copy_run(run, folder):
    """A copy of a run folder (a fixture's `run[0]`, or a path) at `folder`, for a test that changes it."""
    source = run[0] if isinstance(run, tuple) else run
    shutil.copytree(source, folder)
    return folder


# The settings of the shared runs: the tests that compare against them (a resumed copy, a run in another
# process) use the same.
PTB_RUN = ("--preset", "test", "--steps-per-epoch", "300", "--seed", "1")
CHAR_RUN = ("--preset", "test", "--steps-per-epoch", "300", "--nanogpt-batches", "0")  # nanoGPT's score: below
MNIST_RUN = ("--preset", "test")
AWD_RUN = ("--preset", "awd-test", "--steps-per-epoch", "60", "--seed", "3")  # 3 epochs, averaging from epoch 2
GPT_RUN = ("--preset", "gpt-test")  # the transformer: two epochs of 150 steps
XLSTM_RUN = ("--preset", "xlstm-test")  # the xLSTM: two epochs of 40 steps


def session_run(name, script, argv, what):
    """A session fixture `name`: one run of `script`'s main(argv) on the verified data, (folder, results, data folder)."""

    def run(tmp_path_factory):
        return script_run(tmp_path_factory, importlib.import_module(script).main, *argv)

    run.__doc__ = f"{script}.py's {what}: (folder, results, data folder)."
    return pytest.fixture(scope="session", name=name)(run)


ptb_run = session_run("ptb_run", "train_ptb", PTB_RUN, "`test` preset, one epoch of 300 steps")
char_run = session_run("char_run", "train_char_rnn", CHAR_RUN, "`test` preset, one epoch of 300 steps, not scored on "
                                                                "nanoGPT's validation")
char_run_scored = session_run("char_run_scored", "train_char_rnn", CHAR_RUN[:-2],
                              "`test` preset, one epoch of 300 steps, scored on nanoGPT's validation (the slow tier's)")
mnist_run = session_run("mnist_run", "train_mnist_bilstm", MNIST_RUN, "`test` preset (300 steps)")
awd_run = session_run("awd_run", "train_ptb", AWD_RUN, "`awd-test` preset, three epochs of 60 steps")
gpt_run = session_run("gpt_run", "train_char_rnn", GPT_RUN, "`gpt-test` preset (a transformer), two epochs")
xlstm_run = session_run("xlstm_run", "train_char_rnn", XLSTM_RUN, "`xlstm-test` preset (an xLSTM), two epochs of 40 steps")


@pytest.fixture(scope="session")
def shared_runs_in_fresh_process(tmp_path_factory, mnist_run, awd_run, ptb_run):
    """The shared runs read by one fresh process, each part with no more imported than it needs, in this order:
    "mnist": model.keras's accuracy on MNIST's 10,000 test images (keras, models, datasets); "awd": sample.py
    evaluates the awd-test run on PTB's test split and samples 20 words; "ptb": the PTB run's valid perplexity
    (load_language_model, PTB's valid split; modules sample.py had imported already)."""
    (mnist, _, data), (awd, _, _), (ptb, _, _) = mnist_run, awd_run, ptb_run
    return once_per_session(tmp_path_factory, "shared-runs-read", lambda _: python_result(f"""
import json, keras, models, numpy as np
from datasets import load_mnist
(_, _), (x, y) = load_mnist(r"{data}")
m = keras.models.load_model(r"{mnist / 'model.keras'}")
found = {{"mnist": {{"accuracy": float(np.mean(m.predict(x / 255.0, verbose=0).argmax(1) == y))}}}}

import sample
nats = sample.main([r"{awd}", "--evaluate", r"{data}/ptb/ptb.test.txt"])
ids = sample.main([r"{awd}", "--prime", "the", "--length", "20", "--seed", "1"])
found["awd"] = {{"nats": nats, "ids": ids}}

from datasets import load_ptb
from training.inference import load_language_model
from datasets.batching import stream_rows
from training.language_model import compile_evaluator, evaluate_perplexity
model, _ = load_language_model(r"{ptb}", batch_size=20, num_steps=2, stateful=True)
_, valid, _, _ = load_ptb(r"{data}")
x, y = stream_rows(valid, 20, 2)
found["ptb"] = {{"valid_perplexity": evaluate_perplexity(compile_evaluator(model), x, y, 20)}}
print("RESULT", json.dumps(found))
"""))[1]


# ---- runs on several JAX devices ------------------------------------------------------------------------------------

# The settings of train_ptb.py's runs on 1, 2 and 4 devices (and of the resume on two), on a small corpus: what is
# tested is that the devices give the numbers of one, not PTB's figures (char-rnn reads a text of Tiny Shakespeare's,
# MNIST its data set).
DEVICE_PTB = ("--preset", "test", "--steps-per-epoch", "60", "--batch-size", "4", "--seed", "1")

# The sharding of a stateful model's carried state on 4 devices (tests/test_distribute.py): run first in its process,
# before any other model is built there, so the layers have their first names.
CARRIED_STATE = """
import numpy as np, keras
from models import LanguageModelSpec, build_model, find_layer
from training import distribute
from training.metrics import sequence_loss
spec = LanguageModelSpec(vocab_size=20, units=6, layers=2, embedding_size=5, seed=3)
x = np.random.default_rng(0).integers(0, 20, (24, 7)).astype("int32")
states = {}
for name, distribution in (("one", None), ("many", distribute.start("data", 8, stateful=True))):
    keras.utils.set_random_seed(3)
    with distribute.scope(distribution):
        model = build_model(spec, batch_size=8, num_steps=7, stateful=True)
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss=sequence_loss)
        model.fit(x, x, batch_size=8, shuffle=False, epochs=1, verbose=0)  # 3 batches, state carried
    lstm = find_layer(model, "lstm_1")
    states[name] = [np.asarray(s.value).tolist() for s in lstm.states]
    if distribution is not None:
        states["spec"] = str(lstm.states[0].value.sharding.spec)
        states["devices"] = len(lstm.states[0].value.sharding.device_set)
result = states
"""


@pytest.fixture(scope="session")
def jax_device_runs(tmp_path_factory):
    """runs(devices): the JAX runs of tests/test_distribute.py and test_resume.py on 1, 2 or 4 virtual CPU devices,
    every run of a device count in one fresh process (the count is fixed when JAX starts), made on first use, once
    per session (`once_per_session`).

    Returns {name: (run folder, what main returned, or {"exit": code}, or a code job's result)} and "stderr":
        1: "ptb", "char", "mnist"; 2: the same with --distribute data, "ptb cut" (its first epoch) and
        "ptb resumed" (--resume to its second), "batch 3" (a batch that does not split); 4: "carried state", "ptb".
    """
    if importlib.util.find_spec("jax") is None:
        pytest.skip("needs jax (requirements-jax.txt)")
    from datasets import load_shakespeare

    data = required_data_dir()

    def write_inputs(folder):
        write_corpus(folder / "corpus")
        # char-rnn on Tiny Shakespeare's test split as a text: short valid and test splits
        (folder / "shakespeare-test.txt").write_text(load_shakespeare(data)[2], encoding="utf-8")
        return str(folder)

    _, inputs = once_per_session(tmp_path_factory, "device-inputs", write_inputs)
    corpus, text = os.path.join(inputs, "corpus"), os.path.join(inputs, "shakespeare-test.txt")
    ptb = [*DEVICE_PTB, "--corpus", corpus, "--epochs", "2"]
    char = ["--preset", "test", "--steps-per-epoch", "20", "--epochs", "2", "--text", text, "--seed", "2"]
    mnist = ["--preset", "test", "--steps-per-epoch", "10", "--epochs", "2", "--data-dir", data, "--seed", "2"]
    many = ["--distribute", "data"]

    def jobs(devices, folder):
        """{name: (its run folder or None, the job)}."""
        cut = folder / "ptb-cut"
        named = {1: {"ptb": ("train_ptb", ptb), "char": ("train_char_rnn", char),
                     "mnist": ("train_mnist_bilstm", mnist)},
                 2: {"ptb": ("train_ptb", ptb + many),
                     "ptb cut": ("train_ptb", [*DEVICE_PTB, "--corpus", corpus, "--epochs", "1", *many]),
                     "ptb resumed": ("train_ptb", ["--resume", "--epochs", "2", "--output-dir", str(cut),
                                                   "--data-dir", data, *many]),  # neither --preset nor --seed
                     "char": ("train_char_rnn", char + many), "mnist": ("train_mnist_bilstm", mnist + many),
                     "batch 3": ("train_ptb", [*DEVICE_PTB[:-4], "--epochs", "2", "--batch-size", "3", "--corpus",
                                               corpus, *many])},
                 4: {"carried state": CARRIED_STATE, "ptb": ("train_ptb", ptb + many)}}[devices]
        found = {}
        for name, job in named.items():
            if isinstance(job, str):
                found[name] = (None, job)
            elif "--resume" in job[1]:
                found[name] = (cut, job)
            else:
                out = folder / name.replace(" ", "-")
                found[name] = (out, (job[0], [*job[1], "--output-dir", str(out)]))
        return found

    made = {}

    def runs(devices):
        if devices not in made:
            def make(folder):
                named = jobs(devices, folder)
                found, stderr = jobs_in_fresh_process([job for _, job in named.values()], devices)
                return {"runs": {name: (out and str(out), result) for (name, (out, _)), result in
                                 zip(named.items(), found)}, "stderr": stderr}

            _, done = once_per_session(tmp_path_factory, f"devices-{devices}", make)
            made[devices] = {name: (out and pathlib.Path(out), result) for name, (out, result) in done["runs"].items()}
            made[devices]["stderr"] = done["stderr"]
        return made[devices]

    return runs


def history(folder):
    """The rows of a run's history.csv, as dicts of strings."""
    import csv

    with open(os.path.join(folder, "history.csv")) as file:
        return list(csv.DictReader(file))


# ---- errors and environments -------------------------------------------------------------------------------------

@pytest.fixture
def isolated_data_env(tmp_path, monkeypatch):
    """No LSTM_DATA_DIR and an empty cache, so only the folder a test names is searched."""
    monkeypatch.delenv("LSTM_DATA_DIR", raising=False)
    monkeypatch.setenv("LSTM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def script_error(main, argv, capsys):
    """Runs a script's main() expecting a user error: returns its one-paragraph message."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().startswith("error:")
    return " ".join(err.split())


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("LSTM_OFFLINE", "1")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)



# ---- the order of the files ------------------------------------------------------------------------------------------

# The files that take longest first (measured with --durations), so that the two pytest-xdist workers, which take
# whole files in this order (pytest.ini: --dist loadfile --no-loadscope-reorder), end close together; the rest after
# them in their usual order.
LONGEST_FIRST = ("test_distribute.py", "test_resume.py", "test_experiments.py", "test_explorer.py", "test_xlstm.py",
                 "test_xlstm_runs.py", "test_state_tracking.py", "test_tfds.py",
                 "test_jax_backend.py", "test_own_text.py", "test_train_ptb.py", "test_benchmarks.py",
                 "test_language_model.py", "test_regularization.py", "test_precision.py", "test_old_run_folders.py",
                 "test_char_rnn.py", "test_nanogpt.py", "test_defects.py")


def pytest_collection_modifyitems(items):
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file stays whole
