"""Tiny Shakespeare (karpathy/char-rnn's input.txt), split as tensorflow-datasets' tiny_shakespeare."""

import os

from datasets.files import dataset_folder
from datasets.vocabulary import Vocabulary

VALID_CHARS = TEST_CHARS = 55_770  # tfds: train = the first 1,003,854 characters, then valid, then test


def split_text(text):
    """(train, valid, test): everything but the last 2·55,770 characters, then 55,770, then 55,770."""
    if len(text) <= VALID_CHARS + TEST_CHARS:
        raise ValueError(f"The text has {len(text)} characters; the split needs more than {VALID_CHARS + TEST_CHARS}.")
    train_end = len(text) - VALID_CHARS - TEST_CHARS
    return text[:train_end], text[train_end : train_end + VALID_CHARS], text[train_end + VALID_CHARS :]


def load_shakespeare(data_dir=None, download=None):
    """Returns (train, valid, test) text and the character Vocabulary of the whole file (65 characters)."""
    folder = dataset_folder("tinyshakespeare", data_dir, download)
    with open(os.path.join(folder, "input.txt"), encoding="utf-8") as f:
        train, valid, test = split_text(f.read())
    return train, valid, test, Vocabulary.of_chars(train + valid + test)
