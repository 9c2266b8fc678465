"""The user's own text: any UTF-8 file for the character model, any folder of train/valid/test for the word model.

    train, valid, test, vocabulary = load_text("novel.txt", split=(0.9, 0.05, 0.05))
    corpus = load_corpus("my_corpus/", vocab_size=20_000)

karpathy/char-rnn reads any `data/<name>/input.txt`; pytorch's
word_language_model reads any folder with train.txt, valid.txt and test.txt.
Both are decoded a MB at a time, so a 100 MB text loads in seconds and in little
more memory than its size (`benchmarks/text_loading.py`).
"""

import array
import collections
import hashlib
import math
import os

import numpy as np

from datasets.files import DataError
from datasets.text import check_regular_file, decoded_pieces, read_bytes
from datasets.vocabulary import EOS, UNK, Vocabulary, line_words

SPLITS = ("train", "valid", "test")
DEFAULT_SPLIT = (0.9, 0.05, 0.05)


def fingerprint(path):
    """{"path", "bytes", "sha256"} of a file: what a run records of the text it was trained on."""
    check_regular_file(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return {"path": os.path.abspath(path), "bytes": os.path.getsize(path), "sha256": digest.hexdigest()}


def check_fingerprints(records):
    """Raises DataError unless every recorded file is still there, unchanged."""
    for record in records:
        path = record["path"]
        if not os.path.isfile(path):
            raise DataError(f"the run was trained on {path}, which is missing now. Put the same file back there to "
                            f"continue the run, or start a new run on the text you have.")
        if fingerprint(path) != record:
            raise DataError(f"the run was trained on {path}, which has changed since (it had {record['bytes']:,} "
                            f"bytes, sha256 {record['sha256'][:16]}…). Continuing on another text would mix two "
                            f"trainings: restore the file, or start a new run.")


def check_split(parts):
    """`parts` as a tuple if it is three fractions of a text (train, valid, test), each > 0, that sum to 1."""
    parts = tuple(parts)
    if len(parts) != 3 or not all(math.isfinite(part) and part > 0 for part in parts) or abs(sum(parts) - 1) > 1e-6:
        raise DataError(f"--split takes three fractions of the text for train, valid and test, each greater than 0 "
                        f"and summing to 1, such as 0.9 0.05 0.05; got {' '.join(f'{part:g}' for part in parts)}.")
    return parts


def load_text(path, split=DEFAULT_SPLIT):
    """A UTF-8 file cut into train/valid/test by `split`, as ids of its characters.

    Returns:
        (train, valid, test, vocabulary): id arrays (views of one array) and
        the Vocabulary of every character of the file.
    """
    data = read_bytes(path)
    if not data:
        raise DataError(f"the text file {path} is empty; give a file with the text to learn.")
    vocabulary = Vocabulary.of_chars(decoded_pieces(data, path))  # two passes over the bytes, a MB at a time
    ids, count = np.empty(len(data), vocabulary.id_dtype()), 0  # no more characters than bytes
    for piece in decoded_pieces(data, path):
        ids[count:count + len(piece)] = vocabulary.encode(piece)
        count += len(piece)
    del data
    return (*cut(ids[:count], split), vocabulary)


def cut(sequence, split=DEFAULT_SPLIT):
    """(train, valid, test): `sequence` (characters or their ids) cut by the fractions `split`, in order."""
    train_end = round(split[0] * len(sequence))
    valid_end = train_end + round(split[1] * len(sequence))
    return sequence[:train_end], sequence[train_end:valid_end], sequence[valid_end:]


def split_file(folder, split):
    """The path of a corpus split: SPLIT.txt, or PTB's ptb.SPLIT.txt."""
    names = (f"{split}.txt", f"ptb.{split}.txt")
    for name in names:
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    raise DataError(f"the corpus folder {folder} has no {split} split: it needs a file {names[0]} (or {names[1]}) "
                    f"beside the other splits.")


def file_line_words(path, what):
    """Yields the words of each line of a UTF-8 file (`line_words`), decoded a MB at a time."""
    data, tail = read_bytes(path, what), ""
    for piece in decoded_pieces(data, path, what):
        piece = tail + piece
        cut = piece.rfind("\n") + 1
        yield from line_words(piece[:cut])
        tail = piece[cut:]
    yield from line_words(tail)  # a last line without a line end


def encode_words(lines, vocabulary):
    """Ids of the words of `lines` (lists of words); words outside the vocabulary become `<unk>`.

    Returns:
        (ids, unknown): an int32 array, and how many words became `<unk>`.
    """
    index, unk = vocabulary.index, vocabulary.index.get(UNK)
    ids, unknown = array.array("i"), 0
    for words in lines:
        line = [index.get(word, -1) for word in words]
        if -1 in line:
            if unk is None:
                raise ValueError(f"{vocabulary._unknown_message(words)}, and the vocabulary has no {UNK}")
            unknown += line.count(-1)
            line = [unk if i < 0 else i for i in line]
        ids.extend(line)
    return np.frombuffer(ids, np.int32) if ids else np.zeros(0, np.int32), unknown


def load_corpus(folder, vocab_size=None):
    """A folder with train.txt, valid.txt and test.txt (or PTB's ptb.train.txt, ...), as word ids.

    The vocabulary is the words of the training split sorted by (−count,
    word), at most `vocab_size` of them; every other word, in any split,
    becomes `<unk>` and is counted, never dropped. On the PTB folder this
    gives exactly TensorFlow's reader: 929,589 / 73,760 / 82,430 ids, 10,000 words.

    Returns:
        (train, valid, test, vocabulary, unknown): int32 id arrays, the
        Vocabulary, and {split: number of words that became <unk>}.
    """
    if not os.path.isdir(folder):
        raise DataError(f"--corpus {folder} is not a folder; give a folder with train.txt, valid.txt and test.txt.")
    paths = {split: split_file(folder, split) for split in SPLITS}

    def lines(split):  # read twice, to count and to encode: a large file is never held as text
        return file_line_words(paths[split], f"{split} file")

    counts = {split: collections.Counter(word for words in lines(split) for word in words) for split in SPLITS}
    if not counts["train"] or set(counts["train"]) == {EOS}:
        raise DataError(f"the train split of {folder} has no words; give it the text to learn.")
    outside = any(word not in counts["train"] for split in ("valid", "test") for word in counts[split])
    vocabulary = Vocabulary.of_words(counts["train"], max_size=vocab_size, unk=outside)
    encoded = {split: encode_words(lines(split), vocabulary) for split in SPLITS}
    return (*(encoded[split][0] for split in SPLITS), vocabulary, {split: encoded[split][1] for split in SPLITS})
