"""The explorer as a teaching page, in headless Chromium: the cell diagram's numbers equal Keras' gate_activations
(an LSTM's) and the GRU's gates (a GRU's), ← / → step through the text, each tour stop selects what it says, the panels follow the text and the quantity, a
phone gets one column, typing during a long recompute loses nothing, and the defects of issue 48 stay fixed.

The browser, the pages and the helpers are tests/test_explorer.py's.
"""

import time

import numpy as np
import pytest

from datasets import load_shakespeare
from models.language_model import lstm_layers
from models.reference import gru_forward
from tests.conftest import required_data_dir, write_corpus
from tests.test_explorer import (  # noqa: F401  browser: the fixture
    TOLERANCE, browser, in_browser, open_page, passage, select_span, set_text, write_page)
from training.inference import load_language_model

PAGE_KINDS = {"char": "char", "words": "tied words"}


@pytest.fixture(scope="module")
def teaching_pages(char_run, awd_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("teaching")
    return {"char": write_page(char_run[0], folder, "char"), "words": write_page(awd_run[0], folder, "awd")}


@pytest.fixture(scope="module")
def coupled_page(tmp_path_factory):
    """A page of the "coupled" variant (i = 1 − f: no input gate of its own), words, one layer."""
    import train_ptb

    folder = tmp_path_factory.mktemp("coupled")
    train_ptb.main(["--preset", "test", "--variant", "coupled", "--corpus", str(write_corpus(folder / "corpus")),
                    "--steps-per-epoch", "5", "--output-dir", str(folder / "run")])
    return write_page(folder / "run", folder, "coupled")


@pytest.fixture(scope="module")
def gru_page(tmp_path_factory):
    """(page, run folder) of a GRU: train_char_rnn.py --preset test --cell gru (2 × 32), 100 steps on Tiny
    Shakespeare's test split as a text of its own (its valid and test splits are short)."""
    import train_char_rnn

    folder = tmp_path_factory.mktemp("gru")
    text = folder / "shakespeare-test.txt"
    text.write_text(load_shakespeare(required_data_dir())[2], encoding="utf-8")
    train_char_rnn.main(["--preset", "test", "--cell", "gru", "--steps-per-epoch", "100", "--text", str(text),
                         "--output-dir", str(folder / "run")])
    return write_page(folder / "run", folder, "gru"), folder / "run"


def keras_gates(run_dir, tokens):
    """Keras' gate_activations of every layer over `tokens` from a zero state: [{i, f, c (C̃), o, cell, h}]."""
    model, vocabulary = load_language_model(run_dir, batch_size=1, num_steps=1)
    embedding = [layer for layer in model.layers if layer.name in ("embedding", "one_hot")][0]
    below = np.asarray(embedding.embeddings)[vocabulary.encode(tokens)][None]
    found = []
    for layer in lstm_layers(model):
        trace = layer.gate_activations(below)
        found.append({key: value[0] for key, value in trace.items()})
        below = trace["h"]
    return found


def diagram(browser):
    """The numbers the cell diagram shows, by quantity (from its data-value attributes)."""
    return browser.execute_script(
        "const out = {}; document.querySelectorAll('#cell-svg g[data-quantity]')"
        ".forEach(g => { out[g.dataset.quantity] = Number(g.dataset.value); }); return out;")


def state(browser):
    return browser.execute_script("return lstm.page.state()")


@in_browser
@pytest.mark.parametrize("kind", ["char", "words"])
def test_the_diagram_shows_the_numbers_keras_computes(browser, teaching_pages, char_run, awd_run, kind):
    run_dir = char_run[0] if kind == "char" else awd_run[0]
    text = passage(PAGE_KINDS[kind], char_run[2])
    open_page(browser, teaching_pages[kind])
    set_text(browser, text)
    _, vocabulary = load_language_model(run_dir, batch_size=1, num_steps=1)
    tokens = vocabulary.split(text)
    trace = keras_gates(run_dir, tokens)
    for layer, unit in ((0, 3), (len(trace) - 1, trace[-1]["h"].shape[1] - 1)):  # a tied last layer may be small
        browser.execute_script("lstm.page.select(arguments[0], arguments[1])", layer, unit)
        for position in (0, len(tokens) // 2, len(tokens) - 1):
            browser.execute_script("lstm.page.setPosition(arguments[0])", position)
            shown, keras = diagram(browser), trace[layer]
            previous = (lambda key: keras[key][position - 1, unit]) if position else (lambda key: 0.0)
            expected = {"f": keras["f"][position, unit], "i": keras["i"][position, unit], "g": keras["c"][position, unit],
                        "o": keras["o"][position, unit], "c": keras["cell"][position, unit],
                        "h": keras["h"][position, unit], "tanhc": np.tanh(keras["cell"][position, unit]),
                        "cPrev": previous("cell"), "hPrev": previous("h")}
            for key, value in expected.items():
                assert shown[key] == pytest.approx(float(value), abs=TOLERANCE), (layer, unit, position, key)
            equations = browser.find_element("id", "equations").text
            assert f"{abs(expected['c']):.3f}" in equations and f"{abs(expected['h']):.3f}" in equations


@in_browser
def test_arrow_keys_buttons_and_clicks_move_the_position(browser, teaching_pages):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_page(browser, teaching_pages["char"])
    browser.find_elements(By.CSS_SELECTOR, "#text span[data-p]")[20].click()
    assert state(browser)["position"] == 20
    assert "Step 20" in browser.find_element(By.ID, "cell-title").text
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_RIGHT)
    body.send_keys(Keys.ARROW_RIGHT)
    assert state(browser)["position"] == 22
    body.send_keys(Keys.ARROW_LEFT)
    assert state(browser)["position"] == 21
    browser.find_element(By.ID, "previous").click()
    assert state(browser)["position"] == 20
    browser.find_element(By.ID, "next").click()
    assert state(browser)["position"] == 21
    assert browser.execute_script("return document.querySelector('#text span.current').dataset.p") == "21"
    browser.execute_script("lstm.page.setPosition(0)")
    body.send_keys(Keys.ARROW_LEFT)  # stays at the first position
    assert state(browser)["position"] == 0


@in_browser
@pytest.mark.parametrize("kind", ["char", "words"])
def test_each_tour_stop_selects_what_it_says(browser, teaching_pages, char_run, kind):
    from selenium.webdriver.common.by import By

    open_page(browser, teaching_pages[kind])
    if kind == "words":  # a text with "the" and sentence ends
        set_text(browser, passage("tied words", None) * 3)
    stops = browser.execute_script("return lstm.page.tours()")
    assert len(stops) >= 3
    titles = [stop["title"] for stop in stops]
    most_open = browser.execute_script("return Math.max(...Array.from({length: lstm.info.layers}, (_, l) => "
                                       "lstm.page.dots(l)).flat().map((d) => d.high))")
    assert "the biggest surprise" in titles and ("a gate always open" in titles) == (most_open >= 0.5), most_open
    assert ("after “the”" in titles) if kind == "words" else ("counting along the line" in titles)
    for k, stop in enumerate(stops):
        browser.find_elements(By.CSS_SELECTOR, "#tour-stops button")[k].click()
        now = state(browser)
        assert (now["quantity"], now["position"]) == (stop["quantity"], stop["position"]), stop
        text = browser.find_element(By.ID, "tour-text").text
        assert text == stop["text"]
        if stop["quantity"] != "surprisal":
            name = f"layer {stop['layer'] + 1}, unit {stop['unit']}"
            assert (now["layer"], now["unit"]) == (stop["layer"], stop["unit"]) and name in text
            assert name in browser.find_element(By.ID, "selected").text
        else:
            assert f"position {stop['position']}" in text


@in_browser
def test_the_span_panel_follows_the_quantity_and_the_text(browser, teaching_pages):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_page(browser, teaching_pages["char"])
    select_span(browser, 10, 30)
    box = browser.find_element(By.ID, "span-units")
    before = box.text
    assert "positions 10–30" in before and "tanh(C_t)" in before
    Select(browser.find_element(By.ID, "quantity")).select_by_value("f")
    after = box.text
    assert "positions 10–30" in after and "forget gate" in after and after != before
    set_text(browser, "ROMEO:\nWhat light through yonder window breaks?\n")
    assert box.text == "Select some text above." and state(browser)["span"] is None


@in_browser
def test_a_phone_gets_one_column_and_no_sideways_scrolling(browser, teaching_pages):
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 400, "height": 800, "deviceScaleFactor": 1, "mobile": True})
    try:
        open_page(browser, teaching_pages["char"])
        browser.execute_script("lstm.page.takeStop(0)")
        width, inner, text, cell = browser.execute_script(
            "const r = (id) => document.getElementById(id).getBoundingClientRect();"
            "return [document.documentElement.scrollWidth, window.innerWidth, r('text'), r('cell')];")
        assert inner == 400 and width <= inner
        assert cell["top"] >= text["bottom"] and abs(cell["left"] - text["left"]) < 2  # the diagram below the text
        assert browser.execute_script("return document.querySelector('meta[name=viewport]').content").startswith(
            "width=device-width")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@in_browser
