"""train_ptb.py on real PTB with the tiny `test` preset: artifacts, reload, state, Ctrl-C, errors.

Resuming (the same numbers as an uninterrupted run) is tests/test_resume.py, for every script.
"""

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import keras

import train_ptb
from models import LanguageModelSpec, build_model
from tests.conftest import ROOT, history, script_error, write_corpus
from datasets.batching import stream_rows, whole_stream_rows
from training.language_model import compile_evaluator, evaluate_perplexity
from training.schedule import learning_rate


def test_end_to_end_artifacts_and_perplexity(ptb_run):
    out, results, _ = ptb_run
    for name in ("model.keras", "config.json", "vocab.json", "history.csv", "perplexity.png", "state.json",
                 "results.json"):
        assert (out / name).is_file(), name
    assert any((out / "tensorboard").iterdir())
    rows = history(out)
    assert len(rows) == 1 and float(rows[0]["learning_rate"]) == 1.0
    valid = float(rows[0]["valid_perplexity"])
    assert math.isfinite(results["test_perplexity"]) and results["test_perplexity"] < 2_000  # uniform: 10,000
    assert valid < 2_000 and float(rows[0]["words_per_second"]) > 0
    # results.json is what main returned, and its valid figure is the kept epoch's row
    assert json.load(open(out / "results.json")) == results
    assert results["best_epoch"] == 1 and results["valid_perplexity"] == pytest.approx(valid, rel=1e-6)
    assert results["vocabulary_size"] == 10_000 and results["unknown_words"] == {"train": 0, "valid": 0, "test": 0}
    vocab = json.load(open(out / "vocab.json"))
    assert vocab["type"] == "words" and len(vocab["tokens"]) == 10_000 and vocab["tokens"][:3] == ["the", "<unk>", "<eos>"]
    settings = json.load(open(out / "config.json"))
    assert settings["config"]["num_steps"] == 2 and settings["model"]["vocab_size"] == 10_000
    assert settings["config"]["steps_per_epoch"] == 300 and settings["seed"] == 1


