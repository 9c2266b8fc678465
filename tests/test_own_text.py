"""Training on the user's own text: any UTF-8 file for char-rnn, any corpus folder for the word model."""

import json
import os

import numpy as np
import pytest

import sample
import train_char_rnn
import train_ptb
from datasets import DataError, load_corpus, load_ptb, load_text, parse_split
from tests.conftest import run_python, script_error

POEM = ("Über den Wipfeln ist Ruh,\nin allen Gipfeln spürest du\nkaum einen Hauch;\n"
        "die Vögelein schweigen im Walde.\nWarte nur, balde ruhest du auch.\n")


def write_corpus(folder, names=("train.txt", "valid.txt", "test.txt")):
    """Lines without trailing spaces; valid and test have words the training split never saw."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    words = "the cat sat on a mat and the dog ran to it".split()
    train = "\n".join(" ".join(rng.choice(words, 7)) for _ in range(400)) + "\n"
    (folder / names[0]).write_text(train)
    (folder / names[1]).write_text("the zebra sat on the mat\n" * 30)
    (folder / names[2]).write_text("a cat and a yak ran\nthe gnu\n" * 30)
    return folder


# ---- loaders, by hand ---------------------------------------------------------------------------------------

def test_corpus_words_outside_the_vocabulary_become_unk_and_are_counted(tmp_path):
    train, valid, test, vocabulary, unknown = load_corpus(str(write_corpus(tmp_path / "c")))
    assert vocabulary.tokens[-1] == "<unk>" and "zebra" not in vocabulary.index
    assert unknown == {"train": 0, "valid": 30, "test": 60}  # zebra ×30; yak and gnu ×30 each
    assert vocabulary.decode(valid[:7]) == "the <unk> sat on the mat\n"
    assert len(valid) == 30 * 7 and len(test) == 30 * (7 + 3)  # nothing dropped (each line: its words + <eos>)
    capped = load_corpus(str(tmp_path / "c"), vocab_size=4)
    assert len(capped[3]) == 4 and capped[3].tokens[-1] == "<unk>" and capped[4]["train"] > 0


def test_corpus_folder_with_ptb_names_gives_the_ptb_loader_ids(data_dir, tmp_path):
    ours = load_corpus(os.path.join(data_dir, "ptb"))
    ptb = load_ptb(data_dir)
    for a, b in zip(ours[:3], ptb[:3]):
        np.testing.assert_array_equal(a, b)
    assert ours[3] == ptb[3] and len(ours[3]) == 10_000 and ours[4] == {"train": 0, "valid": 0, "test": 0}
    assert (len(ours[0]), len(ours[1]), len(ours[2])) == (929_589, 73_760, 82_430)


def test_text_split_and_non_ascii_vocabulary(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_text(POEM * 20, encoding="utf-8")
    train, valid, test, vocabulary = load_text(str(path), (0.8, 0.1, 0.1))
    n = len(POEM) * 20
    assert (len(train), len(valid), len(test)) == (round(0.8 * n), round(0.1 * n), n - round(0.8 * n) - round(0.1 * n))
    assert {"Ü", "ü", "ö"} <= set(vocabulary.tokens) and vocabulary.tokens == sorted(set(POEM))
    assert vocabulary.decode(np.concatenate([train, valid, test])) == POEM * 20


@pytest.mark.parametrize("text", ["0.9,0.1", "0.5,0.5,0.5", "1,0,0", "0.9,0.05,-0.05", "a,b,c"])
def test_bad_split(text):
    with pytest.raises(DataError, match="--split takes three fractions"):
        parse_split(text)


# ---- the scripts ------------------------------------------------------------------------------------------

def test_word_model_on_own_corpus_samples_in_a_fresh_process(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", names=("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"))
    out = tmp_path / "run"
    results = train_ptb.main(["--preset", "test", "--corpus", str(corpus), "--num-steps", "5", "--output-dir", str(out)])
    assert results["unknown_words"] == {"train": 0, "valid": 30, "test": 60}
    assert results["vocabulary_size"] == 13 and np.isfinite(results["test_perplexity"])
    settings = json.load(open(out / "config.json"))
    assert [f["path"] for f in settings["data"]["files"]] == [str(corpus / f"ptb.{s}.txt") for s in ("train", "valid", "test")]
    assert settings["model"]["vocab_size"] == 13
    result = run_python(f"import sample; print('IDS', sample.main([r'{out}', '--prime', 'the cat', '--length', '8']))")
    assert "IDS" in result.stdout, result.stderr[-2000:]
    assert len(result.stdout.split("IDS")[1].strip("[]\n ").split(",")) == 8


def test_char_model_on_own_text_samples_and_evaluates_in_a_fresh_process(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_text(POEM * 40, encoding="utf-8")
    out = tmp_path / "run"
    results = train_char_rnn.main(["--preset", "test", "--text", str(path), "--split", "0.8,0.1,0.1",
                                   "--epochs", "3", "--output-dir", str(out)])
    assert results["test_nats"] < np.log(len(set(POEM)))  # better than uniform over its characters
    vocab = json.load(open(out / "vocab.json"))
    assert vocab["tokens"] == sorted(set(POEM))
    record = json.load(open(out / "config.json"))["data"]["files"][0]
    assert record["path"] == str(path) and record["bytes"] == len((POEM * 40).encode("utf-8"))
    code = (f"import sample\nprint('TEXT', repr(''.join(map(str, sample.main([r'{out}', '--prime', 'Über', "
            f"'--length', '40', '--top-k', '5'])))))\nprint('NATS', sample.main([r'{out}', '--evaluate', r'{path}']))")
    result = run_python(code)
    assert "TEXT" in result.stdout and "NATS" in result.stdout, result.stderr[-2000:]
    assert float(result.stdout.split("NATS")[1]) < np.log(len(set(POEM)))


def test_resume_refuses_a_changed_or_missing_text(tmp_path, capsys):
    path = tmp_path / "poem.txt"
    path.write_text(POEM * 40, encoding="utf-8")
    out = tmp_path / "run"
    common = ["--preset", "test", "--text", str(path), "--output-dir", str(out)]
    train_char_rnn.main(common + ["--steps-per-epoch", "5"])
    path.write_text(POEM * 40 + "one more line\n", encoding="utf-8")
    before = sorted(os.listdir(out))
    message = script_error(train_char_rnn.main, ["--resume", "--epochs", "2", "--output-dir", str(out)], capsys)
    assert "has changed since" in message and sorted(os.listdir(out)) == before
    path.unlink()
    assert "which is missing now" in script_error(train_char_rnn.main, ["--resume", "--epochs", "2",
                                                                        "--output-dir", str(out)], capsys)
    other = tmp_path / "other.txt"
    other.write_text(POEM)
    assert "resume it without --text" in script_error(train_char_rnn.main, ["--resume", "--text", str(other),
                                                                             "--output-dir", str(out)], capsys)


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
    assert "--split cuts a --text file" in script_error(train_char_rnn.main, ["--split", "0.8,0.1,0.1"], capsys)
    assert "--split takes three fractions" in script_error(
        train_char_rnn.main, ["--text", "x.txt", "--split", "0.8,0.1"], capsys)
    assert not out.exists()
