"""Every script on the JAX backend, in a fresh process where TensorFlow cannot be imported (one for every test).

That is how a GPU is used here (a machine with JAX and no TensorFlow). CI runs
this file in its JAX stage; without jax installed it is skipped.
"""

import importlib.util

import numpy as np
import pytest

from tests.conftest import python_result, required_data_dir, write_corpus

# Each test trains several models in a fresh JAX process: the slow tier.
pytestmark = [pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed"),
              pytest.mark.slow]

# In the child process, importing tensorflow fails as on a machine without it, and every attempt is
# recorded with the file that made it. Keras (set_random_seed) and tensorboard (its event writer) try it
# and fall back; this project's code must not try at all.
WITHOUT_TENSORFLOW = """
import importlib.abc, sys
ATTEMPTS = []
class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            frame = sys._getframe(1)
            while frame.f_code.co_filename.startswith("<frozen") or "importlib" in frame.f_code.co_filename:
                frame = frame.f_back
            ATTEMPTS.append(frame.f_code.co_filename)
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None
sys.meta_path.insert(0, NoTensorFlow())
"""


@pytest.fixture(scope="module")
def on_jax(tmp_path_factory):
    """One fresh JAX process where TensorFlow cannot be imported, for every test here: the three scripts trained,
    sampled, predicted and explored; the per-batch hooks; --source tfds refused. Returns (its RESULT, its folder)."""
    from PIL import Image

    from datasets import load_mnist

    data_dir, tmp_path = required_data_dir(), tmp_path_factory.mktemp("jax")
    (_, _), (x, y) = load_mnist(data_dir)
    digits = []
    for k in range(4):
        digits.append(str(tmp_path / f"digit{k}.png"))
        Image.fromarray(x[k]).save(digits[-1])
    # the hooks' runs: 200 steps of the test and the awd-test preset on a small corpus (their race is in the steps)
    corpus = write_corpus(tmp_path / "corpus", lines=2600)
    common = f"'--data-dir', r'{data_dir}', '--epochs', '1'"
    code = WITHOUT_TENSORFLOW + f"""
import json, keras
assert keras.backend.backend() == "jax"
import train_ptb, train_char_rnn, train_mnist_bilstm, sample, predict_mnist, explore
ptb = train_ptb.main(['--preset', 'test', '--steps-per-epoch', '40', {common}, '--output-dir', r'{tmp_path / "ptb"}',
                     '--matmul-precision', 'highest'])
import jax
matmul_precision = jax.config.jax_default_matmul_precision
char = train_char_rnn.main(['--preset', 'test', '--steps-per-epoch', '40', '--nanogpt-batches', '0', {common},
                            '--output-dir', r'{tmp_path / "char"}'])
mnist = train_mnist_bilstm.main(['--preset', 'test', '--steps-per-epoch', '60', {common},
                                 '--output-dir', r'{tmp_path / "mnist"}'])
words = sample.main([r'{tmp_path / "ptb"}', '--prime', 'the company', '--length', '5', '--seed', '1'])
chars = sample.main([r'{tmp_path / "char"}', '--prime', 'ROMEO:', '--length', '20', '--seed', '1'])
predicted = predict_mnist.main([r'{tmp_path / "mnist"}'] + {digits!r})
page = explore.main([r'{tmp_path / "char"}', '--output', r'{tmp_path / "char.html"}'])
import models
from datasets import load_mnist
(_, _), (x, _) = load_mnist(r'{data_dir}')
probabilities = models.load_model(r'{tmp_path / "mnist" / "model.keras"}').predict(x[:4] / 255.0, verbose=0)
scripts_attempts = list(ATTEMPTS)  # the attempts of the scripts above (the tests below may make their own)

from training.language_model import EpochTimer, PerplexityFromLoss
from training.progress import ProgressLines
hooks = keras.callbacks.CallbackList([PerplexityFromLoss(5), EpochTimer(), ProgressLines()])
hooked = [train_ptb.main(['--preset', preset, '--steps-per-epoch', '200', '--epochs', '1', '--corpus', r'{corpus}',
                          '--output-dir', r'{tmp_path}/hooks-' + preset]) for preset in ('test', 'awd-test')]

import contextlib, io
err = io.StringIO()
with contextlib.redirect_stderr(err):
    try:
        train_mnist_bilstm.main(['--preset', 'test', '--source', 'tfds', '--output-dir', r'{tmp_path / "tfds"}'])
    except SystemExit as exit:
        tfds_exit = exit.code
print("RESULT", json.dumps({{"ptb": ptb["test_perplexity"], "char": char["test_nats"],
                            "mnist": mnist["test_accuracy"], "words": len(words), "chars": len(chars),
                            "predicted": predicted, "expected": probabilities.argmax(1).tolist(),
                            "expected_probability": probabilities.max(1).tolist(),
                            "matmul_precision": matmul_precision, "tensorflow_imports": scripts_attempts,
                            "async": hooks._async_train, "hooked": [r["test_perplexity"] for r in hooked],
                            "tfds": {{"exit": tfds_exit, "err": err.getvalue()}}}}))
"""
    return python_result(code, env={"KERAS_BACKEND": "jax"}), tmp_path


def test_every_script_runs_on_jax_without_tensorflow(on_jax):
    found, tmp_path = on_jax
    assert found["tensorflow_imports"], "the blocker saw no attempt at all: it is not working"
    ours = [path for path in found["tensorflow_imports"] if "site-packages" not in path]
    assert ours == []  # only Keras and tensorboard tried (and fell back), never this project
    assert 1 < found["ptb"] < 10_000  # finite and well under the vocabulary size
    assert 0 < found["char"] < np.log(65)  # better than uniform over the 65 characters
    assert found["mnist"] > 0.5
    assert found["matmul_precision"] == "highest"  # --matmul-precision set JAX's
    assert found["words"] == 5 and found["chars"] == 20
    # predict_mnist read the PNGs back to the test images: its classes and probabilities are the model's own
    assert [digit for digit, _ in found["predicted"]] == found["expected"]
    assert [p for _, p in found["predicted"]] == pytest.approx(found["expected_probability"], rel=1e-5)
    assert '"tokens"' in (tmp_path / "char.html").read_text(encoding="utf-8")  # the explorer's page, written on JAX
    for run in ("ptb", "char", "mnist"):  # every artifact, TensorBoard logs included
        assert (tmp_path / run / "model.keras").is_file()
        assert any((tmp_path / run / "tensorboard").iterdir()), run


def test_batch_hooks_run_off_the_step_loop_on_jax(on_jax):
    """On JAX the scripts' per-batch callbacks are dispatched asynchronously (the GPU never waits for them),
    and training with them runs to the end: reading the model's variables from Keras' callback thread raced
    the step loop ("Buffer has been deleted or donated", within 30 steps of the `test` preset)."""
    found, tmp_path = on_jax
    assert found["async"] is True
    assert all(1 < perplexity < 10_000 for perplexity in found["hooked"])
    history = (tmp_path / "hooks-awd-test" / "history.csv").read_text().splitlines()
    assert len(history) == 2  # the awd-test run (AR/TAR's penalty read at the epoch's end) finished its epoch


def test_source_tfds_on_jax_without_tensorflow_is_a_clear_error(on_jax):
    found, tmp_path = on_jax
    assert found["tfds"]["exit"] == 2 and "Traceback" not in found["tfds"]["err"]
    assert "TensorFlow, which is not installed" in " ".join(found["tfds"]["err"].split())
    assert not (tmp_path / "tfds").exists()
