"""A trained language model as the page's payload: its weights as one float32 blob, its vocabulary, a passage.

The page needs only what the forward pass reads, in Keras' layouts:

    embedding   (V, E)        absent for one-hot characters (the first kernel then has V rows)
    lstm l      kernel (n, 4u), recurrent (u, 4u), bias (4u)   gate blocks i, f, C̃, o (a variant that fixes a gate:
                                                               3u, without its block); peephole (3, u), rows i, f, o
                a GRU:  kernel (n, 3u), recurrent (u, 3u), bias (2, 3u)   blocks z, r, h̃; bias rows input, recurrent
    logits      kernel (u, V), bias (V)                        tied: kernel = embeddingᵀ

Each array is stored once, little-endian float32, at an offset (in floats) of
one base64 blob; `arrays` names the offsets and shapes.
"""

import base64
import os

import keras
import numpy as np

from datasets import load_shakespeare, read_text
from datasets.corpus import DEFAULT_SPLIT, cut, split_file
from datasets.ptb import ptb_folder
from models import spec_from_dict
from models.language_model import lstm_layers
from training.errors import UserError

PASSAGE_CHARS = 2_000  # the page's first text, for a character model
PASSAGE_WORDS = 400    # and for a word model


def model_arrays(model):
    """{name: float32 array} of the forward pass (see the module docstring), from a built language model."""
    arrays = {}
    names = [layer.name for layer in model.layers]
    if "embedding" in names:
        arrays["embedding"] = model.get_layer("embedding").embeddings
    for index, layer in enumerate(lstm_layers(model)):
        cell = layer.cell
        arrays[f"lstm_{index}/kernel"] = cell.kernel
        arrays[f"lstm_{index}/recurrent"] = cell.recurrent_kernel
        arrays[f"lstm_{index}/bias"] = cell.bias
        if getattr(cell, "peephole_kernel", None) is not None:
            arrays[f"lstm_{index}/peephole"] = cell.peephole_kernel
    logits = model.get_layer("logits")
    if isinstance(logits, keras.layers.Dense):
        arrays["logits/kernel"] = logits.kernel
    arrays["logits/bias"] = logits.bias
    return {name: np.asarray(value.numpy() if hasattr(value, "numpy") else value, np.float32)
            for name, value in arrays.items()}


def pack(arrays):
    """(base64 text, {name: {"offset", "shape"}}) of float32 arrays laid end to end."""
    layout, offset, parts = {}, 0, []
    for name, array in arrays.items():
        layout[name] = {"offset": offset, "shape": list(array.shape)}
        parts.append(np.ascontiguousarray(array, "<f4").ravel())
        offset += array.size
    blob = np.concatenate(parts).tobytes() if parts else b""
    return base64.b64encode(blob).decode("ascii"), layout


def payload(model, vocabulary, settings, passage, title):
    """The JSON object the page reads: what the model is, its vocabulary, its weights, the first text."""
    spec = settings["model"]
    family = spec_from_dict(spec).family
    blob, layout = pack(model_arrays(model))
    return {
        "title": title,
        "kind": vocabulary.kind,              # "chars" or "words"
        "tokens": vocabulary.tokens,
        "layers": spec["layers"],
        "units": [layer.cell.units for layer in lstm_layers(model)],
        "tied": bool(spec.get("tie_weights")),
        "cell": spec.get("cell", "custom"),
        "variant": spec.get("variant", "vanilla"),
        "family": family,                     # "LSTM" or "GRU": the cell the page computes and draws
        "gateBlocks": ["z", "r", "h"] if family == "GRU" else list(getattr(lstm_layers(model)[0].cell, "gate_blocks",
                                                                            ("i", "f", "c", "o"))),
        "lowerCase": vocabulary.lower_case,
        "arrays": layout,
        "weights": blob,
        "passage": passage,
        "task": settings.get("task"),         # a state-tracking task's run (experiments/state_tracking.py): its name
    }


def start_of_a_line(text, limit):
    """The first `limit` characters of `text` from its first line start, ended at a line end where possible."""
    start = text.find("\n") + 1 if not text.startswith("\n") else 1
    piece = text[start:start + limit]
    end = piece.rfind("\n")
    return piece[:end + 1] if end > limit // 2 else piece


# The test text of each script's own data set (a run on a --text file or a --corpus records its files instead).
OWN_DATA_TEST_TEXT = {
    "train_ptb.py": lambda data_dir: read_text(split_file(ptb_folder(data_dir), "test")),
    "train_char_rnn.py": lambda data_dir: load_shakespeare(data_dir)[2],
}


def test_split_text(settings, data_dir=None):
    """The text of the run's test split, read as training read it; None if its data is not at hand."""
    data = settings.get("data") or {}
    try:
        if data.get("text"):
            return cut(read_text(data["text"]), settings.get("config", {}).get("split") or DEFAULT_SPLIT)[2]
        if data.get("corpus"):
            return read_text(split_file(data["corpus"], "test"))
        return OWN_DATA_TEST_TEXT[settings.get("script")](data_dir)
    except Exception:  # the data moved or was never downloaded here: the caller asks for --text
        return None


def default_passage(settings, kind, data_dir=None):
    """The page's first text: the run's own (a task run's sequence), else the start of the run's test split."""
    if settings.get("passage"):
        return settings["passage"]
    text = test_split_text(settings, data_dir)
    if not text:
        raise UserError("the run's test text is not at hand (its data folder or file has moved, or was never "
                        "downloaded here); give the page a text of your own with --text FILE.")
    if kind == "chars":
        return start_of_a_line(text, PASSAGE_CHARS)
    lines, words = [], 0
    for line in text.split("\n"):
        if words >= PASSAGE_WORDS:
            break
        lines.append(line.strip())
        words += len(line.split()) + 1
    return "\n".join(lines) + "\n"


def page_size_text(path):
    size = os.path.getsize(path)
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"
