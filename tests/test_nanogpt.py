"""nanoGPT's view of the char runs (training/nanogpt.py): its validation text, its windows estimate, both in a run."""

import functools

import numpy as np
import pytest

import keras

import sample
from datasets.batching import random_windows, sliding_windows
from models import LanguageModelSpec, build_model
from tests.conftest import script_error
from training import nanogpt


def test_validation_is_the_last_tenth_of_input_txt(data_dir):
    """nanoGPT's prepare.py: val = data[int(n * 0.9):] of the same input.txt: our valid split, then our test split."""
    import os

    from datasets import load_shakespeare

    text = open(os.path.join(data_dir, "tinyshakespeare", "input.txt"), encoding="utf-8").read()
    _, valid, test, vocabulary = load_shakespeare(data_dir)
    assert valid + test == text[int(len(text) * 0.9):]
    ids = nanogpt.validation_ids(vocabulary.encode(valid), vocabulary.encode(test))
    assert len(ids) == nanogpt.VAL_CHARS == 111_540
    assert vocabulary.decode(ids) == valid + test


def test_sliding_windows_score_every_prediction_once_with_half_a_window_of_context():
    ids = np.arange(1000, dtype=np.int32)
    for length, stride in ((64, 32), (64, 64), (50, 7), (999, 400)):
        x, y, w = sliding_windows(ids, length, stride)
        assert x.shape == y.shape == w.shape and x.shape[1] == length
        np.testing.assert_array_equal(y, x + 1)
        np.testing.assert_array_equal(np.sort(x[w > 0]), np.arange(999))  # each target once
        context = np.broadcast_to(np.arange(length), x.shape)[w > 0]  # positions within the window
        assert np.all((context >= length - stride) | (x[w > 0] < length))  # the first window has what there is


def test_windows_estimate_is_the_mean_cross_entropy_of_every_position(rng):
    """windows_nats against the same windows (same seed) scored by hand, each from a zero state."""
    spec = LanguageModelSpec(vocab_size=7, units=8, layers=1, embedding_size=4, init_scale=1.0)  # far from uniform
    build = functools.partial(build_model, spec)
    weights = build().get_weights()
    ids = rng.integers(0, 7, 500).astype(np.int32)
    nats = nanogpt.windows_nats(build, weights, ids, 16, batches=3, batch_size=4, seed=5)
    x, y = random_windows(ids, 12, 16, np.random.default_rng(5))
    model = build(batch_size=12, num_steps=16)
    model.set_weights(weights)
    logits = keras.ops.convert_to_numpy(model(x)).astype(np.float64)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    by_hand = -np.take_along_axis(log_p, y[..., None], -1).mean()
    assert nats == pytest.approx(by_hand, rel=1e-5)


@pytest.mark.slow  # nanoGPT's validation read twice, in order (batch 1) and in windows
def test_char_run_reports_nanogpts_validation_both_ways(char_run_scored, capsys):
    """results.json has both views; sample.py --evaluate-nanogpt gives the same figures for the saved run."""
    out, results, data = char_run_scored
    keys = ("nanogpt_val_carried", "nanogpt_val_windows_64", "nanogpt_val_windows_256")
    assert all(np.isfinite(results[key]) and 0 < results[key] < np.log(65) for key in keys)
    # read in order with the state carried: about the mean of the valid and the test pass (equal lengths)
    assert results["nanogpt_val_carried"] == pytest.approx((results["valid_nats"] + results["test_nats"]) / 2,
                                                           abs=0.01)
    again = sample.main([str(out), "--evaluate-nanogpt", "--nanogpt-batches", str(results["nanogpt_windows_batches"]),
                         "--data-dir", data])
    for key in keys:
        assert again[key] == pytest.approx(results[key], rel=1e-5), key
    assert "state carried" in capsys.readouterr().out


def test_evaluate_nanogpt_refuses_other_runs(ptb_run, capsys):
    message = script_error(sample.main, [str(ptb_run[0]), "--evaluate-nanogpt"], capsys)
    assert "Tiny Shakespeare" in message and "train_ptb.py" in message