def test_tensorboard_logs_hold_the_epoch_figures(ptb_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, _, _ = ptb_run
    logs = EventAccumulator(str(out / "tensorboard"))
    logs.Reload()
    valid = float(history(out)[0]["valid_perplexity"])
    [event] = logs.Scalars("valid_perplexity")
    assert event.step == 1 and event.value == pytest.approx(valid, rel=1e-6)


@pytest.mark.slow  # a fresh process reads PTB's valid split
def test_saved_model_reloads_in_fresh_process_with_same_valid_perplexity(ptb_run, shared_runs_in_fresh_process):
    out, _, _ = ptb_run
    expected = float(history(out)[-1]["valid_perplexity"])
    found = shared_runs_in_fresh_process["ptb"]  # load_language_model and PTB's valid split there
    assert found["valid_perplexity"] == pytest.approx(expected, rel=1e-5)


def test_carried_state_differs_from_reset_and_matches_one_long_call():
    spec = LanguageModelSpec(vocab_size=50, units=8, layers=2, embedding_size=8, init_scale=0.5, seed=3)
    ids = np.random.default_rng(0).integers(0, 50, size=61).astype(np.int32)
    whole = build_model(spec, batch_size=1, num_steps=60)
    stepper = compile_evaluator(build_model(spec, batch_size=1, num_steps=5, stateful=True))
    stepper.set_weights(whole.get_weights())
    x, y = stream_rows(ids, 1, 5)
    carried = evaluate_perplexity(stepper, x, y, 1)
    one_call = keras.ops.convert_to_numpy(whole(ids[None, :60]))[0]
    nll = -np.log(np.exp(one_call - one_call.max(-1, keepdims=True)) / np.exp(one_call - one_call.max(-1, keepdims=True)).sum(-1, keepdims=True))[np.arange(60), ids[1:]]
    assert carried == pytest.approx(float(np.exp(nll.mean())), rel=1e-4)
    reset_each_batch = np.exp(np.mean([math.log(evaluate_perplexity(stepper, x[i:i + 1], y[i:i + 1], 1)) for i in range(len(x))]))
    assert abs(reset_each_batch - carried) / carried > 1e-3


def test_whole_stream_rows_cover_every_prediction():
    x, y, w = whole_stream_rows(np.arange(10), 4)
    assert x.shape == (3, 4) and w.sum() == 9
    np.testing.assert_array_equal(x.ravel()[:9], np.arange(9))
    np.testing.assert_array_equal(y.ravel()[:9], np.arange(1, 10))


def test_learning_rate_schedules():
    import train_char_rnn
    import train_mnist_bilstm

    small = train_ptb.PRESETS["small"]
    assert [learning_rate(small, e) for e in range(6)] == [1, 1, 1, 1, 0.5, 0.25]
    book = train_ptb.Config(lr_schedule="book")
    assert [learning_rate(book, e) for e in range(13)] == [1] * 13
    char = train_char_rnn.PRESETS["small"]  # 2e-3, ×0.85 per epoch after epoch 6
    assert [learning_rate(char, e) for e in (0, 5, 6, 7)] == pytest.approx([2e-3, 2e-3, 2e-3 * 0.85, 2e-3 * 0.85**2])
    mnist = train_mnist_bilstm.PRESETS["default"]  # cosine over 20 epochs: 2e-3, then half at epoch 10
    assert [learning_rate(mnist, e) for e in (0, 10)] == pytest.approx([2e-3, 1e-3])


@pytest.mark.slow  # three epochs of 3,000 steps in a fresh process, interrupted
def test_ctrl_c_keeps_finished_epochs_and_resume_finishes(tmp_path, data_dir):
    # a corpus of 3,300 steps of 20 × 2 words (not PTB: the stopping is the point, not PTB's figures), 13 words
    corpus = write_corpus(tmp_path / "corpus", lines=19_000)
    out = tmp_path / "run"
    command = [sys.executable, "train_ptb.py", "--preset", "test", "--steps-per-epoch", "3000", "--epochs", "3",
               "--corpus", str(corpus), "--data-dir", data_dir, "--output-dir", str(out)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": ROOT})
    deadline = time.time() + 300
    while not (out / "state.json").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the run finished before it could be interrupted")
    assert process.returncode == 130 and "--resume" in err and "Traceback" not in err
    state = json.load(open(out / "state.json"))
    assert state["epoch"] in (1, 2) and (out / state["checkpoint"]).is_file()
    assert not [p for p in os.listdir(out) if p.startswith(".tmp-")]
    resumed = train_ptb.main(["--resume", "--output-dir", str(out), "--data-dir", data_dir])
    assert math.isfinite(resumed["test_perplexity"])
    assert len(history(out)) == 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--preset", "huge"], "--preset: invalid choice: 'huge'"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--num-steps", "-3"], "--num-steps must be at least 1"),
        (["--cell", "lstm2"], "--cell: invalid choice: 'lstm2'"),
    ],
)
def test_bad_arguments(argv, message, capsys):
    assert message in script_error(train_ptb.main, argv, capsys)


def test_missing_data_is_a_clear_error(tmp_path, capsys, offline, isolated_data_env):
    (tmp_path / "empty").mkdir()
    message = script_error(train_ptb.main, ["--preset", "test", "--data-dir", str(tmp_path / "empty"),
                                            "--output-dir", str(tmp_path / "run")], capsys)
    assert "ptb.train.txt" in message and "--data-dir" in message


def test_resume_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    message = script_error(train_ptb.main, ["--resume", "--output-dir", str(tmp_path)], capsys)
    assert "not a run folder" in message
    assert (tmp_path / "notes.txt").read_text() == "hello"


def test_existing_run_is_not_overwritten(ptb_run, capsys):
    out, _, data = ptb_run
    before = (out / "history.csv").read_bytes()
    message = script_error(train_ptb.main, ["--preset", "test", "--output-dir", str(out), "--data-dir", data], capsys)
    assert "already holds a run" in message and (out / "history.csv").read_bytes() == before
