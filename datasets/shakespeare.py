"""Tiny Shakespeare (karpathy/char-rnn's input.txt), split as tensorflow-datasets' tiny_shakespeare."""

import os

import numpy as np

from datasets.files import dataset_folder

VALID_CHARS = TEST_CHARS = 55_770  # tfds: train = the first 1,003,854 characters, then valid, then test


class CharVocabulary:
    """Characters ↔ ids; ids follow the sorted order of the characters."""

    def __init__(self, chars):
        self.chars = list(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text):
        return cls(sorted(set(text)))

    def __len__(self):
        return len(self.chars)

    def unknown(self, text):
        """The characters of `text` that are not in the vocabulary, in order of appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.index))

    def encode(self, text):
        missing = self.unknown(text)
        if missing:
            raise ValueError(f"characters not in the vocabulary: {''.join(missing)!r}")
        return np.array([self.index[c] for c in text], dtype=np.int32)

    def decode(self, ids):
        return "".join(self.chars[int(i)] for i in ids)


def split_text(text):
    """(train, valid, test): everything but the last 2·55,770 characters, then 55,770, then 55,770."""
    if len(text) <= VALID_CHARS + TEST_CHARS:
        raise ValueError(f"The text has {len(text)} characters; the split needs more than {VALID_CHARS + TEST_CHARS}.")
    train_end = len(text) - VALID_CHARS - TEST_CHARS
    return text[:train_end], text[train_end : train_end + VALID_CHARS], text[train_end + VALID_CHARS :]


def load_shakespeare(data_dir=None, source="files", download=None):
    """Returns (train, valid, test) text and the CharVocabulary of the whole file (65 characters)."""
    folder = dataset_folder("tinyshakespeare", data_dir, download)
    if source == "tfds":
        from datasets.tfds_source import load_tfds

        splits = load_tfds("tiny_shakespeare", folder, ("train", "validation", "test"))
        train, valid, test = (split["text"][0].decode("utf-8") for split in splits)
    elif source == "files":
        with open(os.path.join(folder, "input.txt"), encoding="utf-8") as f:
            train, valid, test = split_text(f.read())
    else:
        raise ValueError(f"source must be 'files' or 'tfds'; got {source!r}.")
    return train, valid, test, CharVocabulary.from_text(train + valid + test)
