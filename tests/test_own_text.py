"""Training on the user's own text: any UTF-8 file for char-rnn, any corpus folder for the word model."""

import collections
import json
import os

import numpy as np
import pytest

import sample
import train_char_rnn
import train_ptb
from datasets import DataError, load_corpus, load_text, check_split
from tests.conftest import python_result, script_error, write_corpus

POEM = ("Über den Wipfeln ist Ruh,\nin allen Gipfeln spürest du\nkaum einen Hauch;\n"
        "die Vögelein schweigen im Walde.\nWarte nur, balde ruhest du auch.\n")


# ---- loaders, by hand ---------------------------------------------------------------------------------------

def test_corpus_words_outside_the_vocabulary_become_unk_and_are_counted(tmp_path):
    train, valid, test, vocabulary, unknown = load_corpus(str(write_corpus(tmp_path / "c")))
    assert vocabulary.tokens[-1] == "<unk>" and "zebra" not in vocabulary.index
    assert unknown == {"train": 0, "valid": 30, "test": 60}  # zebra ×30; yak and gnu ×30 each
    assert vocabulary.decode(valid[:7]) == "the <unk> sat on the mat\n"
    assert len(valid) == 30 * 7 and len(test) == 30 * (7 + 3)  # nothing dropped (each line: its words + <eos>)
    capped = load_corpus(str(tmp_path / "c"), vocab_size=4)
    assert len(capped[3]) == 4 and capped[3].tokens[-1] == "<unk>" and capped[4]["train"] > 0


def test_corpus_ids_and_vocabulary_by_hand(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "ptb.train.txt").write_text(" b a c \n a b a \n")  # PTB's names and layout: a space at both ends
    (folder / "ptb.valid.txt").write_text(" c a \n")
    (folder / "test.txt").write_text("a d\n")  # the plain name, no spaces; d is not a training word
    train, valid, test, vocabulary, unknown = load_corpus(str(folder))
    assert vocabulary.tokens == ["a", "<eos>", "b", "c", "<unk>"]  # a:3, <eos>:2 and b:2 by spelling, c:1, <unk>
    np.testing.assert_array_equal(train, [2, 0, 3, 1, 0, 2, 0, 1])
    np.testing.assert_array_equal(valid, [3, 0, 1])
    np.testing.assert_array_equal(test, [0, 4, 1])
    assert train.dtype == np.int32 and unknown == {"train": 0, "valid": 0, "test": 1}


def test_ptb_folder_read_as_a_corpus_equals_counting_its_words_by_hand(data_dir):
    folder = os.path.join(data_dir, "ptb")
    words = {}
    for split in ("train", "valid", "test"):
        with open(os.path.join(folder, f"ptb.{split}.txt")) as file:
            words[split] = [word for line in file for word in line.split() + ["<eos>"]]
    assert [len(words[split]) for split in words] == [929_589, 73_760, 82_430]  # PTB's known token counts
    counts = collections.Counter(words["train"])
    tokens = sorted(counts, key=lambda word: (-counts[word], word))
    assert len(tokens) == 10_000 and set(words["valid"]) | set(words["test"]) <= counts.keys()
    *splits, vocabulary, unknown = load_corpus(folder)
    assert vocabulary.tokens == tokens and unknown == {"train": 0, "valid": 0, "test": 0}
    index = {word: i for i, word in enumerate(tokens)}
    for split, ids in zip(words, splits):
        np.testing.assert_array_equal(ids, [index[word] for word in words[split]], err_msg=split)


