"""explore.py on a state-tracking run (issue 49): a small LSTM trained on parity, saved by
experiments.state_tracking.save_run_folder, opens as a page whose model holds a unit that flips on every 1.

The browser and the helpers are tests/test_explorer.py's.
"""

import dataclasses
import re

import numpy as np
import pytest

import explore
from models.language_model import lstm_layers
from tests.test_explorer import browser, in_browser, open_page, write_page  # noqa: F401  browser: the fixture
from training.inference import load_run_model, load_vocabulary

UNITS = 16


@pytest.fixture(scope="module")
def parity_run(tmp_path_factory):
    """(run folder, accuracy at length 100): 300 steps of 64 sequences of lengths 1–10, 16 units, Adam at 0.01."""
    from experiments.state_tracking import QUICK, TASKS, batch, build, compiled, predictions, save_run_folder, train

    task = TASKS["parity"]
    config = dataclasses.replace(QUICK, units=UNITS, learning_rate=0.01, batch_size=64, train_length=10)
    model = compiled(build("lstm", task, config, 0), config)
    train(model, task, config, 0, 300)
    x, y, _ = batch(task, np.random.default_rng(5), [100] * 16)
    folder = save_run_folder(model, "lstm", "parity", config, tmp_path_factory.mktemp("parity") / "run")
    return folder, float((predictions(model, x) == y).mean())


def test_a_parity_run_opens_with_a_unit_that_flips_on_every_1(parity_run, tmp_path):
    run, accuracy = parity_run
    assert accuracy == 1.0  # at length 100, ten times the longest training sequence
    explore.main([str(run), "--output", str(tmp_path / "parity.html")])
    model, settings = load_run_model(run, "language_model", families=explore.FAMILIES, batch_size=1, num_steps=None)
    vocabulary = load_vocabulary(run, model)
    assert vocabulary.tokens == ["0", "1"] and set(settings["passage"]) == {"0", "1"}
    ids = np.array(vocabulary.encode(list(settings["passage"])))  # the page's first text
    parity = np.cumsum(ids == 1) % 2
    logits = np.asarray(model.predict(ids[None].astype(np.int32), verbose=0))[0]
    assert (logits.argmax(-1) == parity).all()  # the page's "next token" guess is the running parity
    h = np.asarray(lstm_layers(model)[0].gate_activations(np.eye(2, dtype=np.float32)[ids][None])["h"])[0]
    r = [abs(np.corrcoef(h[:, j], parity)[0, 1]) for j in range(UNITS)]
    assert max(r) > 0.9, np.round(r, 2)


def test_only_the_cells_the_page_draws_are_saved(tmp_path):
    from experiments.state_tracking import QUICK, save_run_folder

    with pytest.raises(SystemExit) as exit_info:
        save_run_folder(None, "transformer-rope", "parity", QUICK, tmp_path / "run")
    assert exit_info.value.code == 2 and not (tmp_path / "run").exists()


@in_browser
def test_the_parity_page_tours_to_the_unit_that_flips(browser, parity_run, tmp_path):
    open_page(browser, write_page(parity_run[0], tmp_path, "parity"))
    stops = {stop["title"]: stop for stop in browser.execute_script("return lstm.page.tours()")}
    assert "the biggest surprise" not in stops and "counting along the line" not in stops  # no next token, no lines
    stop = stops["the parity unit"]
    assert "flips on every 1" in stop["text"] and abs(float(re.search(r"r = (−?-?[\d.]+)", stop["text"])[1]
                                                             .replace("−", "-"))) > 0.9
    ranked = browser.find_element("id", "ranking").text
    assert "an odd number of 1s so far (parity)" in ranked
