"""explore.py: the page runs the model of a run in a real headless Chromium, equal to Keras.

The pages are written from short trained runs: the session's char run (2 × 32, a learned embedding), its
AWD run (PTB words, tied, 2 layers) and a run of keras.layers.LSTM on a small word corpus (one layer). Without Chromium and chromedriver (`apt-get install -y chromium chromium-driver`) and selenium
(`pip install selenium`) the browser tests are skipped; CI installs all three.
"""

import json
import os
import shutil

import keras
import numpy as np
import pytest

import explore
from datasets import load_shakespeare
from models.cell import lstm_update
from models.language_model import lstm_layers
from tests.conftest import script_error, write_corpus
from training.inference import load_language_model
from training.language_model import reset_states

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
INSTALL = ("apt-get install -y chromium chromium-driver && pip install selenium (or set CHROMIUM and CHROMEDRIVER "
           "to their paths)")
TOLERANCE = 1e-4
in_browser = pytest.mark.slow  # a browser, and pages of three runs: the full suite's


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium driven by selenium; skipped with the way to install one when there is none."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        if os.environ.get("LSTM_REQUIRE_BROWSER"):
            pytest.fail(f"LSTM_REQUIRE_BROWSER is set and selenium is not installed: {INSTALL}")
        pytest.skip(f"selenium is not installed: {INSTALL}")
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        if os.environ.get("LSTM_REQUIRE_BROWSER"):  # CI: the browser tests must run
            pytest.fail(f"LSTM_REQUIRE_BROWSER is set and there is no Chromium at {CHROMIUM} or no chromedriver at "
                        f"{CHROMEDRIVER}: {INSTALL}")
        pytest.skip(f"no Chromium at {CHROMIUM} or no chromedriver at {CHROMEDRIVER}: {INSTALL}")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1400"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def open_page(browser, path):
    browser.get("file://" + os.path.abspath(path))
    assert browser.execute_script("return document.body.dataset.ready") == "1"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
    return browser


def write_page(run_dir, tmp_path, name, text=None):
    page = tmp_path / f"{name}.html"
    argv = [str(run_dir), "--output", str(page)] + (["--text", str(text)] if text else [])
    explore.main(argv)
    return page


@pytest.fixture(scope="module")
def builtin_run(tmp_path_factory):
    """train_ptb.py with keras.layers.LSTM on a small corpus: one layer, untied (a few seconds)."""
    import train_ptb

    folder = tmp_path_factory.mktemp("builtin")
    corpus = write_corpus(folder / "corpus")
    out = folder / "run"
    train_ptb.main(["--preset", "test", "--cell", "builtin", "--corpus", str(corpus), "--steps-per-epoch", "20",
                    "--output-dir", str(out)])
    return out


