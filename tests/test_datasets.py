"""The data loaders: hand-computed cases on tiny files, the real files, and the errors."""

import os
import shutil
import struct

import numpy as np
import pytest

from datasets import (DataError, Vocabulary, load_mnist, load_ptb, load_shakespeare, random_windows, read_text,
                      split_text, split_words, stream_batches)
from datasets.files import FILES, md5sum
from datasets.mnist import parse_idx
from datasets.ptb import read_words


# ---- hand-computed cases ---------------------------------------------------------------------------------

def test_ptb_words_vocabulary_and_ids(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text(" b a c \n a b a \n")  # PTB's layout: a space at both ends of every line
    words = read_words(path)
    assert words == ["b", "a", "c", "<eos>", "a", "b", "a", "<eos>"]
    vocabulary = Vocabulary.of_words(words)
    assert vocabulary.tokens == ["a", "<eos>", "b", "c"]  # a:3, then <eos>:2 and b:2 by spelling, then c:1
    ids = vocabulary.encode(["c", "a", "<eos>"])
    np.testing.assert_array_equal(ids, [3, 0, 1])
    assert ids.dtype == np.int32
    with pytest.raises(ValueError, match="'z'"):  # no <unk> in this vocabulary: an unknown word is an error
        vocabulary.encode(["c", "z"])


def test_one_word_tokenizer_for_lines_without_trailing_spaces():
    assert split_words("the cat sat\non the mat\n") == ["the", "cat", "sat", "<eos>", "on", "the", "mat", "<eos>"]
    assert split_words("the cat sat\non the mat") == ["the", "cat", "sat", "<eos>", "on", "the", "mat", "<eos>"]
    assert split_words("the company said", close_last_line=False) == ["the", "company", "said"]
    assert split_words("a\n\nb\n") == ["a", "<eos>", "<eos>", "b", "<eos>"]  # an empty line is one <eos>
    vocabulary = Vocabulary("words", ["<unk>", "the", "cat", "<eos>"])
    assert vocabulary.split("the cat sat\n") == ["the", "cat", "sat", "<eos>"]
    np.testing.assert_array_equal(vocabulary.encode(vocabulary.split("the cat sat\n")), [1, 2, 0, 3])  # sat → <unk>
    assert vocabulary.decode([1, 2, 3, 1]) == "the cat\nthe"


def test_word_vocabulary_cap_keeps_the_most_frequent_and_unk():
    words = "a a a b b c d <eos> <eos> <eos> <eos>".split()
    assert Vocabulary.of_words(words, max_size=3).tokens == ["<eos>", "a", "<unk>"]
    assert Vocabulary.of_words(words + ["<unk>"] * 9, max_size=2).tokens == ["<unk>", "<eos>"]


def test_stream_batches_match_tensorflow_reader_test():
    """The arrays of TensorFlow's ptb reader_test.testPtbProducer."""
    raw = [4, 3, 2, 1, 0, 5, 6, 1, 1, 1, 1, 0, 3, 4, 1]
    x, y = stream_batches(raw, batch_size=3, num_steps=2)
    assert x.shape == y.shape == (2, 3, 2)
    np.testing.assert_array_equal(x[0], [[4, 3], [5, 6], [1, 0]])
    np.testing.assert_array_equal(y[0], [[3, 2], [6, 1], [0, 3]])
    np.testing.assert_array_equal(x[1], [[2, 1], [1, 1], [3, 4]])
    np.testing.assert_array_equal(y[1], [[1, 0], [1, 1], [4, 1]])


def test_stream_batches_rows_continue_from_step_to_step():
    x, y = stream_batches(np.arange(100), batch_size=4, num_steps=5)  # batch_len 25, epoch_size 4
    assert x.shape == (4, 4, 5)
    np.testing.assert_array_equal(np.concatenate(list(x), axis=1)[1], np.arange(25, 45))
    np.testing.assert_array_equal(y, x + 1)
    with pytest.raises(DataError, match="too few"):
        stream_batches(np.arange(10), batch_size=4, num_steps=5)


def test_random_windows():
    x, y = random_windows(np.arange(50), count=6, length=8, rng=np.random.default_rng(0))
    assert x.shape == y.shape == (6, 8)
    np.testing.assert_array_equal(np.diff(x, axis=1), 1)
    np.testing.assert_array_equal(y, x + 1)
    assert x.max() < 49


def idx_bytes(array, type_code=0x08):
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(">u1" if type_code == 0x08 else ">i4").tobytes()


def test_parse_idx_by_hand():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(parse_idx(idx_bytes(images)), images)
    raw = bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 0, 9])  # labels 7, 0, 9 written out byte by byte
    np.testing.assert_array_equal(parse_idx(raw), [7, 0, 9])
    np.testing.assert_array_equal(parse_idx(idx_bytes(np.array([[1, -2]]), 0x0C)), [[1, -2]])
    with pytest.raises(DataError, match="not an IDX file"):
        parse_idx(b"PK\x03\x04rest")
    with pytest.raises(DataError, match="truncated"):
        parse_idx(idx_bytes(images)[:-1])