def test_keystrokes_during_a_long_recompute_are_not_lost(browser, teaching_pages, char_run):
    from selenium.webdriver.common.by import By

    from datasets import load_shakespeare

    open_page(browser, teaching_pages["char"])
    long_text = load_shakespeare(char_run[2])[2][:5000]
    box = browser.find_element(By.ID, "input")
    browser.execute_script("const box = document.getElementById('input'); box.value = arguments[0];"
                           "box.dispatchEvent(new Event('input'));", long_text)
    time.sleep(0.2)  # the recompute of 5,000 characters has started
    started = time.perf_counter()
    box.send_keys("xyz")
    typed = time.perf_counter() - started
    deadline = time.time() + 30
    while (state(browser)["busy"] or state(browser)["length"] != len(long_text) + 3) and time.time() < deadline:
        time.sleep(0.1)
    assert browser.execute_script("return document.getElementById('input').value") == long_text + "xyz"
    assert state(browser)["length"] == len(long_text) + 3  # the last text wins
    assert typed < 5, typed
    assert state(browser)["worker"]  # read in the Web Worker
    assert "5,003 characters read" in browser.find_element(By.ID, "message").text


@in_browser
def test_the_unit_box_refuses_units_the_layer_lacks(browser, teaching_pages):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_page(browser, teaching_pages["char"])
    units = browser.execute_script("return lstm.info.units")
    box = browser.find_element(By.ID, "unit")
    box.clear()
    box.send_keys("999999")
    assert "has units 0 to" in browser.find_element(By.ID, "unit-note").text
    box.send_keys(Keys.ENTER)
    box.send_keys(Keys.TAB)
    layer = state(browser)["layer"]
    assert state(browser)["unit"] == units[layer] - 1
    assert box.get_attribute("value") == str(units[layer] - 1)
    assert "999999" in browser.find_element(By.ID, "unit-note").text