@pytest.fixture(scope="module")
def pages(char_run, awd_run, builtin_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pages")
    found = {"char": write_page(char_run[0], folder, "char"), "tied words": write_page(awd_run[0], folder, "awd"),
             "builtin": write_page(builtin_run, folder, "builtin")}
    # the same word page with the first layer's input product as a product (a large vocabulary's path)
    html = found["tied words"].read_text(encoding="utf-8")
    assert html.count("<= 2e7") == 1
    found["words, no table"] = folder / "awd-no-table.html"
    found["words, no table"].write_text(html.replace("<= 2e7", "<= 0"), encoding="utf-8")
    return found


@pytest.fixture(scope="module")
def variant_runs(tmp_path_factory, char_run):
    """Runs of two LSTM variants: "peephole" (char, 2 × 32; its peepholes set to random values, as zeros would
    hide them) and "coupled" (3 gate blocks, i = 1 − f; words, one layer)."""
    import keras

    import train_char_rnn
    import train_ptb
    from models import load_model

    folder = tmp_path_factory.mktemp("variants")
    peephole, coupled = folder / "peephole", folder / "coupled"
    text = folder / "shakespeare-test.txt"  # Tiny Shakespeare's test split as a text of its own: short valid and
    text.write_text(load_shakespeare(char_run[2])[2], encoding="utf-8")  # test splits, the passage's characters
    train_char_rnn.main(["--preset", "test", "--variant", "peephole", "--steps-per-epoch", "20", "--text", str(text),
                         "--output-dir", str(peephole)])
    model = load_model(peephole / "model.keras")
    rng = np.random.default_rng(0)
    for layer in lstm_layers(model):
        layer.cell.peephole_kernel.assign(rng.normal(0, 0.5, (3, layer.cell.units)).astype("float32"))
    model.save(peephole / "model.keras")
    keras.backend.clear_session()
    train_ptb.main(["--preset", "test", "--variant", "coupled", "--corpus", str(write_corpus(folder / "corpus")),
                    "--steps-per-epoch", "20", "--output-dir", str(coupled)])
    return {"peephole": peephole, "coupled": coupled}


def keras_trace(run_dir, tokens):
    """Keras' probabilities, states and gates token by token, the state carried (batch 1, one step per call)."""
    model, vocabulary = load_language_model(run_dir, batch_size=1, num_steps=1, stateful=True)
    reset_states(model)
    ids = vocabulary.encode(tokens)
    layers = lstm_layers(model)
    embedding = [layer for layer in model.layers if layer.name in ("embedding", "one_hot")][0]
    table = np.asarray(embedding.embeddings)
    probs, trace = [], [{key: [] for key in "hcifo"} for _ in layers]
    for token in ids:
        previous = [[np.asarray(state)[0] for state in layer.states] for layer in layers]
        logits = np.asarray(model.predict_on_batch(np.array([[token]], np.int32)))[0, -1].astype(np.float64)
        probs.append(np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum())
        below = table[token]
        for layer, record, (h_prev, c_prev) in zip(layers, trace, previous):
            h, c = (np.asarray(state)[0] for state in layer.states)
            cell = layer.cell
            z = below @ np.asarray(cell.kernel) + h_prev @ np.asarray(cell.recurrent_kernel) + np.asarray(cell.bias)
            peephole = getattr(cell, "peephole_kernel", None)
            gates = lstm_update(z, c_prev, variant=getattr(cell, "variant", "vanilla"),
                                peephole=None if peephole is None else np.asarray(peephole))
            for key, value in zip("hcifo", (h, c, gates.i, gates.f, gates.o)):
                record[key].append(keras.ops.convert_to_numpy(value))
            below = h
    return np.array(probs), [{key: np.array(v) for key, v in record.items()} for record in trace]


def page_trace(browser, text):
    return browser.execute_script(
        "const r = lstm.run(arguments[0]);"
        "return {length: r.length, probs: Array.from(r.probs), layers: r.layers.map(s => ({h: Array.from(s.h),"
        " c: Array.from(s.c), i: Array.from(s.i), f: Array.from(s.f), o: Array.from(s.o)}))};", text)


def passage(kind, data):
    if kind == "char":
        return load_shakespeare(data)[2][:160]
    if kind in ("tied words", "words, no table"):
        return "the company said it expects to report a loss\nshares of the bank fell N cents to $ N\n"
    return "the cat sat on a mat\nand the dog ran to it\n"


@in_browser
@pytest.mark.parametrize("kind", ["char", "tied words", "words, no table", "builtin", "peephole", "coupled"])
def test_the_page_computes_what_keras_computes(browser, pages, kind, char_run, awd_run, builtin_run, variant_runs,
                                               tmp_path):
    run_dir = {"char": char_run[0], "builtin": builtin_run, **variant_runs}.get(kind, awd_run[0])
    text = passage("char" if kind == "peephole" else kind, char_run[2])
    open_page(browser, pages[kind] if kind in pages else write_page(run_dir, tmp_path, kind))
    if kind in variant_runs:
        assert browser.execute_script("return lstm.info.variant") == kind
    _, vocabulary = load_language_model(run_dir, batch_size=1, num_steps=1)
    tokens = vocabulary.split(text)
    assert browser.execute_script("return lstm.tokenize(arguments[0])", text) == tokens
    probs, trace = keras_trace(run_dir, tokens)
    page = page_trace(browser, text)
    assert page["length"] == len(tokens)
    np.testing.assert_allclose(np.reshape(page["probs"], probs.shape), probs, atol=TOLERANCE)
    for ours, theirs in zip(page["layers"], trace):
        for key in "hcifo":
            np.testing.assert_allclose(np.reshape(ours[key], theirs[key].shape), theirs[key], atol=TOLERANCE,
                                       err_msg=key)


def span_colours(browser):
    return browser.execute_script("return Array.from(document.querySelectorAll('#text span[data-p]'))"
                                  ".map(s => s.style.backgroundColor)")


@in_browser
def test_clicking_a_unit_recolours_the_text_and_hovering_shows_five_guesses(browser, pages):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    open_page(browser, pages["char"])
    before, selected = span_colours(browser), browser.find_element(By.ID, "selected").text
    buttons = browser.find_elements(By.CSS_SELECTOR, "#ranking button.unit")
    assert len(buttons) >= 4
    target = next(b for b in buttons if b.text.split(" ")[0] not in selected.replace("layer ", "L").replace(", unit ", "·"))
    target.click()
    assert browser.find_element(By.ID, "selected").text != selected
    assert span_colours(browser) != before
    span = browser.find_elements(By.CSS_SELECTOR, "#text span[data-p]")[5]
    ActionChains(browser).move_to_element(span).perform()
    tip = browser.find_element(By.ID, "tip")
    assert tip.is_displayed() and len(tip.find_elements(By.TAG_NAME, "tr")) == 5


def select_span(browser, first, last):
    """Selects the characters first..last of the page's text with the mouse's selection, as a reader does."""
    browser.execute_script(
        "const spans = document.querySelectorAll('#text span[data-p]'); const range = document.createRange();"
        "range.setStart(spans[arguments[0]].firstChild, 0); range.setEnd(spans[arguments[1]].firstChild, 1);"
        "const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);"
        "document.getElementById('text').dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));", first, last)


@in_browser
def test_selecting_a_span_lists_the_units_most_active_on_it(browser, pages):
    from selenium.webdriver.common.by import By

    open_page(browser, pages["char"])
    select_span(browser, 10, 30)
    box = browser.find_element(By.ID, "span-units")
    assert "positions 10–30" in box.text and len(box.find_elements(By.TAG_NAME, "button")) == 8


@in_browser
@pytest.mark.parametrize("kind", ["char", "tied words"])
def test_sampling_is_reproducible_and_stays_in_the_vocabulary(browser, pages, kind):
    open_page(browser, pages[kind])
    prime = "ROMEO:" if kind == "char" else "the company"
    first, again, other = (browser.execute_script("return lstm.sample(arguments[0], 60, 1.0, arguments[1])", prime, seed)
                           for seed in (7, 7, 8))
    assert first == again and first != other
    tokens = set(browser.execute_script("return lstm.info.kind") == "chars" and list(first) or first.split())
    vocabulary = set(browser.execute_script("return JSON.parse(document.getElementById('model').textContent).tokens"))
    assert tokens <= vocabulary | {"\n"}
    unknown = browser.execute_script("try { lstm.sample('ж', 5, 1, 0); return 'no error'; } catch (e) { return e.message; }")
    if kind == "char":  # a word model reads an unknown word as <unk>
        assert unknown.startswith("the prime holds tokens the model never saw")



@in_browser
def test_sampling_refuses_lengths_and_seeds_it_cannot_take(browser, pages):
    """A length past 20,000 (which would freeze the tab), empty or negative, and a seed that is not a whole number
    (NaN, 0.5, 1e30) are refused with what to give; the page's button shows the message."""
    from selenium.webdriver.common.by import By

    open_page(browser, pages["char"])
    attempt = ("try { lstm.sample('', Number(arguments[0]), 1, Number(arguments[1])); return 'no error'; } "
               "catch (e) { return e.message; }")
    for length in ("100000000", "0", "-5", "NaN"):
        assert browser.execute_script(attempt, length, "0").startswith("length must be a whole number from 1 to 20,000")
    for seed in ("NaN", "0.5", "1e30", "-1"):
        assert browser.execute_script(attempt, "5", seed).startswith("seed must be a whole number from 0 to 4294967295")
    assert browser.execute_script(attempt, "5", "3") == "no error"
    browser.execute_script("document.getElementById('length').value = '';")
    browser.find_element(By.ID, "sample-button").click()
    output = browser.find_element(By.ID, "sample-output")
    assert output.text.startswith("length must be a whole number") and output.get_attribute("class") == "warn"

def set_text(browser, text):
    browser.execute_script("const box = document.getElementById('input'); box.value = arguments[0];"
                           "box.dispatchEvent(new Event('input'));", text)
    browser.implicitly_wait(0)
    import time

    time.sleep(0.5)  # the page recomputes 150 ms after the last keystroke
    for _ in range(100):  # in its Web Worker: until the result is shown
        if browser.execute_script("return document.body.dataset.busy") != "1":
            break
        time.sleep(0.1)
    return browser.execute_script("return document.getElementById('message').textContent")


@in_browser
def test_an_empty_box_and_unknown_characters_get_a_message_not_an_error(browser, pages):
    open_page(browser, pages["char"])
    assert "empty" in set_text(browser, "   ")
    assert browser.execute_script("return document.querySelectorAll('#text span').length") == 0
    message = set_text(browser, "To be ж or not€ to be")
    assert "never saw" in message and "“ж”" in message and "“€”" in message
    assert browser.execute_script("return document.querySelectorAll('#text span.unknown').length") == 2
    assert browser.execute_script("return lstm.run('ж€').length") == 0
    assert not [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def folder_state(folder):
    return {name: os.path.getmtime(os.path.join(folder, name)) for name in os.listdir(folder)}


def test_bad_runs_and_texts_get_one_paragraph_and_leave_the_run_as_it_was(char_run, mnist_run, tmp_path, capsys):
    assert "not a run folder of train_ptb.py or train_char_rnn.py" in script_error(
        explore.main, [str(mnist_run[0]), "--output", str(tmp_path / "p.html")], capsys)
    run = tmp_path / "run"
    shutil.copytree(char_run[0], run)
    with open(run / "model.keras", "r+b") as f:
        f.truncate(os.path.getsize(run / "model.keras") // 2)
    before = folder_state(run)
    assert "damaged" in script_error(explore.main, [str(run)], capsys)
    binary = tmp_path / "latin1.txt"
    binary.write_bytes("café au lait\n".encode("latin-1"))
    assert "UTF-8" in script_error(explore.main, [str(char_run[0]), "--text", str(binary), "--output",
                                                  str(tmp_path / "p.html")], capsys)
    assert folder_state(run) == before and not (tmp_path / "p.html").exists()
    assert "no config.json" in script_error(explore.main, [str(tmp_path)], capsys)


def test_a_model_the_page_cannot_draw_is_refused_with_what_it_is(tmp_path, capsys, monkeypatch):
    """A transformer, and any family but LSTM and GRU (such as a future xLSTM), gets one paragraph; the folder stays."""
    import train_ptb
    from models import LanguageModelSpec

    out = tmp_path / "gru"
    train_ptb.main(["--preset", "test", "--cell", "gru", "--corpus", str(write_corpus(tmp_path / "corpus")),
                    "--steps-per-epoch", "3", "--output-dir", str(out)])
    page = explore.main([str(out), "--output", str(tmp_path / "gru.html")])  # a GRU is drawn
    assert '"family": "GRU"' in open(page, encoding="utf-8").read()
    monkeypatch.setattr(LanguageModelSpec, "family", property(lambda spec: "xLSTM"))
    before = folder_state(out)
    message = script_error(explore.main, [str(out)], capsys)
    assert "is of the xLSTM family" in message and "only the cells of LSTM and GRU runs" in message
    assert folder_state(out) == before and not (out / "explore.html").exists()
    monkeypatch.undo()
    settings = json.loads((out / "config.json").read_text())
    settings["model"] = {"kind": "gpt", "vocab_size": settings["model"]["vocab_size"], "layers": 1, "width": 16,
                         "heads": 2, "block_size": 8}
    (out / "config.json").write_text(json.dumps(settings))
    message = script_error(explore.main, [str(out)], capsys)
    assert "is of the transformer family" in message and "sample.py samples and scores this one" in message


@in_browser
def test_the_page_is_self_contained(pages):
    html = pages["char"].read_text(encoding="utf-8")
    assert html.count("<script") == 3 and " src=" not in html and "<link" not in html
    for part in ("page.html", "explorer.js"):
        with open(os.path.join(os.path.dirname(explore.__file__), "explorer", part), encoding="utf-8") as f:
            assert "http" not in f.read() or part == "explorer.js" and "fetch(" not in html


def test_the_first_text_is_the_start_of_the_runs_own_test_split(tmp_path):
    from datasets import load_text
    from explorer.export import default_passage, test_split_text

    text = "".join(f"line {k}: {'abcdefghij'[k % 10] * (k % 37)}\n" for k in range(3000))
    path = tmp_path / "own.txt"
    path.write_text(text)
    split = (0.8, 0.1, 0.1)
    *_, test, vocabulary = load_text(str(path), split)
    settings = {"script": "train_char_rnn.py", "data": {"text": str(path)}, "config": {"split": list(split)}}
    assert test_split_text(settings) == vocabulary.decode(test)  # cut where training cut it
    passage = default_passage(settings, "chars")
    assert passage.startswith("line ") and passage.endswith("\n") and passage in vocabulary.decode(test)
    corpus = write_corpus(tmp_path / "corpus")
    words = default_passage({"script": "train_ptb.py", "data": {"corpus": str(corpus)}}, "words")
    assert words.startswith("a cat and a yak ran\nthe gnu\n")
    with pytest.raises(Exception, match="--text FILE"):
        default_passage({"script": "train_char_rnn.py", "data": {"text": str(tmp_path / "gone.txt")}}, "chars")


def test_a_long_text_is_cut_at_a_token_and_reads_back_to_the_same_tokens():
    from datasets import Vocabulary, split_words

    text = "the  cat sat\non a mat\n\nand ran"
    words = split_words(text)
    assert split_words(explore.tokens_text(words, "words")) == words
    assert explore.tokens_text(words[:5], "words") == "the cat sat\non"
    assert explore.tokens_text(list("ab\nc"), "chars") == "ab\nc"
    assert Vocabulary.of_words(words).split(explore.tokens_text(words, "words")) == words


@in_browser
def test_a_text_with_script_tags_and_comments_stays_text(browser, char_run, tmp_path):
    text = 'ROMEO: "</script><!-- <b>not markup</b>"\n'
    own = tmp_path / "tags.txt"
    own.write_text(text)
    open_page(browser, write_page(char_run[0], tmp_path, "tags", own))
    assert browser.execute_script("return document.getElementById('input').value") == text
    assert browser.execute_script("return document.querySelectorAll('#text b').length") == 0


@in_browser
def test_sampling_without_the_token_table_gives_the_same_text(browser, pages):
    texts = []
    for kind in ("tied words", "words, no table"):
        open_page(browser, pages[kind])
        texts.append(browser.execute_script("return lstm.sample('the company', 40, 1.0, 3)"))
    assert texts[0] == texts[1]
