"""tensorflow-datasets as a second source of MNIST and Tiny Shakespeare (`--source tfds`).

    (x_train, y_train), (x_test, y_test) = load_mnist_tfds(tfds_dir)    # as datasets.load_mnist
    train, valid, test, vocabulary = load_shakespeare_tfds(tfds_dir)     # as datasets.load_shakespeare

`tfds.load` reads a data set prepared in `tfds_dir` (`--tfds-dir`, else
TFDS' own default, `$TFDS_DATA_DIR` or ~/tensorflow_datasets). One not
prepared there yet is prepared first: from this project's verified copy of
the original files when one is on disk (TFDS' manual directory: no
download, and TFDS checks the files against its own checksums), else by
TFDS' own download, unless LSTM_OFFLINE=1 forbids it.

The arrays equal the default reader's: Tiny Shakespeare character for
character (TFDS' split is the one `datasets.shakespeare` copies), MNIST the
same images with the same labels and dtypes, but in TFDS' order (TFDS
shuffles examples when it writes them), so the last 5,000 training images,
which train_mnist_bilstm.py holds out for validation, are other images
than the original file's last 5,000. TensorFlow and tensorflow-datasets are
imported only here: the default source needs neither.
"""

import os

import numpy as np

from datasets.files import DataError, dataset_folder
from datasets.vocabulary import Vocabulary

SOURCES = ("files", "tfds")  # --source: this project's md5-checked reader (default), or tensorflow-datasets
TFDS_NAMES = {"mnist": "mnist", "tinyshakespeare": "tiny_shakespeare"}  # our folder → TFDS' data set
INSTALL = "pip install tensorflow-datasets==4.9.10 importlib_resources==7.1.0 (as in requirements.txt)"


def import_tfds():
    """tensorflow_datasets, or a DataError that says what is missing and what to do."""
    try:
        import tensorflow  # noqa: F401  (TFDS reads its record files with TensorFlow)
    except ImportError:
        raise DataError("--source tfds reads tensorflow-datasets' files with TensorFlow, which is not installed "
                        "here (the JAX backend on its own). Leave out --source to read the md5-checked original "
                        f"files, which need no TensorFlow, or install tensorflow and tensorflow-datasets "
                        f"(pip install -r requirements.txt).") from None
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise DataError(f"--source tfds needs tensorflow-datasets, which cannot be imported here ({error}). Install "
                        f"it with {INSTALL}, or leave out --source to read the md5-checked original "
                        f"files.") from None
    return tfds


def check_tfds_dir(tfds_dir):
    """A clear error for a --tfds-dir that is not an existing folder (TFDS would quietly create it)."""
    if tfds_dir is not None and not os.path.isdir(tfds_dir):
        raise DataError(f"--tfds-dir {tfds_dir} is not a folder. Give the folder where tensorflow-datasets keeps "
                        f"its data sets (the one that holds mnist/ or tiny_shakespeare/), create it for TFDS to "
                        f"prepare them there, or leave it out for TFDS' default.")


def _our_copy(dataset, data_dir):
    """This project's verified folder of `dataset` if it is on disk (nothing is downloaded), else None."""
    try:
        return dataset_folder(dataset, data_dir, download=False)
    except DataError:
        return None


def _prepared_builder(dataset, tfds_dir, data_dir):
    """TFDS' builder of `dataset` (our folder name), prepared in `tfds_dir` if it was not already."""
    tfds = import_tfds()
    check_tfds_dir(tfds_dir)
    name = TFDS_NAMES[dataset]
    builder = tfds.builder(name, data_dir=tfds_dir)
    if builder.is_prepared():
        return builder
    root = builder.data_dir_root
    manual = _our_copy(dataset, data_dir)
    offline = os.environ.get("LSTM_OFFLINE", "") in ("1", "true", "yes")
    if manual is None and offline:
        raise DataError(f"tensorflow-datasets has no prepared {name} in {root}, and LSTM_OFFLINE=1 forbids "
                        f"downloading it. Point --tfds-dir at a folder that holds it, put the original files where "
                        f"--data-dir or LSTM_DATA_DIR points (TFDS then prepares it from them), or unset "
                        f"LSTM_OFFLINE.")
    print(f"Preparing tensorflow-datasets' {name} in {root} from "
          f"{'the files in ' + manual if manual else 'its download'} (once).", flush=True)
    try:
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual))
    except Exception as error:  # TFDS raises many kinds (network, checksum, permissions): say which, in one line
        raise DataError(f"tensorflow-datasets could not prepare {name} in {root}: {type(error).__name__}: "
                        f"{str(error).splitlines()[0] if str(error) else ''}. Check that the folder is writable "
                        f"and the network reaches TFDS' download, or leave out --source to read the md5-checked "
                        f"original files.") from None
    return builder


def load_mnist_tfds(tfds_dir=None, data_dir=None):
    """(x_train, y_train), (x_test, y_test) from TFDS' mnist: uint8 (60000, 28, 28), (10000, 28, 28), labels 0–9."""
    tfds = import_tfds()
    builder = _prepared_builder("mnist", tfds_dir, data_dir)

    def split(name):
        images, labels = tfds.as_numpy(builder.as_dataset(split=name, batch_size=-1, as_supervised=True))
        return images[..., 0].astype(np.uint8), labels.astype(np.uint8)

    return split("train"), split("test")


def load_shakespeare_tfds(tfds_dir=None, data_dir=None):
    """(train, valid, test) text and the character Vocabulary of all three, from TFDS' tiny_shakespeare."""
    tfds = import_tfds()
    builder = _prepared_builder("tinyshakespeare", tfds_dir, data_dir)
    splits = [tfds.as_numpy(builder.as_dataset(split=name, batch_size=-1))["text"][0].decode("utf-8")
              for name in ("train", "validation", "test")]
    return (*splits, Vocabulary.of_chars("".join(splits)))
