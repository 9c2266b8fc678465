"""Finding, verifying and downloading the data files.

Every file the project reads is listed in FILES with its published md5 and
canonical source. `dataset_folder` looks, in order, in the `data_dir`
argument (scripts: `--data-dir`), in `$LSTM_DATA_DIR`, and in the cache
folder (`~/.keras/datasets/lstm-keras`, or `$LSTM_CACHE_DIR`), and downloads
what is missing into the cache with `keras.utils.get_file`, trying each file's
sources in order. Downloads go to a hidden folder beside the files and are
renamed only once complete and verified, so an interrupted or corrupted
download never leaves a file that looks finished.
"""

import contextlib
import gzip
import hashlib
import itertools
import os
import shutil
import socket
import tarfile
import tempfile
import urllib.parse

from keras.utils import get_file

PTB_ARCHIVE = "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz"
MNIST_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",  # the mirror tensorflow-datasets uses
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"

# folder -> file -> (md5, [(url, member of the archive at that url or None), ...])
FILES = {
    "ptb": {
        "ptb.train.txt": ("f26c4b92c5fdc7b3f8c7cdcb991d8420", [(PTB_ARCHIVE, "./simple-examples/data/ptb.train.txt")]),
        "ptb.valid.txt": ("aa0affc06ff7c36e977d7cd49e3839bf", [(PTB_ARCHIVE, "./simple-examples/data/ptb.valid.txt")]),
        "ptb.test.txt": ("8b80168b89c18661a38ef683c0dc3721", [(PTB_ARCHIVE, "./simple-examples/data/ptb.test.txt")]),
    },
    "mnist": {
        name: (md5, [(mirror + name, None) for mirror in MNIST_MIRRORS])
        for name, md5 in (
            ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        )
    },
    "tinyshakespeare": {
        "input.txt": ("6fb458f1232090904fb40fe944165e91", [(SHAKESPEARE_URL, None)]),
    },
}


class DataError(RuntimeError):
    """A data file is missing or wrong; the message says which and what to do."""


