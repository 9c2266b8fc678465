"""What a user can type: every bad input ends in one paragraph and exit code 2, and no file is lost."""

import json
import os
import struct
import sys
import zlib

import numpy as np
import pytest

import predict_mnist
import sample
import train_char_rnn
import train_mnist_bilstm
import train_ptb
from models import spec_from_dict
from tests.conftest import ROOT, copy_run, python_result, run_python, script_error, write_corpus
from training.errors import UserError
from training.run import RunFolder

SETTINGS = {"script": "train_ptb.py", "preset": "test", "cell": "custom", "seed": 0, "config": {}}


def files_of(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder)) if (folder / name).is_file()}


# ---- the run folder ----------------------------------------------------------------------------------------

def test_a_folder_left_by_a_failed_start_can_be_started(tmp_path, capsys, offline, isolated_data_env):
    out = tmp_path / "mine"
    (tmp_path / "empty").mkdir()
    message = script_error(train_ptb.main, ["--preset", "test", "--data-dir", str(tmp_path / "empty"),
                                            "--output-dir", str(out)], capsys)
    assert "ptb.train.txt" in message
    corpus = write_corpus(tmp_path / "corpus")  # the same folder, now with data (a small corpus: a quick run)
    common = ["--preset", "test", "--steps-per-epoch", "10", "--corpus", str(corpus), "--output-dir", str(out)]
    assert train_ptb.main(common)["best_epoch"] == 1
    started = tmp_path / "started"  # config.json written, no finished epoch (a Ctrl-C in epoch 1)
    started.mkdir()
    (started / "config.json").write_text(json.dumps(SETTINGS))
    capsys.readouterr()
    assert train_ptb.main(common[:-1] + [str(started), "--resume"])["best_epoch"] == 1
    assert "no finished epoch" in capsys.readouterr().out


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]"])
def test_a_damaged_state_file_is_a_clear_error(tmp_path, capsys, content):
    (tmp_path / "state.json").write_text(content)
    message = script_error(train_ptb.main, ["--resume", "--output-dir", str(tmp_path)], capsys)
    assert "state.json" in message
    assert (tmp_path / "state.json").read_text() == content


def test_resume_of_another_scripts_run(ptb_run, capsys):
    out, _, _ = ptb_run
    before = files_of(out)
    message = script_error(train_char_rnn.main, ["--resume", "--output-dir", str(out)], capsys)
    assert "run folder of train_ptb.py, not of train_char_rnn.py" in message
    assert files_of(out) == before


