"""The transformer of nanoGPT's shapes (models/gpt.py): parameter counts by hand, causality, saving; trained by
train_char_rnn.py's recipe (the session's `gpt_run`, the `gpt-test` preset), sampled and scored.

Resuming it is tests/test_resume.py's "char-gpt" case.
"""

import json
import math

import numpy as np
import pytest

import keras

import models
import sample
import train_char_rnn
from models import GPTSpec, build_model
from models.gpt import nanogpt_parameter_count
from tests.conftest import history, script_error
from training.inference import ContextSampler, Sampler, load_language_model
from training.schedule import WarmupCosine


def nanogpt_count(vocab, layers, width):
    """nanoGPT's get_num_params() by hand (position embeddings left out, as it leaves them out):

    token embedding, tied to the output:       vocab · width
    per block: LayerNorm gain                   width
               c_attn (q, k, v)                 width · 3·width
               c_proj                           width · width
               LayerNorm gain                   width
               MLP c_fc, c_proj                 width · 4·width + 4·width · width
    final LayerNorm gain                        width
    no biases anywhere (bias=False)
    """
    block = width + 3 * width * width + width * width + width + 8 * width * width
    return vocab * width + layers * block + width


@pytest.mark.parametrize("layers, width, heads, block, expected", [
    (4, 128, 4, 64, 795_904),       # nanoGPT's CPU "baby": 65·128 + 4·(12·128² + 2·128) + 128
    (6, 384, 6, 256, 10_646_784),   # shakespeare_char on a GPU: 65·384 + 6·(12·384² + 2·384) + 384
])
def test_parameter_counts_equal_nanogpts(layers, width, heads, block, expected):
    assert nanogpt_count(65, layers, width) == expected
    assert 65 * width + layers * (12 * width**2 + 2 * width) + width == expected  # the same, gathered
    model = build_model(GPTSpec(vocab_size=65, layers=layers, width=width, heads=heads, block_size=block))
    assert nanogpt_parameter_count(model) == expected
    assert model.count_params() == expected + block * width  # and the learned positions beside them
    # one token table, used twice (input and output); no bias anywhere, LayerNorm a gain only
    assert sum(1 for v in model.weights if v.path.endswith("embeddings")) == 1
    assert not [v.path for v in model.weights if "bias" in v.path or "beta" in v.path]


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_attention_is_causal(dropout, rng):
    """Changing the tokens from position 9 on changes no logit before position 9 (and does change the later ones)."""
    spec = GPTSpec(vocab_size=11, layers=2, width=24, heads=3, block_size=16, dropout=dropout)
    model = build_model(spec)
    x = rng.integers(0, 11, (4, 16)).astype("int32")
    changed = x.copy()
    changed[:, 9:] = (changed[:, 9:] + 1 + rng.integers(0, 10, (4, 7))) % 11
    before, after = (keras.ops.convert_to_numpy(model(tokens)) for tokens in (x, changed))
    np.testing.assert_allclose(before[:, :9], after[:, :9], atol=1e-6)
    assert np.abs(before[:, 9:] - after[:, 9:]).max() > 1e-3
    # a shorter window gives the same logits as the start of a longer one
    short = build_model(spec, batch_size=4, num_steps=5)
    short.set_weights(model.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(short(x[:, :5])), before[:, :5], atol=1e-5)


def test_saved_and_reloaded(tmp_path, rng):
    spec = GPTSpec(vocab_size=9, layers=1, width=16, heads=2, block_size=8, dropout=0.1, seed=4)
    model = build_model(spec)
    x = rng.integers(0, 9, (2, 8)).astype("int32")
    model.save(tmp_path / "gpt.keras")
    reloaded = models.load_model(str(tmp_path / "gpt.keras"))  # get_config of every layer of models/gpt.py
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded(x)), keras.ops.convert_to_numpy(model(x)))
    assert models.spec_from_dict({**spec.__dict__}) == spec
    again = build_model(spec)  # the same seed, the same initial weights
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), again.get_weights()))


def test_no_state_and_no_longer_context_than_the_block():
    spec = GPTSpec(vocab_size=9, layers=1, width=16, heads=2, block_size=8)
    with pytest.raises(ValueError, match="no state"):
        build_model(spec, batch_size=1, num_steps=1, stateful=True)
    with pytest.raises(ValueError, match="at most block_size = 8"):
        build_model(spec, batch_size=1, num_steps=9)


def test_warmup_then_cosine_is_nanogpts_get_lr():
    """nanoGPT's get_lr(it) written out for its baby config (1e-3 → 1e-4, warm-up 100, decay over 2,000)."""
    def get_lr(it, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, lr_decay_iters=2000):
        if it < warmup_iters:
            return learning_rate * (it + 1) / (warmup_iters + 1)
        if it > lr_decay_iters:
            return min_lr
        decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
        return min_lr + 0.5 * (1.0 + math.cos(math.pi * decay_ratio)) * (learning_rate - min_lr)

    schedule = WarmupCosine(1e-3, 1e-4, 100, 2000)
    for step in (0, 1, 50, 99, 100, 101, 700, 1999, 2000, 2500):
        assert float(keras.ops.convert_to_numpy(schedule(step))) == pytest.approx(get_lr(step), rel=1e-5), step