def test_character_split_and_vocabulary():
    text = "a" * 100 + "b" * 55_770 + "c" * 55_770
    train, valid, test = split_text(text)
    assert (train, valid, test) == ("a" * 100, "b" * 55_770, "c" * 55_770)
    vocabulary = Vocabulary.of_chars("hello world")
    assert vocabulary.tokens == [" ", "d", "e", "h", "l", "o", "r", "w"]
    np.testing.assert_array_equal(vocabulary.encode("hole"), [3, 5, 4, 2])
    np.testing.assert_array_equal(vocabulary.encode(list("hole")), [3, 5, 4, 2])  # a list of characters too
    assert vocabulary.decode(vocabulary.encode("low world")) == "low world"
    assert vocabulary.unknown("hex!x") == ["x", "!"]
    with pytest.raises(ValueError, match="'x', '!'"):
        vocabulary.encode("hex!")


def test_character_encoding_of_non_ascii_text_in_chunks():
    text = "Ünïcödé — 日本語 😀\n" * 50
    vocabulary = Vocabulary.of_chars(text)
    ids = vocabulary._encode_chars(text, chunk=7)  # chunks that cut through every line
    np.testing.assert_array_equal(ids, [vocabulary.index[c] for c in text])
    assert vocabulary.decode(ids) == text


# ---- the real files --------------------------------------------------------------------------------------

def test_real_ptb(data_dir):
    train, valid, test, vocabulary = load_ptb(data_dir)
    assert (len(train), len(valid), len(test)) == (929_589, 73_760, 82_430)
    assert len(vocabulary) == 10_000 and vocabulary.tokens[:5] == ["the", "<unk>", "<eos>", "N", "of"]
    assert train.dtype == np.int32 and train.max() == 9_999
    np.testing.assert_array_equal(train[:5], [9970, 9971, 9972, 9974, 9975])  # "aer banknote berlitz calloway centrust"
    assert vocabulary.decode(valid[:4]) == "consumers may want to"
    assert vocabulary.decode(test[:3]) == "no it was"
    x, y = stream_batches(train, 20, 20)
    assert x.shape == (2323, 20, 20)


