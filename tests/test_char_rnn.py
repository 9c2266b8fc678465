"""train_char_rnn.py and sample.py on real Tiny Shakespeare with the tiny `test` preset (the session's `char_run`).

Resuming is tests/test_resume.py, for every script.
"""

import collections
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import keras

import sample
import train_char_rnn
from tests.conftest import ROOT, history, script_error
from training.inference import Sampler, load_language_model, pick


def unigram_entropy_nats(text):
    counts = np.array(list(collections.Counter(text).values()), dtype=np.float64)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def test_short_run_beats_unigram_entropy_and_writes_artifacts(char_run):
    out, results, data = char_run
    from datasets import load_shakespeare

    train, valid, _, _ = load_shakespeare(data)
    row = history(out)[-1]
    assert float(row["valid_nats"]) < unigram_entropy_nats(train) - 0.3  # about 3.3 nats/char
    assert float(row["valid_bits"]) == pytest.approx(float(row["valid_nats"]) / math.log(2))
    assert results["test_nats"] < unigram_entropy_nats(train)
    for name in ("model.keras", "vocab.json", "config.json", "history.csv", "perplexity.png", "samples.txt",
                 "results.json"):
        assert (out / name).is_file(), name
    assert any((out / "tensorboard").iterdir())
    assert "=== epoch 1" in (out / "samples.txt").read_text()
    assert len(json.load(open(out / "vocab.json"))["tokens"]) == 65


