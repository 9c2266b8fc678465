"""train_mnist_bilstm.py and predict_mnist.py on real MNIST (the session's `mnist_run`).

Resuming is tests/test_resume.py, for every script.
"""

import json

import numpy as np
import pytest

import predict_mnist
import train_mnist_bilstm
from datasets.batching import shifted_images
from tests.conftest import script_error


def test_short_run_passes_90_percent_and_writes_artifacts(mnist_run):
    out, results, _ = mnist_run
    assert results["test_accuracy"] > 0.90
    for name in ("model.keras", "config.json", "history.csv", "accuracy.png", "loss.png", "confusion_matrix.png",
                 "misclassified.png", "results.json", "state.json"):
        assert (out / name).is_file(), name
    assert any((out / "tensorboard").iterdir())
    matrix = np.array(json.load(open(out / "results.json"))["confusion_matrix"])
    assert matrix.sum() == 10_000 and np.trace(matrix) / 10_000 == pytest.approx(results["test_accuracy"])


@pytest.mark.slow  # a fresh process predicts the 10,000 test images
def test_model_reloads_in_fresh_process(mnist_run, shared_runs_in_fresh_process):
    _, results, _ = mnist_run
    found = shared_runs_in_fresh_process["mnist"]  # keras.models.load_model there, importing models
    assert found["accuracy"] == pytest.approx(results["test_accuracy"], abs=1e-4)


def test_prediction_command_classifies_png_digits(mnist_run, tmp_path, capsys):
    from PIL import Image

    import keras

    import models  # noqa: F401
    from datasets import load_mnist

    out, _, data = mnist_run
    (_, _), (x, y) = load_mnist(data)
    paths = []
    for i in range(12):
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(x[i]).save(path)
        paths.append(str(path))
    big = tmp_path / "big_dark_on_light.jpg"  # 84×84, black ink on white paper
    Image.fromarray(255 - np.kron(x[0], np.ones((3, 3), np.uint8))).save(big, quality=95)
    predicted = predict_mnist.main([str(out)] + paths + [str(big)])
    expected = keras.models.load_model(out / "model.keras").predict(x[:12] / 255.0, verbose=0).argmax(1)
    assert [d for d, _ in predicted[:12]] == list(expected)
    assert sum(d == label for (d, _), label in zip(predicted, y[:12])) >= 11
    assert predicted[12][0] == y[0]
    assert f"{paths[0]}: {predicted[0][0]} (probability" in capsys.readouterr().out


def test_shift_augmentation_moves_pixels():
    images = np.zeros((6, 28, 28), np.uint8)
    images[:, 10, 10] = 255
    out = shifted_images(images, 2, np.random.default_rng(0))
    dy, dx = np.random.default_rng(0).integers(0, 5, size=(2, 6))  # the draws shifted() makes
    assert out.shape == images.shape and (out == 255).sum() == 6
    image, rows, cols = np.nonzero(out == 255)
    np.testing.assert_array_equal(image, np.arange(6))
    np.testing.assert_array_equal(rows, 10 + 2 - dy)  # output row r reads padded row r + dy
    np.testing.assert_array_equal(cols, 10 + 2 - dx)
    assert np.any(rows != 10) and np.any(cols != 10)


def test_bad_input(mnist_run, tmp_path, capsys):
    out, _, _ = mnist_run
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    assert "cannot read" in script_error(predict_mnist.main, [str(out), str(bad)], capsys)
    assert "does not exist" in script_error(predict_mnist.main, [str(out), str(tmp_path / "none.png")], capsys)
    assert "it is not a run folder" in script_error(predict_mnist.main, [str(tmp_path), str(bad)], capsys)
    assert "--steps-per-epoch must be at least 1" in script_error(train_mnist_bilstm.main, ["--steps-per-epoch", "0"], capsys)