def test_real_mnist(data_dir):
    (x_train, y_train), (x_test, y_test) = load_mnist(data_dir)
    assert x_train.shape == (60_000, 28, 28) and x_test.shape == (10_000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    np.testing.assert_array_equal(y_train[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    np.testing.assert_array_equal(y_test[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    assert set(np.unique(y_train)) == set(range(10)) and x_train.max() == 255


def test_real_shakespeare(data_dir):
    train, valid, test, vocabulary = load_shakespeare(data_dir)
    assert (len(train), len(valid), len(test)) == (1_003_854, 55_770, 55_770)
    assert len(vocabulary) == 65
    assert train.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")
    assert valid.startswith("?\n\nGREMIO:\nGood morrow, neighb")


# ---- errors ----------------------------------------------------------------------------------------------

def test_corrupted_copy_names_file_and_checksum(data_dir, isolated_data_env):
    bad = isolated_data_env / "bad" / "ptb"
    shutil.copytree(os.path.join(data_dir, "ptb"), bad)
    with open(bad / "ptb.valid.txt", "r+b") as f:
        f.write(b"X")
    with pytest.raises(DataError) as error:
        load_ptb(isolated_data_env / "bad", download=False)
    message = str(error.value)
    assert str(bad / "ptb.valid.txt") in message and FILES["ptb"]["ptb.valid.txt"][0] in message
    # not the cache: deleting the file would give "missing", not a download; the message says so
    assert "deleting it will not bring a fresh one" in message and "downloads go only into the cache" in message
    assert "missing" not in message and "\n" not in message  # it is there, only wrong
    assert md5sum(bad / "ptb.train.txt") == FILES["ptb"]["ptb.train.txt"][0]  # nothing else touched
    cache = isolated_data_env / "cache" / "ptb"  # in the cache, with downloading on, deleting it is the fix
    shutil.copytree(bad, cache)
    with pytest.raises(DataError) as error:
        load_ptb(download=True)
    assert "Delete it and run again: a fresh copy is then downloaded" in str(error.value)
    with pytest.raises(DataError) as error:
        load_ptb(download=False)  # offline, it says that too
    assert "downloading is switched off" in str(error.value)


def test_empty_folder_offline_gives_clear_error(isolated_data_env):
    empty = isolated_data_env / "empty"
    empty.mkdir()
    for loader, name in ((load_ptb, "ptb.train.txt"), (load_mnist, "train-images-idx3-ubyte.gz"),
                         (load_shakespeare, "input.txt")):
        with pytest.raises(DataError) as error:
            loader(empty, download=False)
        message = str(error.value)
        assert name in message and str(empty) in message and "--data-dir" in message
    assert not (isolated_data_env / "cache").exists() or not any((isolated_data_env / "cache").rglob("*"))


def test_partial_folder_names_the_missing_file(data_dir, isolated_data_env):
    partial = isolated_data_env / "partial" / "mnist"
    partial.mkdir(parents=True)
    shutil.copy(os.path.join(data_dir, "mnist", "train-images-idx3-ubyte.gz"), partial)
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz"):
        load_mnist(partial.parent, download=False)



@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("folder", "is a folder"),
    (b"PK\x03\x04\x00\x00binary", "binary file, not text (a zero byte at offset 4)"),
    ("caf\u00e9 ok\n".encode("latin-1"), "byte 0xe9 at offset 3"),
])
def test_read_text_errors(tmp_path, content, message):
    path = tmp_path / "input.txt"
    if content == "folder":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_text(str(path))


def test_read_text_turns_line_ends_to_newlines(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes("one\r\ntwo\rthree ü\n".encode("utf-8"))
    assert read_text(str(path)) == "one\ntwo\nthree ü\n"


def test_decoding_in_pieces_that_cut_characters_and_line_ends():
    from datasets.text import decoded_pieces

    data = "a\r\nü\rc\r\n日本\n".encode("utf-8")
    for size in (1, 2, 3, 5, 100):  # pieces that cut "\r\n" and the bytes of ü and 日本
        assert "".join(decoded_pieces(data, "x.txt", size=size)) == "a\nü\nc\n日本\n"
    with pytest.raises(DataError, match="byte 0xfc at offset 6"):
        list(decoded_pieces(b"abc\ndu\xfc", "x.txt", size=2))


def test_a_lower_case_vocabulary_reads_capitalised_words_in_lower_case():
    ptb_like = Vocabulary("words", ["the", "<unk>", "<eos>", "N", "company", "said"])  # PTB's `N` for numbers
    assert ptb_like.lower_case
    assert ptb_like.read_cased(["The", "Company", "N", "said", "Zebra"]) == ["the", "company", "N", "said", "Zebra"]
    cased = Vocabulary("words", ["The", "the", "Company"])
    assert not cased.lower_case and cased.read_cased(["THE"]) == ["THE"]
    assert not Vocabulary("chars", ["a", "b"]).lower_case
