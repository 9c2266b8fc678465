"""Penn Treebank, word level (Mikolov's 10k-word release), as TensorFlow's PTB reader reads it."""

from datasets.corpus import load_corpus
from datasets.files import dataset_folder
from datasets.text import read_text
from datasets.vocabulary import split_words


def read_words(path):
    """The words of a text file, every line closed by `<eos>` (`datasets.vocabulary.line_words`)."""
    return split_words(read_text(path))


def load_ptb(data_dir=None, download=None):
    """Returns (train, valid, test) as int32 id arrays, and the Vocabulary of the training words.

    The md5-verified PTB folder read as any corpus folder (`datasets.corpus.load_corpus`): 929,589 /
    73,760 / 82,430 ids and 10,000 words sorted by (−count, word) ('the', '<unk>', '<eos>', 'N', 'of', ...).
    """
    return load_corpus(ptb_folder(data_dir, download))[:4]


def ptb_folder(data_dir=None, download=None):
    """The folder of the verified PTB files (see `datasets.files.dataset_folder`)."""
    return dataset_folder("ptb", data_dir, download)