def test_output_dir_that_is_a_file(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("keep me")
    assert "is a file, not a folder" in script_error(train_mnist_bilstm.main, ["--output-dir", str(path)], capsys)
    assert path.read_text() == "keep me"


def test_a_truncated_checkpoint_is_a_clear_error(ptb_run, tmp_path, capsys):
    _, _, data = ptb_run
    copy = copy_run(ptb_run, tmp_path / "copy")
    checkpoint = copy / json.load(open(copy / "state.json"))["checkpoint"]
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    message = script_error(train_ptb.main, ["--resume", "--epochs", "5", "--output-dir", str(copy), "--data-dir", data],
                           capsys)
    assert "cannot be read" in message and "damaged" in message


def test_disk_full_during_a_checkpoint_keeps_the_folder_consistent(tmp_path, monkeypatch):
    import keras

    import training.run

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    run = RunFolder.open(str(tmp_path), SETTINGS, resume=False)
    run.history.append({"epoch": 1, "valid": 1.0})
    run.save_checkpoint(model)
    before = files_of(tmp_path)

    def no_space(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(training.run, "atomic_save_model", no_space)
    run.history.append({"epoch": 2, "valid": 0.5})
    with pytest.raises(UserError, match="No space left on device.*still whole.*checkpoint of epoch 1.*--resume"):
        run.save_checkpoint(model)
    assert files_of(tmp_path) == before
    monkeypatch.undo()
    run.save_checkpoint(model)  # epoch 2 saved; then a plot (or any later file) finds the disk full
    with pytest.raises(UserError, match="checkpoint of epoch 2"):
        run._saving(no_space)


def test_stale_temporary_files_are_removed_when_a_run_opens(ptb_run, tmp_path):
    copy = copy_run(ptb_run, tmp_path / "copy")
    (copy / ".tmp-999-checkpoint-epoch2.keras").write_bytes(b"x" * 1000)  # left by a SIGKILL
    run = RunFolder.open(str(copy), SETTINGS, resume=True)
    run.begin(spec_from_dict(run.settings["model"]), title="t", plots={}, keep=("valid_perplexity", "min"))
    assert not [name for name in os.listdir(copy) if name.startswith(".tmp-")]


def test_samples_of_an_epoch_are_written_once(tmp_path):
    run = RunFolder.open(str(tmp_path), {**SETTINGS, "script": "train_char_rnn.py"}, resume=False)
    train_char_rnn.append_sample(run, 0, "first", 0.8)
    train_char_rnn.append_sample(run, 1, "second", 0.8)
    train_char_rnn.append_sample(run, 1, "second again", 0.8)  # epoch 2 once more, after a crash before its checkpoint
    text = (tmp_path / "samples.txt").read_text()
    assert text.count("=== epoch 2 ") == 1 and "second again" in text and "first" in text


# ---- the command lines ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("main", [train_ptb.main, train_char_rnn.main, train_mnist_bilstm.main])
@pytest.mark.parametrize("seed", ["-1", str(2**40)])
def test_seed_out_of_range(main, seed, capsys, tmp_path):
    message = script_error(main, ["--seed", seed, "--output-dir", str(tmp_path / "run")], capsys)
    assert f"--seed must lie between 0 and {2**32 - 1}" in message
    assert not (tmp_path / "run").exists()


def test_sample_seed_out_of_range(ptb_run, capsys):
    out, _, _ = ptb_run
    assert "--seed must lie between" in script_error(sample.main, [str(out), "--seed", "-1"], capsys)


def test_data_dir_that_does_not_exist_is_an_error_even_with_the_environment_set(tmp_path, capsys, data_dir,
                                                                                 monkeypatch):
    monkeypatch.setenv("LSTM_DATA_DIR", data_dir)
    message = script_error(train_ptb.main, ["--data-dir", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path / "r")],
                           capsys)
    assert "--data-dir" in message and "is not a folder" in message


def test_mnist_steps_per_epoch_is_at_most_one_pass():
    config = train_mnist_bilstm.dataclasses.replace(train_mnist_bilstm.PRESETS["test"], steps_per_epoch=100_000)
    assert train_mnist_bilstm.images_per_epoch(config, 55_000) == 55_000
    assert train_mnist_bilstm.images_per_epoch(train_mnist_bilstm.PRESETS["book"], 55_000) == 391 * 128
    assert train_mnist_bilstm.images_per_epoch(train_mnist_bilstm.PRESETS["default"], 55_000) == 55_000


def test_evaluate_a_file_that_is_not_utf8(ptb_run, tmp_path, capsys):
    out, _, _ = ptb_run
    path = tmp_path / "latin1.txt"
    path.write_bytes("the café said\n".encode("latin-1"))
    assert "byte 0xe9 at offset 7" in script_error(sample.main, [str(out), "--evaluate", str(path)], capsys)


@pytest.mark.parametrize("name, cut", [("vocab.json", 30), ("model.keras", 500)])
def test_sample_on_a_truncated_file(ptb_run, tmp_path, capsys, name, cut):
    copy = copy_run(ptb_run, tmp_path / "copy")
    (copy / name).write_bytes((copy / name).read_bytes()[:cut])
    message = script_error(sample.main, [str(copy), "--length", "3"], capsys)
    assert name in message and "damaged" in message


def test_predict_on_a_language_model_run(ptb_run, tmp_path, capsys):
    out, _, _ = ptb_run
    assert "is a run of train_ptb.py, not a run folder of train_mnist_bilstm.py" in script_error(
        predict_mnist.main, [str(out), str(tmp_path / "digit.png")], capsys)


def test_sample_on_a_digit_classifier_run(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"script": "train_mnist_bilstm.py", "model": {
        "kind": "digit_classifier", "units": 4, "layers": 1}}))
    assert "not a run folder of train_ptb.py or train_char_rnn.py" in script_error(sample.main, [str(tmp_path)], capsys)


