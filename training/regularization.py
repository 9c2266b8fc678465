"""AWD-LSTM's regularization as options of the two language-model scripts, and `--without` for ablations.

Both scripts' `Config` inherit `Regularization`, so the word and the character
model switch the same techniques on with the same names (all off by default:
the book's presets are the 2014 recipe). The model-side fields are
`models.LanguageModelSpec` fields of the same name (`LanguageModelSpec.from_config` reads them).
The optimizer side (weight decay, the average of the iterates: NT-ASGD with
SGD, the same average with Adam) is `training.recipe.LanguageModelConfig`'s.
"""

import dataclasses



@dataclasses.dataclass(frozen=True)
class Regularization:
    tie_weights: bool = False               # the softmax reuses the embedding matrix (last LSTM as wide as it)
    locked_dropout: bool = False            # one dropout mask per sequence for all its steps, not one per step
    input_dropout: float | None = None      # dropout on the embedding output (None: `dropout`)
    output_dropout: float | None = None     # dropout on the last LSTM output (None: `dropout`)
    embedding_dropout: float = 0.0          # whole tokens dropped from the embedding for a batch
    weight_dropout: float = 0.0             # DropConnect on each LSTM's recurrent kernel W_h
    activation_penalty: float = 0.0         # AR α on the dropped last LSTM output
    temporal_activation_penalty: float = 0.0  # TAR β on the last LSTM output


# What `--without` switches off: the config changes of each technique.
TECHNIQUES = {
    "tying": {"tie_weights": False},
    "locked-dropout": {"locked_dropout": False},
    "embedding-dropout": {"embedding_dropout": 0.0},
    "weight-drop": {"weight_dropout": 0.0},
    "ar-tar": {"activation_penalty": 0.0, "temporal_activation_penalty": 0.0},
}


def add_without_argument(parser, techniques=TECHNIQUES):
    parser.add_argument("--without", nargs="+", choices=techniques, default=(), metavar="TECHNIQUE",
                        help=f"switch techniques of the preset off, for an ablation: {', '.join(techniques)}")


def switched_off(without, techniques=TECHNIQUES):
    """The config changes that `--without a b` asks for."""
    changes = {}
    for technique in without:
        changes.update(techniques[technique])
    return changes
