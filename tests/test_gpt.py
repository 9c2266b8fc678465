"""The transformer of nanoGPT's shapes (models/gpt.py): parameter counts by hand, causality, saving."""

import numpy as np
import pytest

import keras

import models
from models import GPTSpec, build_model
from models.gpt import nanogpt_parameter_count


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
