"""Loaders for the three data sets, verified by md5, as NumPy arrays for any Keras backend.

    from datasets import load_ptb, ptb_batches, load_mnist, load_shakespeare
"""

from datasets.batching import random_windows, stream_batches
from datasets.files import DataError
from datasets.mnist import load_mnist
from datasets.ptb import load_ptb, ptb_batches
from datasets.shakespeare import CharVocabulary, load_shakespeare, split_text

__all__ = [
    "CharVocabulary", "DataError", "load_mnist", "load_ptb", "load_shakespeare", "ptb_batches",
    "random_windows", "split_text", "stream_batches",
]
