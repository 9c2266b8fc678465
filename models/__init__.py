"""The project's LSTM: a hand-written Keras cell and a fast sequence layer on it.

    from models import LSTMCell, LSTM

Both are registered Keras serializables, so a model that uses them saves to
`.keras` and loads again with nothing more than `import models`.
"""

from models.lstm import LSTM, LSTMCell

__all__ = ["LSTM", "LSTMCell"]
