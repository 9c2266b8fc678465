"""The bidirectional LSTM that reads an MNIST digit as 28 rows of 28 pixels, built from its spec.

    rows (28, 28) → [Bidirectional(LSTM) → dropout] × layers → softmax over 10 digits

A forward LSTM reads the rows top to bottom, a backward LSTM bottom to top
(two separate LSTM instances in each `keras.layers.Bidirectional`); the lower
BiLSTMs return every row's output, the last one only the final outputs of the
two directions, concatenated.
"""

import dataclasses

import keras

from models.language_model import cell_label, output_dtype, recurrent_class, recurrent_options
from models.seeds import derived_seed


@dataclasses.dataclass(frozen=True)
class DigitClassifierSpec:
    units: int                 # LSTM units per direction
    layers: int                # stacked BiLSTMs
    dropout: float = 0.0       # after every BiLSTM
    cell: str = "custom"       # a name of models.language_model.CELLS: "custom" (models.LSTM), "gru", ...
    seed: int = 0              # seeds of the dropout masks
    rows: int = 28             # time steps: the image's rows
    columns: int = 28          # features per step: the pixels of a row
    classes: int = 10
    variant: str = "vanilla"   # custom cell: the LSTM variant (models.VARIANTS)
    kind: str = "digit_classifier"

    has_cell = True          # --cell and --variant choose its recurrent layers
    config_fields_before = {}  # config fields that had other names in older run folders (new: old)

    @staticmethod
    def run_label(cell, variant):
        return cell_label(cell, variant)

    def build(self, **shape):
        """The Keras model of this spec (`build_digit_classifier`)."""
        return build_digit_classifier(self, **shape)


def build_digit_classifier(spec):
    """The BiLSTM classifier of `spec`: images (batch, rows, columns) in [0, 1] → class probabilities."""
    lstm = recurrent_class(spec.cell, spec.variant)
    options = recurrent_options(spec.cell, spec.variant)
    images = keras.Input(shape=(spec.rows, spec.columns), name="rows")
    x = images
    for layer in range(spec.layers):
        last = layer == spec.layers - 1
        forward = lstm(spec.units, return_sequences=not last, seed=spec.seed, name=f"forward_{layer}", **options)
        backward = lstm(spec.units, return_sequences=not last, go_backwards=True, seed=spec.seed,
                        name=f"backward_{layer}", **options)
        x = keras.layers.Bidirectional(forward, backward_layer=backward, name=f"bilstm_{layer}")(x)
        if spec.dropout:
            x = keras.layers.Dropout(spec.dropout, seed=derived_seed(spec.seed, layer), name=f"dropout_{layer}")(x)
    probabilities = keras.layers.Dense(spec.classes, activation="softmax", dtype=output_dtype(),
                                       name="digit")(x)
    return keras.Model(images, probabilities, name="digit_classifier")
