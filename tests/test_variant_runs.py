"""--variant and --cell gru on the three training scripts: saved in the run's spec, reloaded, sampled, resumed,
and every bad combination one paragraph with exit code 2 and nothing written."""

import json

import numpy as np
import pytest

import explore
import predict_mnist
import sample
import train_char_rnn
import train_mnist_bilstm
import train_ptb
from models import VARIANTS, build_model, load_model, lstm_layers
from tests.conftest import script_error, write_corpus
from tests.test_own_text import POEM

SCRIPTS = [train_ptb.main, train_char_rnn.main, train_mnist_bilstm.main]


@pytest.mark.parametrize("main", SCRIPTS)
@pytest.mark.parametrize("argv, expected", [
    (["--variant", "no-gates"], ["--variant: invalid choice: 'no-gates'", *VARIANTS]),
    (["--variant", "coupled", "--cell", "builtin"], ["LSTM variants are options of this project's LSTM",
                                                     "cell builtin (keras.layers.LSTM) has no variants", "nothing was written"]),
    (["--variant", "peephole", "--cell", "gru"], ["cell gru (this project's GRU) has no variants"]),
    (["--cell", "lstm"], ["--cell: invalid choice: 'lstm'", "'builtin-gru'"]),
])
def test_bad_cell_or_variant_is_one_paragraph_and_writes_nothing(main, argv, expected, tmp_path, capsys):
    message = script_error(main, [*argv, "--output-dir", str(tmp_path / "run")], capsys)
    assert all(part in message for part in expected), message
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("main, preset", [(train_ptb.main, "awd-test"), (train_char_rnn.main, "awd-small")])
def test_weight_drop_on_a_cell_without_it_is_refused(main, preset, tmp_path, capsys):
    message = script_error(main, ["--preset", preset, "--cell", "builtin-gru", "--output-dir", str(tmp_path / "run")],
                           capsys)
    assert "keras.layers.GRU has no such option" in message and "Choose cell custom or gru" in message
    assert "--without weight-drop" in message and not (tmp_path / "run").exists()


def test_a_variant_run_is_saved_reloaded_sampled_and_resumed(tmp_path, capsys):
    """train_ptb.py --variant coupled on a small corpus: the spec says so, model.keras has the variant's weights,
    sample.py reads it, --resume keeps it and refuses another, the explorer writes its page."""
    corpus = write_corpus(tmp_path / "corpus")
    out = tmp_path / "run"
    common = ["--corpus", str(corpus), "--output-dir", str(out)]
    train_ptb.main(["--preset", "test", "--steps-per-epoch", "10", "--variant", "coupled", *common])
    settings = json.loads((out / "config.json").read_text())
    assert settings["variant"] == "coupled" and settings["model"]["variant"] == "coupled"
    saved = load_model(out / "model.keras")
    assert [layer.variant for layer in lstm_layers(saved)] == ["coupled"]
    assert saved.get_layer("lstms").lstms[0].cell.kernel.shape == (2, 3 * 2)  # embedding 2, units 2: f, C̃, o
    assert len(sample.main([str(out), "--prime", "the cat", "--length", "5"])) == 5
    capsys.readouterr()
    before = {name: (out / name).read_bytes() for name in ("config.json", "state.json")}
    message = script_error(train_ptb.main, ["--resume", "--variant", "peephole", "--epochs", "2", *common], capsys)
    assert "--variant peephole (the run's: coupled)" in message
    assert {name: (out / name).read_bytes() for name in before} == before
    train_ptb.main(["--resume", "--variant", "coupled", "--epochs", "2", *common])
    assert len(json.loads((out / "state.json").read_text())["history"]) == 2
    assert json.loads((out / "config.json").read_text())["model"]["variant"] == "coupled"
    explore.main([str(out), "--output", str(tmp_path / "page.html")])  # the page computes the variant
    assert '"variant": "coupled"' in (tmp_path / "page.html").read_text(encoding="utf-8")


def test_a_gru_run_with_weight_drop_is_sampled(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    out = tmp_path / "run"
    results = train_ptb.main(["--preset", "awd-test", "--steps-per-epoch", "10", "--epochs", "1", "--cell", "gru",
                              "--corpus", str(corpus), "--output-dir", str(out)])
    assert np.isfinite(results["test_perplexity"])
    spec = json.loads((out / "config.json").read_text())["model"]
    assert spec["cell"] == "gru" and spec["weight_dropout"] > 0
    assert {type(layer).__name__ for layer in lstm_layers(build_model(spec))} == {"GRU"}
    assert len(sample.main([str(out), "--prime", "the dog", "--length", "4"])) == 4


@pytest.mark.slow  # a char-rnn and an MNIST run
def test_char_rnn_and_mnist_take_a_variant_and_the_gru(tmp_path, data_dir):
    poem = tmp_path / "poem.txt"
    poem.write_text(POEM * 40, encoding="utf-8")
    chars = tmp_path / "chars"
    train_char_rnn.main(["--preset", "test", "--text", str(poem), "--split", "0.8", "0.1", "0.1", "--cell", "builtin-gru",
                         "--output-dir", str(chars)])
    assert json.loads((chars / "config.json").read_text())["model"]["cell"] == "builtin-gru"
    assert len(sample.main([str(chars), "--prime", "Über", "--length", "10"])) == 10
    digits = tmp_path / "digits"
    results = train_mnist_bilstm.main(["--preset", "test", "--steps-per-epoch", "20", "--variant", "no-output-gate",
                                       "--data-dir", data_dir, "--output-dir", str(digits)])
    assert 0 <= results["test_accuracy"] <= 1
    model = load_model(digits / "model.keras")
    assert {layer.variant for layer in lstm_layers(model)} == {"no-output-gate"}
    from PIL import Image

    from datasets import load_mnist

    (_, _), (x, _) = load_mnist(data_dir)
    Image.fromarray(x[0]).save(tmp_path / "digit.png")
    [(digit, _)] = predict_mnist.main([str(digits), str(tmp_path / "digit.png")])
    assert digit == int(model.predict(x[:1] / 255.0, verbose=0).argmax())
