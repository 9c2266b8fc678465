"""The project's LSTM (and GRU) and the models built on them.

    from models import LSTM, LSTMCell                 # the layer and the cell (variant=: models.VARIANTS)
    from models import GRU, GRUCell                   # the GRU, its layer and cell
    from models import build_model, load_model        # every model of the scripts, from its spec
    from models import GPTSpec, build_gpt             # the transformer of nanoGPT's shapes (models/gpt.py)
    from models import SLSTM, MLSTM, XLSTMSpec        # xLSTM (Beck et al. 2024): models/slstm.py, mlstm.py, xlstm.py

`LSTM`, `LSTMCell`, `LSTMStack`, `GRU`, `GRUCell` and the language model's own layers are
registered Keras serializables (package `SERIALIZATION_PACKAGE`): importing this
package registers them, so `models.load_model(path)` (or
`keras.models.load_model` after `import models`) reads any saved `.keras` file
of the project. `build_model(spec)` rebuilds a model from the spec a run
folder's config.json holds (its "model" entry), at any batch size, sequence
length and statefulness.
"""

import dataclasses

import keras

from models.cell import VARIANTS, LSTMCell
from models.digit_classifier import DigitClassifierSpec, build_digit_classifier
from models.gpt import GPTSpec, build_gpt
from models.language_model import (
    CELLS, LanguageModelSpec, build_language_model, find_layer, lstm_layers, recurrent_class,
)
from models.gru import GRU, GRUCell
from models.layer import LSTM
from models.mlstm import MLSTM
from models.slstm import SLSTM
from models.xlstm import MLSTMBlock, SLSTMBlock, XLSTMSpec, build_xlstm
from models.serialization import SERIALIZATION_PACKAGE
from models.stack import LSTMStack

# The language models a training config's `architecture` names; a new one is a module here and a line in this table.
ARCHITECTURES = {"lstm": LanguageModelSpec, "gpt": GPTSpec, "xlstm": XLSTMSpec}
SPECS = {spec.kind: spec for spec in (*ARCHITECTURES.values(), DigitClassifierSpec)}  # config.json's "kind"
LANGUAGE_MODEL_KINDS = tuple(spec.kind for spec in ARCHITECTURES.values())

__all__ = [
    "LSTM", "LSTMCell", "LSTMStack", "GRU", "GRUCell", "VARIANTS", "LanguageModelSpec", "DigitClassifierSpec",
    "GPTSpec", "SERIALIZATION_PACKAGE", "ARCHITECTURES", "CELLS", "LANGUAGE_MODEL_KINDS", "SPECS",
    "build_model", "build_gpt", "build_language_model", "build_digit_classifier", "SLSTM", "MLSTM",
    "SLSTMBlock", "MLSTMBlock", "XLSTMSpec", "build_xlstm", "find_layer", "load_model", "lstm_layers",
    "recurrent_class", "spec_from_dict",
]


def spec_from_dict(spec):
    """The spec dataclass of a dict saved in config.json (a spec passes through)."""
    if dataclasses.is_dataclass(spec):
        return spec
    kind = spec.get("kind")
    if kind not in SPECS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {', '.join(SPECS)}.")
    if kind == "language_model" and "fused_layers" not in spec:  # saved before LSTMStack: separate layers
        spec = {**spec, "fused_layers": False}
    return SPECS[kind](**spec)


def build_model(spec, **shape):
    """The model of `spec` (a spec or its dict). Language models take batch_size, num_steps and stateful."""
    return spec_from_dict(spec).build(**shape)


def load_model(path):
    """A saved `.keras` model of this project, without its training configuration."""
    return keras.models.load_model(path, compile=False)
