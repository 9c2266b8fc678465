"""Loaders for the three data sets, verified by md5, as NumPy arrays for any Keras backend.

    from datasets import load_ptb, load_mnist, load_shakespeare, Vocabulary, stream_batches
    from datasets import load_text, load_corpus          # the user's own text
"""

from datasets.batching import epoch_rows, random_windows, stream_batches, stream_rows, whole_stream_rows
from datasets.corpus import SPLITS, check_fingerprints, fingerprint, load_corpus, load_text, check_split, split_file
from datasets.files import DataError
from datasets.mnist import load_mnist
from datasets.ptb import load_ptb, ptb_folder
from datasets.shakespeare import load_shakespeare, split_text
from datasets.text import read_text
from datasets.vocabulary import EOS, UNK, Vocabulary, split_words

__all__ = [
    "DataError", "EOS", "SPLITS", "UNK", "Vocabulary", "check_fingerprints", "fingerprint", "load_corpus", "load_mnist",
    "load_ptb", "load_shakespeare", "load_text", "check_split", "ptb_folder", "random_windows", "read_text",
    "split_file", "split_text", "split_words", "stream_batches", "stream_rows", "whole_stream_rows", "epoch_rows",
]