def test_sample_command_in_fresh_process(char_run, capsys):
    """`python sample.py` as a user runs it: the text; the same text for the same seed in another process (this
    one), another for another seed; and on TensorFlow none of TensorFlow's start-up noise."""
    out, _, _ = char_run
    argv = [str(out), "--prime", "ROMEO:", "--length", "200", "--seed", "7", "--temperature", "0.9"]
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    result = subprocess.run([sys.executable, "sample.py", *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout[:-1]  # print() adds the final newline
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 200
    capsys.readouterr()
    ids = sample.main(argv)
    assert capsys.readouterr().out == result.stdout  # a fixed seed gives the same text
    tokens = json.load(open(out / "vocab.json"))["tokens"]
    assert "".join(tokens[i] for i in ids) == text[len("ROMEO:"):]  # the ids returned are the text printed
    sample.main(argv[:-3] + ["8"] + argv[-2:])
    assert capsys.readouterr().out != result.stdout
    if keras.backend.backend() == "tensorflow":
        for noise in ("cuda drivers", "cuInit", "absl::InitializeLog", "This TensorFlow binary is optimized"):
            assert noise not in result.stderr


def test_stateful_sampling_equals_reading_the_whole_prefix(char_run):
    out, _, _ = char_run
    model, vocab = load_language_model(str(out))  # any batch size and length, not stateful
    prefix = vocab.encode("KING RICHARD III:\nNow is the winter")
    sampler, _ = Sampler.from_run(str(out))  # batch 1, one step, stateful
    sampler.reset()
    for token in prefix:
        stepped = sampler.feed(int(token))
    whole = keras.ops.convert_to_numpy(model(prefix[None, :]))[0, -1]
    np.testing.assert_allclose(stepped, whole, atol=1e-4)


def test_greedy_and_top_k(char_run):
    out, _, _ = char_run
    greedy = [sample.main([str(out), "--prime", "A", "--length", "30", "--greedy", "--seed", str(s)]) for s in (1, 2)]
    assert greedy[0] == greedy[1]
    top_1 = sample.main([str(out), "--prime", "A", "--length", "30", "--top-k", "1", "--temperature", "2", "--seed", "5"])
    assert top_1 == greedy[0]  # the only token left is the likeliest one
    # ... the likeliest by the model read whole (not stateful), the prime and each greedy choice so far
    model, vocab = load_language_model(str(out))
    ids, compared = list(vocab.encode("A")), 0
    for chosen in greedy[0]:
        logits = keras.ops.convert_to_numpy(model(np.array([ids], np.int32)))[0, -1]
        second, first = np.sort(logits)[-2:]
        if first - second < 1e-3:
            break  # a near tie: float rounding may pick either
        assert chosen == int(np.argmax(logits)), ids
        ids.append(chosen)
        compared += 1
    assert compared >= 10


def test_top_k_never_picks_outside_the_k_largest_logits():
    logits = np.array([0.5, 3.0, -1.0, 2.9, 2.8, 2.7, 0.0])
    rng = np.random.default_rng(0)
    picks = [pick(logits, 5.0, 3, False, rng) for _ in range(600)]  # a high temperature flattens the three
    assert set(picks) == {1, 3, 4}
    assert set(pick(logits, 5.0, 0, False, rng) for _ in range(600)) == set(range(7))  # without top-k: all


def test_evaluate_file(char_run, tmp_path, capsys):
    out, _, data = char_run
    from datasets import load_shakespeare

    path = tmp_path / "valid.txt"
    path.write_text(load_shakespeare(data)[1])
    nats = sample.main([str(out), "--evaluate", str(path)])
    valid_nats = float(history(out)[-1]["valid_nats"])
    assert nats == pytest.approx(valid_nats, rel=1e-4)
    assert "nats/char" in capsys.readouterr().out
    unseen = tmp_path / "unseen.txt"  # characters the model never saw are left out, and said
    unseen.write_text("ж" + load_shakespeare(data)[1][:3000] + "€€")
    seen = tmp_path / "seen.txt"
    seen.write_text(load_shakespeare(data)[1][:3000])
    assert sample.main([str(out), "--evaluate", str(unseen)]) == sample.main([str(out), "--evaluate", str(seen)])
    assert "3 characters of" in capsys.readouterr().err


def test_random_windows_layout():
    from datasets.batching import epoch_rows, stream_steps

    ids = np.arange(5000, dtype=np.int32)
    batch, steps = 16, 20

    def rows(steps_per_epoch=3, layout="streams", epoch=0):
        return epoch_rows(ids, batch, steps, steps_per_epoch, layout, np.random.default_rng([0, epoch]))

    streams = rows()
    assert streams[0].shape == (3 * batch, steps)
    assert stream_steps(len(ids), batch, steps) == 15  # 5000 // 16 = 312 per row: (312 − 1) // 20 steps
    assert len(rows(steps_per_epoch=0)[0]) == len(rows(steps_per_epoch=99)[0]) == 15 * 16
    x, y = rows(layout="windows")
    assert x.shape == streams[0].shape
    np.testing.assert_array_equal(y, x + 1)  # each window is a stretch of the text, y the next characters
    np.testing.assert_array_equal(np.diff(x, axis=1), 1)
    np.testing.assert_array_equal(rows(layout="windows")[0], x)  # same (seed, epoch): same windows (resume)
    assert not np.array_equal(rows(layout="windows", epoch=1)[0], x)
    assert len(rows(steps_per_epoch=40, layout="windows")[0]) == 40 * batch  # windows: as many steps as asked


def test_bad_input(char_run, tmp_path, capsys):
    out, _, _ = char_run
    message = script_error(sample.main, [str(out), "--prime", "Hello ☃ world€"], capsys)
    assert "'☃'" in message and "'€'" in message and "not in the model's vocabulary" in message
    assert "does not exist" in script_error(sample.main, [str(tmp_path / "nowhere")], capsys)
    for temperature in ("0", "-1", "inf", "nan", "1e-320"):
        assert "--temperature must lie between" in script_error(sample.main, [str(out), "--temperature", temperature], capsys)
    (tmp_path / "empty").mkdir()
    assert "it is not a run folder" in script_error(sample.main, [str(tmp_path / "empty")], capsys)
    assert "invalid choice: 'xl'" in script_error(train_char_rnn.main, ["--preset", "xl"], capsys)
    assert "--num-steps must be at least 1" in script_error(train_char_rnn.main, ["--num-steps", "0"], capsys)


def test_ptb_style_word_sampling_uses_the_same_command(ptb_run, capsys):
    out, _, _ = ptb_run
    capsys.readouterr()
    ids = sample.main([str(out), "--prime", "the company said", "--length", "12", "--seed", "3"])
    assert len(ids) == 12
    sampler, vocab = Sampler.from_run(str(out))  # the prime is three words, no <eos> after them
    assert ids == sampler.generate(vocab.encode(["the", "company", "said"]), 12, seed=3)
    assert capsys.readouterr().out == "the company said " + vocab.decode(ids) + "\n"
