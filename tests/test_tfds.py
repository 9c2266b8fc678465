"""`--source tfds`: tensorflow-datasets' mnist and tiny_shakespeare, prepared offline from the verified files.

The data sets are prepared once per module in a temporary TFDS folder from ../shared/data (TFDS' manual
directory: no network), then compared with the default reader and trained from.
"""

import hashlib
import json
import os
import sys

import numpy as np
import pytest

import train_char_rnn
import train_mnist_bilstm
from datasets import load_mnist, load_shakespeare
from datasets.tfds_source import load_mnist_tfds, load_shakespeare_tfds
from tests.conftest import required_data_dir, script_error

tfds_missing = pytest.mark.skipif(
    __import__("importlib").util.find_spec("tensorflow_datasets") is None,
    reason="tensorflow-datasets is not installed (pip install -r requirements.txt)")


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    """A TFDS data folder holding mnist and tiny_shakespeare, prepared from the verified files."""
    data_dir, folder = required_data_dir(), tmp_path_factory.mktemp("tfds")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LSTM_OFFLINE", "1")  # prepared from data_dir or not at all
        load_shakespeare_tfds(str(folder), data_dir)
        load_mnist_tfds(str(folder), data_dir)
    return str(folder)


def image_keys(images):
    return [hashlib.sha1(image.tobytes()).hexdigest() for image in images]


@tfds_missing
@pytest.mark.slow
def test_tiny_shakespeare_from_tfds_is_the_same_text(tfds_dir, data_dir):
    *ours, vocabulary = load_shakespeare(data_dir)
    *theirs, their_vocabulary = load_shakespeare_tfds(tfds_dir, data_dir)
    assert [len(split) for split in theirs] == [1_003_854, 55_770, 55_770]
    assert theirs == ours  # character for character, split for split
    assert their_vocabulary == vocabulary and len(vocabulary) == 65


@tfds_missing
@pytest.mark.slow
def test_mnist_from_tfds_is_the_same_images_with_the_same_labels(tfds_dir, data_dir):
    ours, theirs = load_mnist(data_dir), load_mnist_tfds(tfds_dir, data_dir)
    for (x, y), (x_tfds, y_tfds) in zip(ours, theirs):
        assert x_tfds.dtype == x.dtype == np.uint8 and x_tfds.shape == x.shape
        assert y_tfds.dtype == y.dtype and y_tfds.shape == y.shape
        label_of = dict(zip(image_keys(x), y.tolist()))
        keys = image_keys(x_tfds)
        assert sorted(keys) == sorted(label_of)  # the same images (as a multiset) ...
        assert [label_of[key] for key in keys] == y_tfds.tolist()  # ... each with its label
    x_train, x_train_tfds = ours[0][0], theirs[0][0]
    # TFDS' order is its own: the last 5,000 (train_mnist_bilstm.py's held-out images) are other images
    assert not np.array_equal(x_train[-5000:], x_train_tfds[-5000:])


@tfds_missing
@pytest.mark.slow
def test_both_scripts_train_from_tfds_and_resume_keeps_the_source(tfds_dir, data_dir, tmp_path, capsys):
    common = ["--preset", "test", "--data-dir", data_dir, "--source", "tfds", "--tfds-dir", tfds_dir]
    char = train_char_rnn.main(common + ["--steps-per-epoch", "30", "--nanogpt-batches", "0",
                                         "--output-dir", str(tmp_path / "char")])
    assert 0 < char["test_nats"] < np.log(65)
    mnist = train_mnist_bilstm.main(common + ["--steps-per-epoch", "60", "--output-dir", str(tmp_path / "mnist")])
    assert mnist["test_accuracy"] > 0.3
    assert "TFDS' order" in capsys.readouterr().out
    for run in ("char", "mnist"):
        assert json.loads((tmp_path / run / "config.json").read_text())["data"]["source"] == "tfds"
    # --resume reads the run's own source without being told, and refuses another
    resumed = train_char_rnn.main(["--resume", "--output-dir", str(tmp_path / "char"), "--epochs", "2",
                                   "--tfds-dir", tfds_dir, "--data-dir", data_dir])
    assert "(tensorflow-datasets)" in capsys.readouterr().out
    assert resumed["best_epoch"] in (1, 2)
    before = (tmp_path / "mnist" / "state.json").read_bytes()
    message = script_error(train_mnist_bilstm.main, ["--resume", "--output-dir", str(tmp_path / "mnist"),
                                                     "--source", "files", "--epochs", "2"], capsys)
    assert "trained on tfds, not on files" in message
    assert (tmp_path / "mnist" / "state.json").read_bytes() == before


# ---- bad input: one paragraph, exit 2, nothing written ------------------------------------------------------

def nothing_written(folder):
    return not folder.exists() or not any(folder.iterdir())


def test_source_tfds_with_a_text_file(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("to be or not to be\n" * 100)
    out = tmp_path / "run"
    message = script_error(train_char_rnn.main, ["--preset", "test", "--source", "tfds", "--text",
                                                 str(tmp_path / "mine.txt"), "--output-dir", str(out)], capsys)
    assert "--source tfds" in message and "mine.txt" in message and nothing_written(out)


@pytest.mark.parametrize("argv", [["--tfds-dir", "{tmp}/nowhere"], ["--source", "tfds", "--tfds-dir", "{tmp}/nowhere"]])
def test_a_tfds_dir_without_source_tfds_or_not_a_folder(tmp_path, capsys, argv):
    out = tmp_path / "run"
    message = script_error(train_mnist_bilstm.main, ["--preset", "test", "--output-dir", str(out)] +
                           [a.format(tmp=tmp_path) for a in argv], capsys)
    assert "--tfds-dir" in message and nothing_written(out)


@tfds_missing
def test_an_empty_tfds_dir_offline_without_the_files(tmp_path, capsys, offline, isolated_data_env):
    (tmp_path / "tfds").mkdir()
    out = tmp_path / "run"
    message = script_error(train_char_rnn.main, ["--preset", "test", "--source", "tfds", "--tfds-dir",
                                                 str(tmp_path / "tfds"), "--output-dir", str(out)], capsys)
    assert "no prepared tiny_shakespeare" in message and "LSTM_OFFLINE" in message
    assert nothing_written(out) and not any((tmp_path / "tfds").iterdir())


def test_tfds_not_installed(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails as where it is not installed
    out = tmp_path / "run"
    message = script_error(train_mnist_bilstm.main, ["--preset", "test", "--source", "tfds", "--output-dir",
                                                     str(out)], capsys)
    assert "tensorflow-datasets" in message and "pip install" in message and nothing_written(out)
