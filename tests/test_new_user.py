"""What a new user met trying the project (issue: a first result in two minutes, and the defects found): signals
that end a run at once and say so once, a sample that streams and refuses absurd lengths, progress on long scoring,
a damaged model.keras rebuilt, run folders that do not match, and the start-up lines of JAX."""

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import explore
import sample
import train_char_rnn
from datasets import EOS, Vocabulary
from tests.conftest import ROOT, copy_run, history, run_python, script_error
from training import errors


# ---- signals ---------------------------------------------------------------------------------------------------

def test_a_swallowed_interrupt_is_raised_again():
    """A library that catches the KeyboardInterrupt of Ctrl-C does not keep the run going."""
    with errors.signals_as_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler runs here
        except KeyboardInterrupt:
            pass  # what a careless library does
        with pytest.raises(KeyboardInterrupt):
            errors.raise_if_signalled()
    with errors.signals_as_interrupt():  # the next main() starts clean
        errors.raise_if_signalled()


def test_ctrl_c_during_validation_stops_the_run_after_the_epoch_is_saved(tmp_path, monkeypatch, capsys):
    """Ctrl-C while the valid split is scored, swallowed there: the epoch is saved, the next one never starts.
    (On a short text: its valid split is read in a moment.)"""
    import training.recipe

    real = training.recipe.evaluate_perplexity

    def interrupted_validation(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt:
            pass  # lost, as the user saw it
        return real(*args, **kwargs)

    monkeypatch.setattr(training.recipe, "evaluate_perplexity", interrupted_validation)
    text = tmp_path / "text.txt"
    text.write_text("ROMEO: What light through yonder window breaks?\nJULIET: It is the east.\n" * 60)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        train_char_rnn.main(["--preset", "test", "--epochs", "2", "--steps-per-epoch", "5", "--text", str(text),
                             "--output-dir", str(out)])
    assert stop.value.code == 130
    captured = capsys.readouterr()
    assert "interrupted: epoch 1 is saved" in captured.err
    assert len(history(out)) == 1 and "Epoch 2" not in captured.out


def run_on_a_terminal(argv, stop_when, timeout=120):
    """`python argv` with stdout and stderr on one pseudo-terminal; SIGTERM once its output holds `stop_when`.

    Returns:
        (exit code, all output, seconds from SIGTERM to the end).
    """
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=follower, stderr=follower,
                               stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": ROOT})
    os.close(follower)
    output, signalled, deadline = b"", None, time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the other end closed: the process ended
                break
            if not chunk:
                break
            output += chunk
        if signalled is None and stop_when.encode() in output:
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
        if process.poll() is not None and not ready:
            break
    code = process.wait(timeout=60)
    os.close(leader)
    return code, output.decode("utf-8", "replace"), time.monotonic() - signalled if signalled else None


def test_sigterm_ends_a_long_sample_at_once_and_says_so_once(char_run):
    """sample.py streams its text (the first characters come long before the end), SIGTERM ends it within
    seconds, and on a terminal "interrupted" is printed once."""
    code, output, seconds = run_on_a_terminal(["sample.py", str(char_run[0]), "--length", "200000"], "e")
    assert code == 143, output[-2000:]
    assert output.count("interrupted") == 1 and seconds < 10, (seconds, output[-500:])


def test_the_streamed_text_is_the_decoded_sample(capsys):
    """Written token by token, the text equals Vocabulary.decode of the ids: words, spaces and line ends."""
    vocab = Vocabulary.of_words(["the", "cat", "sat", "a", "dog", EOS])
    ids = [vocab.index[w] for w in ("the", "cat", EOS, "a", EOS, EOS, "dog", "sat")]
    assert sample.write_as_drawn(iter(ids), vocab, len(ids)) == ids
    assert capsys.readouterr().out == vocab.decode(ids)


@pytest.mark.parametrize("length", ["1000000000000", "0", "-5"])
def test_an_absurd_length_is_refused(char_run, length, capsys):
    message = script_error(sample.main, [str(char_run[0]), "--length", length], capsys)
    assert "--length must lie between 1 and 1,000,000 tokens" in message


def test_a_long_scoring_shows_progress_with_an_estimate(capsys):
    import keras

    from training.progress import ScoringProgress

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(loss="mse")
    model.evaluate(np.zeros((400, 2)), np.zeros((400, 1)), batch_size=2, verbose=0,
                   callbacks=[ScoringProgress("reading in order", seconds=0)])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  reading in order: ")]
    assert lines and lines[0].startswith("  reading in order: batch 2/200, ") and lines[0].endswith(" s left")


# ---- run folders --------------------------------------------------------------------------------------------------

def test_resume_rebuilds_a_damaged_kept_model_from_the_checkpoint(char_run, tmp_path, capsys):
    """A finished run whose model.keras was truncated: --resume writes it again (the kept epoch is the last) and
    tests it as before."""
    run = copy_run(char_run, tmp_path / "run")
    whole = (run / "model.keras").read_bytes()
    (run / "model.keras").write_bytes(whole[: len(whole) // 2])
    results = train_char_rnn.main(["--output-dir", str(run), "--resume", "--data-dir", char_run[2],
                                   "--nanogpt-batches", "0"])
    assert "it was written again from the checkpoint of epoch 1" in capsys.readouterr().out
    assert results["test_nats"] == pytest.approx(char_run[1]["test_nats"], abs=1e-6)
    sampled = sample.main([str(run), "--length", "20"])
    assert len(sampled) == 20


def test_a_kept_model_the_checkpoint_cannot_rebuild_is_said_so(char_run, tmp_path, capsys):
    """Two epochs, the first kept: the checkpoint holds the second, so model.keras cannot be rebuilt from it."""
    from training.run import RunFolder, release_folders

    run = copy_run(char_run, tmp_path / "run")
    state = json.loads((run / "state.json").read_text())
    try:
        folder = RunFolder.open(str(run), state["settings"], resume=True)
        folder.config = train_char_rnn.PRESETS["test"]
        folder.history = [{**folder.history[0], "kept": True}, {**folder.history[0], "epoch": 2, "kept": False}]
        (run / "model.keras").write_bytes(b"not a zip")
        with pytest.raises(errors.UserError, match="the checkpoint holds epoch 2, and the kept model is epoch 1's"):
            folder.best_weights()
    finally:
        release_folders()


def test_a_finished_run_without_model_keras_says_how_to_get_it_back(char_run, tmp_path, capsys):
    run = copy_run(char_run, tmp_path / "run")
    (run / "model.keras").unlink()
    message = script_error(sample.main, [str(run)], capsys)
    assert "has finished epochs but no model.keras" in message and "--resume" in message
    assert "yet" not in message


def test_a_vocabulary_of_another_run_is_refused(char_run, ptb_run, tmp_path, capsys):
    run = copy_run(char_run, tmp_path / "run")
    (run / "vocab.json").write_text((ptb_run[0] / "vocab.json").read_text())
    for main in (explore.main, sample.main):
        message = script_error(main, [str(run)], capsys)
        assert "vocab.json holds 10,000 tokens, but the run's model predicts one of" in message
    assert not (run / "explore.html").exists()


def test_explore_refuses_a_data_dir_that_is_not_a_folder(char_run, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("x")
    message = script_error(explore.main, [str(char_run[0]), "--data-dir", str(tmp_path / "file.txt")], capsys)
    assert "is not a folder" in message


# ---- start-up ---------------------------------------------------------------------------------------------------

def test_jax_starts_without_the_start_up_lines():
    """Under JAX too, no "Could not find cuda drivers" or absl lines before a script's own output."""
    pytest.importorskip("jax", reason="jax is not installed")
    result = run_python("import sys, sample\nsample.main(['/no/such/run'])", env={"KERAS_BACKEND": "jax"})
    assert result.returncode == 2 and "does not exist" in result.stderr
    for noise in ("cuda drivers", "cuInit", "absl::InitializeLog", "WARNING: All log messages"):
        assert noise not in result.stderr, result.stderr


def test_one_blank_image_does_not_stop_the_others(mnist_run, tmp_path, capsys):
    """Nine images, one of them blank and one a folder: seven are classified and printed, the two are reported
    (each its paragraph), exit code 2."""
    import predict_mnist
    from PIL import Image

    from datasets import load_mnist

    (_, _), (x, _) = load_mnist(mnist_run[2])
    paths = []
    for k in range(7):
        paths.append(tmp_path / f"digit{k}.png")
        Image.fromarray(255 - x[k]).save(paths[-1])
    Image.fromarray(np.full((28, 28), 255, np.uint8)).save(tmp_path / "blank.png")
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(SystemExit) as stop:
        predict_mnist.main([str(mnist_run[0]), *map(str, paths[:3]), str(tmp_path / "blank.png"), *map(str, paths[3:]),
                            str(tmp_path / "folder.png")])
    captured = capsys.readouterr()
    assert stop.value.code == 2 and "Traceback" not in captured.err
    assert [line.split(":")[0] for line in captured.out.splitlines()] == list(map(str, paths))
    assert "blank.png is blank: it has no ink" in " ".join(captured.err.split())
    assert "folder.png is a folder; give the path of the image itself." in " ".join(captured.err.split())


def test_explore_notes_the_unknown_tokens_of_the_passage_it_shows(char_run, tmp_path, capsys):
    """--text longer than the page takes: the note counts and lists the unknown tokens of the part shown."""
    text = tmp_path / "long.txt"
    shown = "ROMEO: é ü\n" + "a" * (explore.MAX_PASSAGE - 11)
    text.write_text(shown + "ж ß ø å" * 100, encoding="utf-8")
    explore.main([str(char_run[0]), "--text", str(text), "--output", str(tmp_path / "page.html")])
    out = " ".join(capsys.readouterr().out.split())
    assert f"the first {explore.MAX_PASSAGE:,}" in out
    assert "2 tokens of the part placed in the page are not in the model's vocabulary" in out
    assert '"é", "ü".' in out and '"ж"' not in out