def png_bytes(width, height, rows):
    """A grayscale 8-bit PNG written by hand: the header claims width × height, the data is `rows`."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_decompression_bomb_and_blank_images(tmp_path):
    bomb = tmp_path / "bomb.png"  # 100 bytes of data that claim 2.5 billion pixels
    bomb.write_bytes(png_bytes(50_000, 50_000, b"\x00" * 100))
    with pytest.raises(UserError, match="too large to be a digit"):
        predict_mnist.load_image(str(bomb))
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("L", (28, 28), 250).save(blank)
    with pytest.raises(UserError, match="is blank: it has no ink"):
        predict_mnist.load_image(str(blank))


def test_transparent_and_rotated_digits_read_like_their_plain_copies(tmp_path, data_dir):
    from PIL import Image

    from datasets import load_mnist

    (_, _), (x, _) = load_mnist(data_dir)
    digit = x[0]  # a 7, light on dark
    plain = tmp_path / "plain.png"
    Image.fromarray(255 - digit).save(plain)  # black ink on white paper
    transparent = tmp_path / "transparent.png"  # black ink, the paper fully transparent
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = digit
    Image.fromarray(rgba, "RGBA").save(transparent)
    rotated = tmp_path / "rotated.jpg"  # stored sideways, with the EXIF tag that turns it upright
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    Image.fromarray(np.rot90(255 - digit, k=1)).save(rotated, quality=100, exif=exif.tobytes())
    expected = predict_mnist.load_image(str(plain))
    np.testing.assert_allclose(predict_mnist.load_image(str(transparent)), expected, atol=1 / 255)
    np.testing.assert_allclose(predict_mnist.load_image(str(rotated)), expected, atol=0.1)


def test_missing_backend_package_names_the_requirements_file(monkeypatch):
    from training import startup

    real = startup.importlib.util.find_spec
    monkeypatch.setattr(startup.importlib.util, "find_spec", lambda name: None if name == "jax" else real(name))
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    message = startup.missing_backend()
    assert "the jax package is not installed" in message and "requirements-jax.txt" in message
    monkeypatch.setenv("KERAS_BACKEND", "numpyish")
    assert "not a backend this project runs on" in startup.missing_backend()
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert startup.missing_backend() is None


def test_an_unknown_backend_stops_a_script_before_keras_loads():
    result = run_python("import sample", env={"KERAS_BACKEND": "numpyish"}, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "KERAS_BACKEND=numpyish is not a backend this project runs on" in " ".join(result.stderr.split())


def test_progress_lines_when_stdout_is_not_a_terminal(capsys):
    import keras

    from training.progress import fit_options

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.zeros((40, 2)), np.zeros((40, 1)), batch_size=2, epochs=1, **fit_options())  # pytest: not a tty
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  step ")]
    assert len(lines) == 20 and lines[0].startswith("  step 1/20 - ") and "loss: " in lines[-1]
    assert "estimating the time left - " in lines[0]  # the first step compiles: no estimate from it
    assert " s left - " in lines[1] and " s left" not in lines[-1]


ENTRY_POINTS = ["train_ptb.py", "train_char_rnn.py", "train_mnist_bilstm.py", "sample.py", "predict_mnist.py",
                "explore.py", *(f"experiments/{name}" for name in sorted(os.listdir(os.path.join(ROOT, "experiments")))
                                if name.endswith(".py") and name != "__init__.py")]


@pytest.mark.parametrize("script", ENTRY_POINTS)
def test_each_script_imports_the_start_up_before_keras_and_starts_the_devices_first(script):
    """`from training import startup` comes before every import but the standard library's; main() starts with
    `startup.start_devices(...)`, before any op."""
    import ast

    tree = ast.parse(open(os.path.join(ROOT, script), encoding="utf-8").read())
    imports = [alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
               for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names]
    first = next(name for name in imports if name.split(".")[0] not in sys.stdlib_module_names)
    assert first == "training.startup"
    main = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main")
    body = [node for node in main.body if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
    assert ast.unparse(body[0]).startswith("startup.start_devices(")


def test_the_start_up_sets_threads_per_op_before_the_first_op():
    """TWO_OPS_AT_ONCE: half the cores per TensorFlow op for char-rnn and MNIST, PTB's ops on all cores; oneDNN on
    before TensorFlow loads; the devices not started by importing a script."""
    found = python_result("""
import json, os
os.environ.pop('TF_NUM_INTRAOP_THREADS', None)
os.environ.pop('TF_ENABLE_ONEDNN_OPTS', None)
import train_char_rnn, keras
onednn = os.environ.get('TF_ENABLE_ONEDNN_OPTS')
started = None
if keras.backend.backend() == 'tensorflow':
    from tensorflow.python.eager import context
    started = context.context()._initialized
train_char_rnn.startup.start_devices(train_char_rnn.TWO_OPS_AT_ONCE)
threads = os.environ.get('TF_NUM_INTRAOP_THREADS')
print("RESULT", json.dumps({"backend": keras.backend.backend(), "threads": threads, "onednn": onednn,
                            "started_on_import": started}))
""")
    assert train_char_rnn.TWO_OPS_AT_ONCE and train_mnist_bilstm.TWO_OPS_AT_ONCE and not train_ptb.TWO_OPS_AT_ONCE
    if found["backend"] == "tensorflow":
        assert found["threads"] == str(max(1, os.cpu_count() // 2)) and found["onednn"] == "1"
        assert found["started_on_import"] is False
    else:
        assert found["threads"] is None  # other backends are left alone