def cache_root():
    return os.environ.get("LSTM_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".keras", "datasets", "lstm-keras")


def md5sum(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def candidate_folders(dataset, data_dir=None):
    """Where `dataset`'s files may lie, in the order they are searched."""
    folders = []
    for root in (data_dir, os.environ.get("LSTM_DATA_DIR")):
        if root:
            root = os.path.abspath(os.path.expanduser(str(root)))
            folders += [os.path.join(root, dataset), root]  # data/ptb/ or the ptb folder itself
    folders.append(os.path.join(cache_root(), dataset))
    return list(dict.fromkeys(folders))


def dataset_folder(dataset, data_dir=None, download=None):
    """Returns the folder holding every file of `dataset`, each verified by md5.

    Missing files are downloaded into the cache unless `download` is False
    (default: True, or False when the environment sets LSTM_OFFLINE=1).

    Raises:
        DataError: a file is corrupt, or missing and could not be downloaded.
    """
    files = FILES[dataset]
    for root, name in ((data_dir, "--data-dir"), (os.environ.get("LSTM_DATA_DIR"), "LSTM_DATA_DIR")):
        if root and os.path.exists(os.path.expanduser(str(root))) and not os.path.isdir(os.path.expanduser(str(root))):
            raise DataError(f"{name} {root} is a file, not a folder; point it at the folder that holds {dataset}/ "
                            f"(or the {dataset} files themselves).")
    if download is None:
        download = os.environ.get("LSTM_OFFLINE", "") not in ("1", "true", "yes")
    searched = candidate_folders(dataset, data_dir)
    downloads = _Downloads(dataset, searched)
    try:
        for folder in searched:
            present = [name for name in files if os.path.isfile(os.path.join(folder, name))]
            if present:
                for name in files:
                    path = os.path.join(folder, name)
                    if not os.path.isfile(path):
                        if folder == searched[-1] and download:
                            downloads.fetch(name)
                            continue
                        why = _why_not_downloaded(folder, searched, download)
                        raise _missing_error(dataset, name, searched, f"it is missing in {folder} beside the other "
                                             f"files, and {why}" if folder != searched[-1] else why)
                    _verify(path, files[name][0], dataset, _why_not_downloaded(folder, searched, download))
                return folder
        if not download:
            raise _missing_error(dataset, next(iter(files)), searched,
                                 "downloading is switched off (download=False or LSTM_OFFLINE=1)")
        for name in files:
            downloads.fetch(name)
        return searched[-1]
    finally:
        downloads.close()


def _why_not_downloaded(folder, searched, download):
    """Why a file missing from `folder` would not be downloaded there ("" if it would be)."""
    if folder != searched[-1]:
        return f"downloads go only into the cache {searched[-1]}, not into {folder}"
    if not download:
        return "downloading is switched off (download=False or LSTM_OFFLINE=1)"
    return ""


def _verify(path, expected, dataset, why_not_downloaded):
    actual = md5sum(path)
    if actual != expected:
        url = FILES[dataset][os.path.basename(path)][1][0][0]
        if why_not_downloaded:  # deleting it would only give "missing": say what would
            fix = (f"Replace it with a verified copy (from {url}); deleting it will not bring a fresh one, as "
                   f"{why_not_downloaded}.")
        else:
            fix = f"Delete it and run again: a fresh copy is then downloaded from {url} (or put a verified copy there)."
        raise DataError(
            f"The data file {path} is corrupt or not the canonical release: its md5 is {actual}, expected "
            f"{expected}. {fix}"
        )


def _missing_error(dataset, name, searched, reason):
    md5, sources = FILES[dataset][name]
    return DataError(
        f"Cannot find the {dataset} data file {name} (md5 {md5}): it is in none of {', '.join(searched)}, "
        f"and {reason}. Download it from {sources[0][0]} (see datasets/files.py) into one of those folders, "
        f"or point --data-dir or LSTM_DATA_DIR at a folder that holds {dataset}/{name}."
    )


DOWNLOAD_TIMEOUT_S = 60  # a source that sends nothing for this long is given up for the next


class _Downloads:
    """The downloads of one `dataset_folder` call into the cache, `searched[-1]`.

    `fetch(name)` tries the file's sources in order, each by `keras.utils.get_file`
    into a hidden staging folder of the cache (`.download-*`), and moves the file
    into place only once its md5 is the published one; `close()` removes the
    staging folder whatever happened (a failure, a KeyboardInterrupt). What
    get_file alone would not keep, and is kept here around it:
    - the next source after a failure: get_file takes one origin and raises;
    - nothing half-written in the cache: get_file writes under the final name,
      and leaves a file whose hash is wrong in place;
    - a timeout: get_file's urlretrieve has none, so a stalled source would
      hang the run instead of giving way to the next (`DOWNLOAD_TIMEOUT_S`);
    - one member of an archive: the published md5s are those of the PTB text
      files, not of the archive (whose own is not published), and get_file's
      `extract=True` would unpack the whole release (binaries, models) to get
      three text files; so the archive is fetched once, unchecked, and each
      member is read from it and checked, as before.
    """

    def __init__(self, dataset, searched):
        self.dataset, self.searched, self.folder = dataset, searched, searched[-1]
        self.staging = None  # made at the first download: an offline call leaves the cache untouched
        self.archives = {}   # url -> the archive downloaded from it, fetched once for all its members
        self.count = itertools.count()  # a new name for every download

    def fetch(self, name):
        md5, sources = FILES[self.dataset][name]
        errors = []
        for url, member in sources:
            try:
                path = self._verified(url, member, md5)
            except Exception as error:  # any failure: try the next source
                message = str(error)
                errors.append(message if url in message else f"{url}: {message}")
                continue
            os.replace(path, os.path.join(self.folder, name))
            return
        raise _missing_error(self.dataset, name, self.searched, "downloading it failed (" + "; ".join(errors) + ")")

    def _verified(self, url, member, md5):
        """The path, in the staging folder, of the file from `url` (or its `member`), its md5 checked."""
        if member is None:
            return self._get(url, md5)
        if url not in self.archives:
            self.archives[url] = self._get(url, None)
        with tarfile.open(self.archives[url], mode="r:gz") as archive:
            payload = archive.extractfile(member).read()
        actual = hashlib.md5(payload).hexdigest()
        if actual != md5:
            raise DataError(f"md5 {actual} instead of {md5}")
        path = os.path.join(self.staging, f"{next(self.count)}-{os.path.basename(member)}")
        with open(path, "wb") as f:  # the mode get_file gives its files (the umask's)
            f.write(payload)
        return path

    def _get(self, url, md5):
        """`keras.utils.get_file` of `url` into a new name of the staging folder (md5 checked unless None)."""
        if self.staging is None:
            os.makedirs(self.folder, exist_ok=True)
            self.staging = tempfile.mkdtemp(dir=self.folder, prefix=".download-")
        fname = f"{next(self.count)}-{os.path.basename(urllib.parse.urlsplit(url).path) or 'file'}"
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            try:
                return get_file(fname=fname, origin=url, file_hash=md5, hash_algorithm="md5", cache_dir=self.staging,
                                cache_subdir=self.staging)  # an absolute subdir: exactly this folder
            except ValueError:  # get_file's hash check failed; it left the file: say its md5 as before
                path = os.path.join(self.staging, fname)
                if md5 is None or not os.path.isfile(path):
                    raise
                actual = md5sum(path)
                os.remove(path)
                raise DataError(f"md5 {actual} instead of {md5}") from None

    def close(self):
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
            self.archives.clear()


@contextlib.contextmanager
def _socket_timeout(seconds):
    """Sockets opened inside time out after `seconds` without data (urlopen's default timeout is the socket's)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def read_gzip(path):
    with gzip.open(path, "rb") as f:
        return f.read()


__all__ = ["DataError", "FILES", "dataset_folder", "candidate_folders", "md5sum", "read_gzip"]