def test_text_split_and_non_ascii_vocabulary(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_text(POEM * 20, encoding="utf-8")
    train, valid, test, vocabulary = load_text(str(path), (0.8, 0.1, 0.1))
    n = len(POEM) * 20
    assert (len(train), len(valid), len(test)) == (round(0.8 * n), round(0.1 * n), n - round(0.8 * n) - round(0.1 * n))
    assert {"Ü", "ü", "ö"} <= set(vocabulary.tokens) and vocabulary.tokens == sorted(set(POEM))
    assert vocabulary.decode(np.concatenate([train, valid, test])) == POEM * 20


@pytest.mark.parametrize("parts", [(0.9, 0.1), (0.5, 0.5, 0.5), (1, 0, 0), (0.9, 0.05, -0.05)])
def test_bad_split(parts):
    with pytest.raises(DataError, match="--split takes three fractions"):
        check_split(parts)


# ---- the scripts ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def own_runs(tmp_path_factory):
    """A word model on a corpus folder and a char model on a poem, then both read in one fresh process."""
    folder = tmp_path_factory.mktemp("own_text")
    corpus = write_corpus(folder / "corpus", names=("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"))
    words = folder / "words"
    word_results = train_ptb.main(["--preset", "test", "--corpus", str(corpus), "--num-steps", "5",
                                   "--output-dir", str(words)])
    poem = folder / "poem.txt"
    poem.write_text(POEM * 40, encoding="utf-8")
    chars = folder / "chars"
    char_results = train_char_rnn.main(["--preset", "test", "--text", str(poem), "--split", "0.8", "0.1", "0.1",
                                        "--epochs", "3", "--output-dir", str(chars)])
    word_sample = [str(words), "--prime", "the cat", "--length", "8"]
    char_sample = [str(chars), "--prime", "Über", "--length", "40", "--top-k", "5"]
    fresh = python_result(f"""
import json, sample
print("RESULT", json.dumps({{"word_ids": sample.main({word_sample!r}), "char_ids": sample.main({char_sample!r}),
                            "nats": sample.main([r"{chars}", "--evaluate", r"{poem}"])}}))
""")
    return dict(corpus=corpus, words=words, word_results=word_results, word_sample=word_sample, poem=poem,
                chars=chars, char_results=char_results, char_sample=char_sample, fresh=fresh)


def test_word_model_on_own_corpus_samples_in_a_fresh_process(own_runs):
    corpus, out, results = own_runs["corpus"], own_runs["words"], own_runs["word_results"]
    assert results["unknown_words"] == {"train": 0, "valid": 30, "test": 60}
    assert results["vocabulary_size"] == 13 and np.isfinite(results["test_perplexity"])
    settings = json.load(open(out / "config.json"))
    assert [f["path"] for f in settings["data"]["files"]] == [str(corpus / f"ptb.{s}.txt") for s in ("train", "valid", "test")]
    assert settings["model"]["vocab_size"] == 13
    ids = own_runs["fresh"]["word_ids"]
    assert len(ids) == 8 and ids == sample.main(own_runs["word_sample"])  # the run folder alone gives the sample


def test_char_model_on_own_text_samples_and_evaluates_in_a_fresh_process(own_runs):
    path, out, results = own_runs["poem"], own_runs["chars"], own_runs["char_results"]
    assert results["test_nats"] < np.log(len(set(POEM)))  # better than uniform over its characters
    vocab = json.load(open(out / "vocab.json"))
    assert vocab["tokens"] == sorted(set(POEM))
    record = json.load(open(out / "config.json"))["data"]["files"][0]
    assert record["path"] == str(path) and record["bytes"] == len((POEM * 40).encode("utf-8"))
    fresh = own_runs["fresh"]
    assert len(fresh["char_ids"]) == 40 and fresh["char_ids"] == sample.main(own_runs["char_sample"])
    assert fresh["nats"] < np.log(len(set(POEM)))
    assert fresh["nats"] == pytest.approx(sample.main([str(out), "--evaluate", str(path)]), rel=1e-6)


def test_resume_refuses_a_changed_or_missing_text(own_runs, tmp_path, capsys):
    """The shared char run on the poem (3 epochs): its text changed, then gone, then another given. The poem is put
    back as it was at the end, for the tests after; the refusals leave the run folder as it was."""
    path, out = own_runs["poem"], own_runs["chars"]
    original = path.read_bytes()
    try:
        path.write_text(POEM * 40 + "one more line\n", encoding="utf-8")
        before = sorted(os.listdir(out))
        message = script_error(train_char_rnn.main, ["--resume", "--epochs", "4", "--output-dir", str(out)], capsys)
        assert "has changed since" in message and sorted(os.listdir(out)) == before
        path.unlink()
        assert "which is missing now" in script_error(train_char_rnn.main, ["--resume", "--epochs", "4",
                                                                            "--output-dir", str(out)], capsys)
    finally:
        path.write_bytes(original)
    other = tmp_path / "other.txt"
    other.write_text(POEM)
    assert "resume it without --text" in script_error(train_char_rnn.main, ["--resume", "--text", str(other),
                                                                             "--output-dir", str(out)], capsys)
    assert sorted(os.listdir(out)) == before


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("folder", "is a folder"),
    (b"", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "binary file, not text (a zero byte at offset 8)"),
    ("Grüße\n".encode("latin-1"), "byte 0xfc at offset 2"),
])
def test_bad_text_file_writes_nothing(tmp_path, capsys, content, message):
    path = tmp_path / "input.txt"
    if content == "folder":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    out = tmp_path / "run"
    assert message in script_error(train_char_rnn.main, ["--text", str(path), "--output-dir", str(out)], capsys)
    assert not out.exists()


def test_too_little_text_names_the_minimum_and_the_flags(tmp_path, capsys):
    path = tmp_path / "short.txt"
    path.write_text(POEM, encoding="utf-8")  # 186 characters; the small preset's batches need 32 × 51
    message = script_error(train_char_rnn.main, ["--text", str(path), "--output-dir", str(tmp_path / "r")], capsys)
    assert "too few" in message and "at least 1,632" in message and "--batch-size or --num-steps" in message
    corpus = write_corpus(tmp_path / "c")
    (corpus / "valid.txt").write_text("the cat\n")
    message = script_error(train_ptb.main, ["--corpus", str(corpus), "--output-dir", str(tmp_path / "p")], capsys)
    assert "the valid split" in message and "at least 420" in message and "--batch-size" in message


def test_bad_corpus_input_writes_nothing(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "c")
    (corpus / "test.txt").unlink()
    out = tmp_path / "run"
    assert "has no test split: it needs a file test.txt (or ptb.test.txt)" in script_error(
        train_ptb.main, ["--corpus", str(corpus), "--output-dir", str(out)], capsys)
    assert "is not a folder" in script_error(train_ptb.main, ["--corpus", str(corpus / "train.txt")], capsys)
    assert "--vocab-size must be at least 2" in script_error(train_ptb.main, ["--vocab-size", "1"], capsys)
    assert "--split cuts a --text file" in script_error(train_char_rnn.main, ["--split", "0.8", "0.1", "0.1"], capsys)
    assert "--split takes three fractions" in script_error(
        train_char_rnn.main, ["--text", "x.txt", "--split", "0.8", "0.3", "0.1"], capsys)
    assert "--split: expected 3 arguments" in script_error(
        train_char_rnn.main, ["--text", "x.txt", "--split", "0.8", "0.1"], capsys)
    assert "--split: invalid float value: 'a'" in script_error(
        train_char_rnn.main, ["--text", "x.txt", "--split", "a", "b", "c"], capsys)
    assert not out.exists()
