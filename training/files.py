"""Writing a file so that a crash, Ctrl-C or SIGKILL at any moment leaves the old file or the new one, whole."""

import contextlib
import os

TMP_PREFIX = ".tmp-"  # half-written files carry it; a run folder removes those it finds


@contextlib.contextmanager
def replacing(path):
    """Yields a temporary name beside `path`; renames it to `path` only if the block finishes."""
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f"{TMP_PREFIX}{os.getpid()}-{name}")  # keeps the extension (.keras)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write(path, data, mode="w"):
    """Writes `data` (str, or bytes with mode "wb") to `path` through a temporary file."""
    with replacing(path) as tmp, open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
        f.write(data)


def atomic_save_model(model, path):
    """model.save() to a temporary `.keras` name, then rename."""
    with replacing(path) as tmp:
        model.save(tmp)
