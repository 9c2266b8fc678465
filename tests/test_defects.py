"""What trying to break the scripts found, held: one owner per run folder, resume that refuses, bad files refused."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

import sample
import train_char_rnn
import train_ptb
from datasets import DataError, check_split, fingerprint, load_corpus, read_text
from models import GPTSpec, LanguageModelSpec
from tests.conftest import ROOT, run_python, script_error, write_corpus
from training.cli import default_run_name
from training.run import lock_folder, new_run_folder, release_folders

HOLD_LOCK = """
import fcntl, os, sys, time
os.makedirs(sys.argv[1])
fcntl.flock(os.open(sys.argv[1], os.O_RDONLY), fcntl.LOCK_EX)  # the lock a training process holds on its folder
print("locked", flush=True)
time.sleep(120)
"""


def small_corpus(folder, train="the cat sat on the mat\nthe dog sat\n" * 30, valid="the cat sat\n" * 10):
    folder.mkdir()
    for split, text in (("train", train), ("valid", valid), ("test", valid)):
        (folder / f"{split}.txt").write_text(text, encoding="utf-8")
    return folder


# ---- one owner per run folder -----------------------------------------------------------------------------

def test_a_folder_another_process_trains_is_refused_and_free_once_it_ends(tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": ROOT})
    try:
        assert holder.stdout.readline().strip() == "locked"
        message = script_error(train_ptb.main, ["--preset", "test", "--output-dir", str(out)], capsys)
        assert "another process is training the run" in message and os.listdir(out) == []
    finally:
        holder.kill()  # SIGKILL: the kernel drops its lock, nothing stale is left
        holder.wait()
    lock_folder(str(out))  # free again: this process takes it
    release_folders()


def test_default_run_folders_started_together_get_different_names(tmp_path):
    first, second = new_run_folder("ptb-test-custom-20261203-120000", tmp_path), new_run_folder(
        "ptb-test-custom-20261203-120000", tmp_path)
    assert first != second and os.path.basename(second) == "ptb-test-custom-20261203-120000-2"
    release_folders()  # created, left empty: removed
    assert os.listdir(tmp_path) == []


def test_a_run_on_own_text_is_named_after_it():
    class Args:
        preset, cell = "small", "custom"

    name = default_run_name("train_char_rnn.py", Args, {"text": "/home/me/My Novel.txt"}, LanguageModelSpec)
    assert name.startswith("char_rnn-My_Novel-small-custom-")
    assert default_run_name("train_ptb.py", Args, {"corpus": None}, LanguageModelSpec).startswith("ptb-small-custom-")


def test_a_transformer_run_is_named_as_one():
    """Its folder says "transformer" where an LSTM run names its cell (`custom` would be the LSTM's word)."""
    class Args:
        preset, cell, variant = "gpt-baby", "custom", "vanilla"

    assert default_run_name("train_char_rnn.py", Args, {}, GPTSpec).startswith("char_rnn-gpt-baby-transformer-")


# ---- --resume refuses, never ignores -------------------------------------------------------------------

@pytest.mark.slow  # three short trainings
def test_resume_refuses_options_that_would_change_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    common = ["--corpus", str(write_corpus(tmp_path / "corpus")), "--output-dir", str(out)]  # a small corpus
    train_ptb.main(["--preset", "test", "--steps-per-epoch", "3", "--epochs", "2", *common])
    saved = {name: (out / name).read_bytes() for name in ("config.json", "state.json")}
    message = script_error(train_ptb.main, ["--resume", "--seed", "7", "--batch-size", "5", "--cell", "builtin",
                                            "--epochs", "3", *common], capsys)
    assert "--seed 7 (the run's: 0)" in message and "--cell builtin (the run's: custom)" in message
    assert "batch_size 5 (the run's: 20)" in message
    message = script_error(train_ptb.main, ["--resume", "--epochs", "1", *common], capsys)
    assert "already finished 2 epochs" in message and "--epochs 2 or more" in message
    assert {name: (out / name).read_bytes() for name in saved} == saved
    # what it was started with may be repeated; --epochs may grow
    results = train_ptb.main(["--resume", "--preset", "test", "--seed", "0", "--steps-per-epoch", "3", "--epochs", "3",
                              *common])
    assert len(json.loads((out / "state.json").read_text())["history"]) == 3 and results["best_epoch"] >= 1


@pytest.mark.slow  # three short trainings
def test_resume_without_a_folder_continues_the_latest_run_of_the_script_and_preset(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    short = ["--preset", "test", "--steps-per-epoch", "3", "--corpus", str(write_corpus(tmp_path / "corpus"))]
    assert "there is none with a finished epoch" in script_error(train_ptb.main, ["--resume", *short], capsys)
    train_ptb.main([*short, "--epochs", "1"])
    train_ptb.main([*short, "--epochs", "1", "--seed", "5"])
    first, second = sorted(tmp_path.glob("runs/ptb-corpus-test-*"), key=lambda p: json.loads((p / "config.json").read_text())["seed"])
    later = time.time() + 60
    os.utime(first / "state.json", (later, later))  # its last epoch ended last
    capsys.readouterr()
    train_ptb.main(["--resume", "--epochs", "2", *short])
    out = capsys.readouterr().out
    assert f"continuing the latest run of train_ptb.py --preset test, runs/{first.name}" in out
    assert "  run: 2/2 epochs, " in out and " before this process), done" in out  # the whole run's progress
    assert [len(json.loads((run / "state.json").read_text())["history"]) for run in (first, second)] == [2, 1]
    assert "there is none" in script_error(train_ptb.main, ["--resume", "--preset", "small"], capsys)


def test_the_whole_run_estimate_is_the_mean_epoch_times_the_epochs_left():
    from training.run import run_estimate

    assert run_estimate(2, 5, 14, 300) == "  run: 5/14 epochs, 5.0 min so far, ~22.5 min left"
    assert run_estimate(1, 1, 3, 20) == "  run: 1/3 epochs, 20 s so far, ~40 s left"
    assert run_estimate(1, 3, 3, 20, 40) == "  run: 3/3 epochs, 60 s so far (40 s before this process), done"


def test_argument_prefixes_are_not_guessed(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_ptb.main(["--lr", "0.1"])
    assert exit_info.value.code == 2 and "unrecognized arguments: --lr" in capsys.readouterr().err


ENTRY_POINTS = ["train_ptb", "train_char_rnn", "train_mnist_bilstm", "sample", "explore", "predict_mnist",
                *(f"{folder}.{name[:-3]}" for folder in ("experiments", "benchmarks")
                  for name in sorted(os.listdir(os.path.join(ROOT, folder)))
                  if name.endswith(".py") and name != "__init__.py")]


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_no_command_line_of_the_project_guesses_prefixes(module, capsys):
    """`--he` is no abbreviation of --help (which would print the help and exit 0): an unknown option, exit 2."""
    import importlib

    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(module).main(["--he"])
    assert exit_info.value.code == 2 and "--he" in capsys.readouterr().err


# ---- keras.json ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("content, expected", [
    ("[1, 2]", "holds a JSON list, not the object of settings"),
    ('{"floatx": "float16"}', 'sets "floatx": "float16", but these models train in float32'),
    ('{"floatx": "bfloat16", "backend": "jax"}', 'sets "floatx": "bfloat16"'),
])
def test_a_keras_json_keras_cannot_use_is_one_paragraph(tmp_path, content, expected):
    (tmp_path / "keras.json").write_text(content)
    env = {"KERAS_HOME": str(tmp_path), "KERAS_BACKEND": ""}
    result = run_python("import sample; sample.main(['runs/none'])", env=env, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert expected in " ".join(result.stderr.split())


# ---- files that are not texts -------------------------------------------------------------------------

def test_devices_and_pipes_are_refused_before_reading(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo)):
        with pytest.raises(DataError, match="not a regular file"):
            read_text(path)
        with pytest.raises(DataError, match="not a regular file"):
            fingerprint(path)  # a --text run fingerprints its file first


def test_a_symlink_loop_is_named_as_such(tmp_path):
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")
    with pytest.raises(DataError, match="cannot read the text file .*loop.txt: Too many levels of symbolic links"):
        read_text(str(tmp_path / "loop.txt"))


def test_a_plot_titled_in_a_script_the_font_lacks_warns_nothing(tmp_path):
    import warnings

    from training.figures import plt, save_figure

    fig, ax = plt.subplots()
    ax.set_title("runs/中文/char — ü")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a glyph warning would fail the test
        save_figure(fig, str(tmp_path / "plot.png"))
    plt.close(fig)
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"


def test_a_large_binary_file_is_refused_from_its_first_megabyte(tmp_path):
    path = tmp_path / "sparse.bin"
    with open(path, "wb") as f:
        f.truncate(1 << 33)  # 8 GiB of holes: read whole, it would not fit
    with pytest.raises(DataError, match="binary file, not text .a zero byte at offset 0"):
        read_text(str(path))


def test_a_byte_order_mark_is_not_part_of_the_first_word(tmp_path):
    corpus = small_corpus(tmp_path / "corpus")
    train = (corpus / "train.txt").read_bytes()
    (corpus / "train.txt").write_bytes(b"\xef\xbb\xbf" + train)
    assert read_text(str(corpus / "train.txt")) == train.decode()
    *_, vocabulary, _ = load_corpus(str(corpus))
    assert "the" in vocabulary.index and not [word for word in vocabulary.tokens if "\ufeff" in word]


@pytest.mark.parametrize("parts", [(math.nan, 0.5, 0.5), (math.inf, 0.5, -math.inf), (0.9, math.nan, 0.1)])
def test_a_split_that_is_not_a_number_is_refused(parts):
    with pytest.raises(DataError, match="--split takes three fractions"):
        check_split(parts)


def test_a_text_of_one_character_is_refused(tmp_path, capsys):
    path = tmp_path / "a.txt"
    path.write_text("a" * 50_000)
    out = tmp_path / "run"
    message = script_error(train_char_rnn.main, ["--preset", "test", "--text", str(path), "--output-dir", str(out)],
                           capsys)
    assert "one distinct character ('a')" in message and not out.exists()


# ---- sampling a word model -----------------------------------------------------------------------------

def test_sampling_a_corpus_without_unk_lower_cases_primes_and_scores_around_unseen_words(tmp_path, capsys):
    corpus = small_corpus(tmp_path / "corpus")
    out = tmp_path / "run"
    train_ptb.main(["--preset", "test", "--corpus", str(corpus), "--batch-size", "2", "--num-steps", "3",
                    "--steps-per-epoch", "3", "--output-dir", str(out)])
    assert "<unk>" not in json.loads((out / "vocab.json").read_text())["tokens"]
    capsys.readouterr()
    assert len(sample.main([str(out), "--prime", "The Cat", "--length", "3"])) == 3
    assert "the vocabulary is lower-case" in capsys.readouterr().err
    unseen = tmp_path / "unseen.txt"
    unseen.write_text("the cat sat on the sofa\n")
    nats = sample.main([str(out), "--evaluate", str(unseen)])
    captured = capsys.readouterr()
    assert "1 words (the vocabulary has no <unk> to read them as)" in captured.err and "'sofa'" in captured.err
    assert "(1 unseen tokens left out)" in captured.out
    seen = tmp_path / "seen.txt"
    seen.write_text("the cat sat on the\n")
    assert nats == sample.main([str(out), "--evaluate", str(seen)])  # the same stream, the unseen word left out


# ---- stopping -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_sigterm_stops_a_run_like_ctrl_c_and_says_how_to_resume(tmp_path, data_dir):
    out = tmp_path / "run"
    corpus = write_corpus(tmp_path / "corpus")  # 50 epochs of 80 steps: stopped in the first few
    process = subprocess.Popen([sys.executable, "train_ptb.py", "--preset", "test", "--epochs", "50",
                                "--steps-per-epoch", "200", "--corpus", str(corpus),
                                "--data-dir", data_dir, "--output-dir", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (out / "state.json").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the run finished before it could be stopped")
    resume = f"python train_ptb.py --output-dir {out} --resume --data-dir {data_dir}"
    assert process.returncode == 143 and "Traceback" not in stderr and " saved in " in stdout
    assert resume in stdout and resume in stderr and f"Run folder: {out}" in stdout
    assert json.loads((out / "state.json").read_text())["history"]


# ---- run folders the writers choke on ----------------------------------------------------------------------

def test_an_output_dir_that_cannot_be_created_is_one_paragraph(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    long_path = os.path.join(str(tmp_path), *["y" * 200] * 25)  # over PATH_MAX
    for path in (tmp_path / "file" / "run", tmp_path / ("x" * 300), "/proc/x", long_path, tmp_path / "dangling",
                 tmp_path / "loop"):
        message = script_error(train_ptb.main, ["--preset", "test", "--output-dir", str(path)], capsys)
        assert "cannot be created or opened" in message or "cannot be created" in message, path
    assert "leads nowhere" in message and not (tmp_path / "gone").exists()


@pytest.mark.slow  # two short trainings
def test_a_run_folder_whose_name_is_not_utf8_trains_and_resumes(tmp_path, capsys):
    out = os.path.join(str(tmp_path), os.fsdecode(b"run\xff"))
    common = ["--preset", "test", "--steps-per-epoch", "2", "--corpus", str(write_corpus(tmp_path / "corpus")),
              "--output-dir", out]
    train_ptb.main([*common, "--epochs", "1"])
    results = train_ptb.main([*common, "--epochs", "2", "--resume"])
    assert "TensorBoard logs cannot be written" in capsys.readouterr().out
    assert results["best_epoch"] >= 1 and json.load(open(os.path.join(out, "config.json")))["seed"] == 0


# ---- images predict_mnist.py is given ------------------------------------------------------------------

def test_deep_images_are_read_by_their_range_and_slivers_are_refused(tmp_path):
    import numpy as np
    from PIL import Image

    import predict_mnist
    from training.errors import UserError

    digit = np.zeros((28, 28), np.uint8)
    digit[5:23, 12:16] = 255
    Image.fromarray(digit).save(tmp_path / "d8.png")
    Image.fromarray(digit.astype(np.uint16) * 63).save(tmp_path / "d16.png")  # a grey digit: 16,065 of 65,535
    Image.fromarray(digit.astype(np.float32) / 255 * 0.8).save(tmp_path / "df.tiff")
    expected = predict_mnist.load_image(str(tmp_path / "d8.png"))
    for name in ("d16.png", "df.tiff"):
        np.testing.assert_allclose(predict_mnist.load_image(str(tmp_path / name)), expected, atol=1e-5)
    for shape in ((1, 10_000), (100_000, 1), (2, 2)):
        Image.fromarray(np.full(shape, 200, np.uint8)).save(tmp_path / "thin.png")
        with pytest.raises(UserError, match="too small or too thin to hold a digit"):
            predict_mnist.load_image(str(tmp_path / "thin.png"))
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(DataError, match="not a regular file"):
        predict_mnist.load_image(str(tmp_path / "pipe"))


def test_the_largest_seed_builds_every_random_layer(rng):
    import numpy as np

    import train_ptb
    from models import build_model
    from models.seeds import MAX_SEED, derived_seed
    from training.recipe import model_spec

    assert derived_seed(MAX_SEED, 200) == 199 and derived_seed(7, 100) == 107
    spec = model_spec(train_ptb.PRESETS["awd-test"], 50, "custom", MAX_SEED)  # every dropout, AR/TAR, weight drop
    model = build_model(spec, batch_size=2, num_steps=5, stateful=True)
    x = rng.integers(0, 50, (2, 5)).astype("int32")
    assert np.isfinite(np.asarray(model(x, training=True))).all()


# ---- outside the scripts -------------------------------------------------------------------------------

@pytest.mark.slow  # a fresh process
def test_a_saved_model_loads_quietly_outside_the_scripts_from_any_folder(char_run, tmp_path):
    code = (f"import models\nmodel = models.load_model({str(char_run[0] / 'model.keras')!r})\n"
            f"print('RESULT', model.count_params())")
    done = run_python(code, cwd=tmp_path, env={"TF_CPP_MIN_LOG_LEVEL": "0"})  # the project on PYTHONPATH (README)
    assert done.returncode == 0 and done.stdout.startswith("RESULT "), done.stderr[-2000:]
    assert not [line for line in done.stderr.splitlines() if line.strip()], done.stderr[-2000:]


def test_the_benchmarks_refuse_bad_input_and_missing_data_in_one_paragraph(tmp_path, capsys, monkeypatch):
    from tests.conftest import benchmark

    assert "--mb is the size" in script_error(benchmark("text_loading").main, ["--mb", "0"], capsys)
    monkeypatch.setenv("LSTM_OFFLINE", "1")
    monkeypatch.delenv("LSTM_DATA_DIR", raising=False)
    monkeypatch.setenv("LSTM_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "empty").mkdir()
    assert "Cannot find the tinyshakespeare data file" in script_error(
        benchmark("text_loading").main, ["--mb", "1", "--data-dir", str(tmp_path / "empty")], capsys)
    assert "Cannot find the ptb data file" in script_error(
        benchmark("reproducibility").main, ["--preset", "test", "--data-dir", str(tmp_path / "empty")], capsys)


def test_a_data_dir_that_is_a_file_is_named(tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("hello")
    monkeypatch.setenv("LSTM_DATA_DIR", str(tmp_path / "notes.txt"))
    from datasets import load_ptb

    with pytest.raises(DataError) as error:
        load_ptb(download=False)
    assert f"LSTM_DATA_DIR {tmp_path / 'notes.txt'} is a file, not a folder" in str(error.value)


# ---- long sequences ------------------------------------------------------------------------------------

def test_a_sequence_longer_than_the_unroll_limit_takes_the_scan_loop_with_the_same_results(monkeypatch, rng):
    import keras
    import numpy as np

    from models import LSTM, LSTMStack, backward

    assert backward.unrolls(None, 500) and not backward.unrolls(None, 501) and backward.unrolls(True, 5000)
    assert not backward.unrolls(None, None) and not backward.unrolls(False, 10)
    monkeypatch.setattr(backward, "MAX_UNROLLED_STEPS", 10)
    calls = []
    fused_stack = backward.fused_stack
    monkeypatch.setattr(backward, "fused_stack", lambda *a, **k: calls.append(1) or fused_stack(*a, **k))
    x = rng.normal(size=(3, 12, 5)).astype("float32")

    def stack(unroll):
        return LSTMStack([LSTM(4, return_sequences=True, unroll=unroll, seed=1) for _ in range(2)])

    long, forced = stack(None), stack(True)
    long.build(x.shape), forced.build(x.shape)
    forced.set_weights(long.get_weights())
    out_long = np.asarray(long(x))
    assert calls == []  # 12 > the limit: the layers one after the other, each a scan loop
    np.testing.assert_allclose(out_long, np.asarray(forced(x)), atol=1e-6)
    assert calls == [1]  # unroll=True still unrolls (the fused loop)
    inputs = keras.Input(batch_size=3, shape=(12, 5))
    model = keras.Model(inputs, keras.layers.Dense(2)(stack(None)(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    assert np.isfinite(model.train_on_batch(x, np.zeros((3, 12, 2), "float32")))  # and it trains