@in_browser
def test_the_tooltip_names_the_character_and_goes_away(browser, teaching_pages):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    open_page(browser, teaching_pages["char"])
    span = browser.find_elements(By.CSS_SELECTOR, "#text span[data-p]")[60]
    ActionChains(browser).move_to_element(span).perform()
    tip = browser.find_element(By.ID, "tip")
    assert tip.is_displayed()
    assert f"“{span.text}”" in tip.text or "(space)" in tip.text or "line end" in tip.text
    assert "position 60" in tip.text and "tanh(C)" in tip.text
    tip_box, span_box = tip.rect, span.rect
    assert tip_box["y"] + tip_box["height"] <= span_box["y"] or tip_box["y"] >= span_box["y"] + span_box["height"]
    ActionChains(browser).move_to_element(browser.find_element(By.ID, "title")).perform()
    assert not tip.is_displayed()


@in_browser
def test_saturation_dots_and_heat_map_rows_select_their_unit(browser, teaching_pages):
    from selenium.webdriver.support.ui import Select

    open_page(browser, teaching_pages["char"])
    dot = browser.execute_script("return lstm.page.dots(0)")[5]
    browser.execute_script(
        "const c = document.querySelector('#saturation canvas[data-layer=\"0\"]'), r = c.getBoundingClientRect();"
        "const x = r.left + arguments[0] * r.width / c.width, y = r.top + arguments[1] * r.height / c.height;"
        "c.dispatchEvent(new MouseEvent('click', {clientX: x, clientY: y, bubbles: true}));", dot["x"], dot["y"])
    now = state(browser)
    assert (now["layer"], now["quantity"]) == (0, dot["gate"])
    assert "shut (< 0.1)" in browser.find_element("id", "saturation-info").text
    Select(browser.find_element("id", "quantity")).select_by_value("surprisal")
    rows = browser.execute_script("return lstm.page.heatRows()")
    assert len(rows) == 20
    browser.execute_script(
        "const c = document.getElementById('heat'), r = c.getBoundingClientRect();"
        "c.dispatchEvent(new MouseEvent('click', {clientX: r.left + 10, clientY: r.top + (3 * 11 + 2 + 5) * r.height / c.height,"
        " bubbles: true}));")
    now = state(browser)
    assert (now["layer"], now["unit"]) == (rows[2]["layer"], rows[2]["unit"])


@in_browser
def test_surprise_colours_the_text_by_minus_log_p(browser, teaching_pages):
    from selenium.webdriver.support.ui import Select

    open_page(browser, teaching_pages["char"])
    Select(browser.find_element("id", "quantity")).select_by_value("surprisal")
    found = browser.execute_script(
        "const r = lstm.run(document.getElementById('input').value), V = lstm.info.vocabSize;"
        "const spans = document.querySelectorAll('#text span[data-p]');"
        "return [1, 2, 3].map(t => [-Math.log(r.probs[(t - 1) * V + r.ids[t]]), spans[t].style.backgroundColor]);")
    for surprise, colour in found:
        alpha = float(colour.rstrip(")").split(",")[-1]) if colour.startswith("rgba") else 1.0
        assert alpha == pytest.approx(min(surprise / 6, 1), abs=2e-3)


