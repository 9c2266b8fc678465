"""nanoGPT's view of the char runs (training/nanogpt.py): its validation text, its windows estimate, both in a run."""

import functools

import numpy as np
import pytest

import keras

import sample
from datasets.batching import random_windows, sliding_windows
from models import GPTSpec, LanguageModelSpec, build_model
from tests.conftest import script_error
from training import nanogpt, scoring


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


def nats_by_hand(model, x, y, weight=None):
    """The weighted mean cross-entropy of model(x) against y, in float64."""
    logits = keras.ops.convert_to_numpy(model(x)).astype(np.float64)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_p, y[..., None], -1)[..., 0]
    weight = np.ones_like(nll) if weight is None else weight
    return (nll * weight).sum() / weight.sum()


def test_in_order_reads_score_each_prediction_once(rng):
    """The carried read pads its last row and the sliding read overlaps its windows: both leave those predictions
    out by weight, so the figure is the mean over the text's predictions, whatever the window (a metric compiled
    without `weighted_metrics` would count them)."""
    ids = rng.integers(0, 7, 300).astype(np.int32)
    lstm = LanguageModelSpec(vocab_size=7, units=8, layers=1, embedding_size=4, init_scale=1.0)
    build = functools.partial(build_model, lstm)
    weights = build().get_weights()
    whole = build(batch_size=1, num_steps=len(ids) - 1)
    whole.set_weights(weights)
    by_hand = nats_by_hand(whole, ids[None, :-1], ids[None, 1:])
    for num_steps in (13, 40, 120):  # 299 predictions: last rows of 0, 21 and 61 padded steps
        assert scoring.carried_nats(build, weights, ids, num_steps) == pytest.approx(by_hand, rel=1e-5), num_steps

    gpt = GPTSpec(vocab_size=7, layers=1, width=8, heads=2, block_size=32)
    build = functools.partial(build_model, gpt)
    weights = build().get_weights()
    x, y, w = sliding_windows(ids, 32, 16)
    model = build(num_steps=32)
    model.set_weights(weights)
    by_hand = nats_by_hand(model, x, y, w)
    assert scoring.sliding_nats(build, weights, ids, 32) == pytest.approx(by_hand, rel=1e-5)
    assert by_hand != pytest.approx(nats_by_hand(model, x, y), rel=1e-4)  # the weights matter


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
    assert nats == pytest.approx(nats_by_hand(model, x, y), rel=1e-5)


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
