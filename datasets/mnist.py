"""MNIST from the four original IDX gzip files."""

import os
import struct

import numpy as np

from datasets.files import DataError, dataset_folder, read_gzip

IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(raw, name="IDX data"):
    """Parses an IDX file's bytes: magic 0x0000 <type> <ndim>, ndim big-endian sizes, then the data."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise DataError(f"{name} is not an IDX file (its first bytes are {raw[:4].hex()}); use the original MNIST files.")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(IDX_TYPES[raw[2]])
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{name} announces shape {shape} but holds {data.size} values; the file is truncated.")
    return data.reshape(shape).astype(dtype.newbyteorder("="))


def load_mnist(data_dir=None, download=None):
    """Returns (x_train, y_train), (x_test, y_test): uint8 (60000, 28, 28), (10000, 28, 28), labels 0–9.

    Args:
        data_dir: A folder holding `mnist/` (or the four files themselves).
    """
    folder = dataset_folder("mnist", data_dir, download)

    def read(name):
        return parse_idx(read_gzip(os.path.join(folder, name)), name)

    return (
        (read("train-images-idx3-ubyte.gz"), read("train-labels-idx1-ubyte.gz")),
        (read("t10k-images-idx3-ubyte.gz"), read("t10k-labels-idx1-ubyte.gz")),
    )
