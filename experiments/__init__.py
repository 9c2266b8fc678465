"""Experiments that show why the LSTM works and what its parts are worth: long-range memory, gradient flow, gate
pictures, weight averaging, the LSTM variants and the GRU, the LSTM against a transformer (docs/experiments.md).
Run from the project root as modules, e.g. `python -m experiments.variants`."""