@in_browser
def test_short_texts_and_skipped_quotes_get_plain_words(browser, teaching_pages):
    from selenium.webdriver.common.by import By

    open_page(browser, teaching_pages["char"])
    set_text(browser, "ab")
    assert "at least 3" in browser.find_element(By.ID, "ranking").text
    message = set_text(browser, 'To be "ж" or not')
    assert "“ж”" in message and "\\" not in message


@in_browser
def test_a_variant_greys_the_gate_it_lacks(browser, coupled_page):
    open_page(browser, coupled_page)
    set_text(browser, "the cat sat on a mat\n")
    box = browser.execute_script("const b = document.querySelector('#cell-svg rect[data-box=i]');"
                                 "return [b.getAttribute('stroke-dasharray'), b.getAttribute('fill')];")
    assert box == ["4 3", "#eee"]
    equations = browser.find_element("id", "equations").text
    assert "1 − f" in equations and "coupled" in equations
    cell = browser.execute_script("return lstm.page.cell()")
    assert cell["i"] == pytest.approx(1 - cell["f"], abs=1e-6)


def gru_gates(run_dir, tokens):
    """Each GRU layer over `tokens` from a zero state: z, r, h̃ by the GRU's equations (models/reference.py) from the
    cell's weights, and h as Keras' GRU layer computes it (checked against the equations' h)."""
    model, vocabulary = load_language_model(run_dir, batch_size=1, num_steps=1)
    embedding = [layer for layer in model.layers if layer.name in ("embedding", "one_hot")][0]
    below = np.asarray(embedding.embeddings)[vocabulary.encode(tokens)][None]
    found = []
    for layer in lstm_layers(model):
        cell = layer.cell
        h, _, cache = gru_forward(below.astype(np.float64), *(np.asarray(w, np.float64) for w in
                                                                (cell.kernel, cell.recurrent_kernel, cell.bias)))
        keras_h = np.asarray(layer(below))
        np.testing.assert_allclose(h, keras_h, atol=1e-5)
        found.append({"z": np.array([s["z"][0] for s in cache["steps"]]), "r": np.array([s["r"][0] for s in cache["steps"]]),
                      "g": np.array([s["h_tilde"][0] for s in cache["steps"]]), "h": keras_h[0]})
        below = keras_h
    return found


@in_browser
def test_a_gru_run_shows_its_own_cell_with_the_numbers_it_computes(browser, gru_page, char_run):
    page, run_dir = gru_page
    text = passage("char", char_run[2])
    open_page(browser, page)
    set_text(browser, text)
    assert browser.execute_script("return lstm.info.family") == "GRU"
    tokens = list(text)
    trace = gru_gates(run_dir, tokens)
    for layer, unit in ((0, 3), (1, 31)):
        browser.execute_script("lstm.page.select(arguments[0], arguments[1])", layer, unit)
        for position in (0, len(tokens) // 2, len(tokens) - 1):
            browser.execute_script("lstm.page.setPosition(arguments[0])", position)
            shown, gru = diagram(browser), trace[layer]
            z, g, h_prev = gru["z"][position, unit], gru["g"][position, unit], gru["h"][position - 1, unit] if position else 0.0
            expected = {"z": z, "r": gru["r"][position, unit], "g": g, "h": gru["h"][position, unit], "hPrev": h_prev,
                        "kept": z * h_prev, "added": (1 - z) * g}
            assert set(shown) == set(expected)  # no C, no i, f, o
            for key, value in expected.items():
                assert shown[key] == pytest.approx(float(value), abs=TOLERANCE), (layer, unit, position, key)
            equations = browser.find_element("id", "equations").text
            assert "h̃t = tanh(" in equations and f"{abs(expected['h']):.3f}" in equations and "no cell state" in equations
    quantities = browser.execute_script("return Array.from(document.querySelectorAll('#quantity option'), o => o.value)")
    assert quantities == ["h", "z", "r", "g", "surprisal"]
    assert {dot["gate"] for dot in browser.execute_script("return lstm.page.dots(0)")} == {"z", "r"}
    stops = {stop["title"]: stop for stop in browser.execute_script("return lstm.page.tours()")}
    assert stops["counting along the line"]["quantity"] == "z" and "no cell state" in stops["counting along the line"]["text"]
    assert "tanh(C_t)" not in " ".join(stop["text"] for stop in stops.values())
