"""Experiments that show why the LSTM works: long-range memory, gradient flow, gate pictures."""
