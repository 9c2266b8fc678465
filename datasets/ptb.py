"""Penn Treebank, word level (Mikolov's 10k-word release), as TensorFlow's PTB reader reads it."""

import collections
import os

import numpy as np

from datasets.batching import stream_batches
from datasets.files import dataset_folder

EOS = "<eos>"


def read_words(path):
    """The words of a PTB file, every line end turned into `<eos>` (TensorFlow's `_read_words`)."""
    with open(path, encoding="utf-8") as f:
        return f.read().replace("\n", EOS).split()


def build_vocabulary(words):
    """Words sorted by (−count, word): id 0 is the most frequent word."""
    counts = collections.Counter(words)
    return [word for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def words_to_ids(words, word_to_id):
    """Ids of the words that are in the vocabulary (TensorFlow's reader drops the others)."""
    return np.array([word_to_id[w] for w in words if w in word_to_id], dtype=np.int32)


def load_ptb(data_dir=None, download=None):
    """Returns (train, valid, test) as int32 id arrays, and the vocabulary (a list, id → word).

    On the canonical files: 929,589 / 73,760 / 82,430 ids and 10,000 words.
    """
    folder = dataset_folder("ptb", data_dir, download)
    splits = [read_words(os.path.join(folder, f"ptb.{split}.txt")) for split in ("train", "valid", "test")]
    vocabulary = build_vocabulary(splits[0])
    word_to_id = {word: i for i, word in enumerate(vocabulary)}
    train, valid, test = (words_to_ids(words, word_to_id) for words in splits)
    return train, valid, test, vocabulary


def ptb_batches(ids, batch_size, num_steps):
    """TensorFlow's `ptb_producer` layout; see `datasets.batching.stream_batches`."""
    return stream_batches(ids, batch_size, num_steps)