def test_gpt_baby_long_is_the_baby_over_a_longer_cosine():
    import dataclasses

    baby, long = (dataclasses.asdict(train_char_rnn.PRESETS[name]) for name in ("gpt-baby", "gpt-baby-long"))
    assert {key for key in baby if baby[key] != long[key]} == {"epochs", "cosine_steps"}
    assert long["epochs"] * long["steps_per_epoch"] == long["cosine_steps"] == 8 * baby["cosine_steps"]
    assert baby["epochs"] * baby["steps_per_epoch"] == baby["cosine_steps"] == 2000  # nanoGPT's max_iters


def test_gpt_run_trains_samples_and_reports_nanogpts_view(gpt_run):
    out, results, _ = gpt_run
    rows = history(out)
    valid = [float(row["valid_nats"]) for row in rows]
    assert len(valid) == 2 and valid[1] < valid[0] < 3.0  # the unigram entropy is about 3.3 nats
    settings = json.load(open(out / "config.json"))
    assert settings["model"]["kind"] == "gpt" and settings["model"]["block_size"] == 32
    # the learning rate of each epoch's start: warmed up over 10 steps, then the cosine from 5e-3 over 300 steps
    assert float(rows[0]["learning_rate"]) == pytest.approx(5e-3 / 11, rel=1e-4)
    assert float(rows[1]["learning_rate"]) == pytest.approx(
        5e-4 + 0.5 * (1 + math.cos(math.pi * 140 / 290)) * 4.5e-3, rel=1e-4)
    assert results["test_nats"] < 3.0 and results["nanogpt_val_sliding"] < 3.0
    assert set(results) >= {"nanogpt_val_sliding", "nanogpt_val_windows_32"}
    assert "nanogpt_val_windows_64" not in results  # longer than its block
    for name in ("model.keras", "vocab.json", "history.csv", "perplexity.png", "samples.txt", "results.json"):
        assert (out / name).is_file(), name
    assert "=== epoch 2" in (out / "samples.txt").read_text()


def test_gpt_sampler_crops_the_context_to_the_block(gpt_run, capsys):
    out, _, _ = gpt_run
    sampler, vocabulary = Sampler.from_run(str(out))
    assert isinstance(sampler, ContextSampler) and sampler.block_size == 32
    model, _ = load_language_model(str(out))  # any length up to the block
    prime = vocabulary.encode("KING RICHARD III:\nNow is the winter of our discontent")  # longer than the block
    sampler.reset()
    for token in prime:
        stepped = sampler.feed(int(token))
    whole = keras.ops.convert_to_numpy(model(prime[None, -32:]))[0, -1]  # the last 32 characters, read at once
    np.testing.assert_allclose(stepped, whole, atol=1e-4)
    ids = sample.main([str(out), "--prime", "ROMEO:", "--length", "80", "--seed", "3"])
    assert len(ids) == 80 and capsys.readouterr().out.startswith("ROMEO:")
    assert ids == sample.main([str(out), "--prime", "ROMEO:", "--length", "80", "--seed", "3"])


def test_gpt_run_scored_again(gpt_run, tmp_path, capsys):
    """sample.py --evaluate-nanogpt and --evaluate FILE read a transformer in its windows."""
    out, results, data = gpt_run
    again = sample.main([str(out), "--evaluate-nanogpt", "--nanogpt-batches", "2", "--data-dir", data])
    for key in ("nanogpt_val_sliding", "nanogpt_val_windows_32"):
        assert again[key] == pytest.approx(results[key], rel=1e-5), key
    from datasets import load_shakespeare

    path = tmp_path / "test.txt"
    path.write_text(load_shakespeare(data)[2])
    assert sample.main([str(out), "--evaluate", str(path)]) == pytest.approx(results["test_nats"], rel=1e-5)


def test_gpt_user_errors(gpt_run, capsys):
    message = script_error(train_char_rnn.main, ["--preset", "gpt-test", "--batch-layout", "streams"], capsys)
    assert "no state to carry" in message
    assert "Leave them out" in script_error(train_char_rnn.main, ["--preset", "gpt-test", "--cell", "builtin"], capsys)
    import explore

    assert "is of the transformer family" in script_error(explore.main, [str(gpt_run[0])], capsys)


def test_a_text_too_short_for_the_transformers_windows_is_one_paragraph(tmp_path, capsys):
    path = tmp_path / "small.txt"
    path.write_text("to be or not to be, that is the question\n" * 30)  # its valid split: 60 characters
    out = tmp_path / "run"
    message = script_error(train_char_rnn.main, ["--preset", "gpt-baby", "--text", str(path), "--output-dir",
                                                 str(out)], capsys)
    assert "the valid split of" in message and "at least 65" in message and not out.exists()
    assert "--nanogpt-batches is a number" in script_error(train_char_rnn.main, ["--nanogpt-batches", "-1"], capsys)
