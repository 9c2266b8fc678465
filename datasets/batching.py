"""Cutting a stream of token ids into training batches."""

import numpy as np


def stream_batches(ids, batch_size, num_steps):
    """Lays a token stream out as TensorFlow's `ptb_producer` does.

    The stream is truncated to batch_size·batch_len and reshaped to
    (batch_size, batch_len), so each row is one contiguous segment of the
    text; epoch_size = (batch_len − 1) // num_steps and step i gives
    x = data[:, i·n:(i+1)·n], y = data[:, i·n+1:(i+1)·n+1]. Consecutive steps
    continue each row where the previous one stopped, so an LSTM can carry
    its state from one batch to the next.

    Returns:
        x, y: int32 arrays of shape (epoch_size, batch_size, num_steps).
    """
    ids = np.asarray(ids, dtype=np.int32)
    if batch_size < 1 or num_steps < 1:
        raise ValueError(f"batch_size and num_steps must be positive; got {batch_size} and {num_steps}.")
    batch_len = len(ids) // batch_size
    epoch_size = (batch_len - 1) // num_steps
    if epoch_size < 1:
        raise ValueError(
            f"A stream of {len(ids)} tokens is too short for batch_size={batch_size} and "
            f"num_steps={num_steps} (it needs at least batch_size·(num_steps+1) tokens); "
            f"decrease batch_size or num_steps."
        )
    data = ids[: batch_size * batch_len].reshape(batch_size, batch_len)
    used = epoch_size * num_steps
    x = data[:, :used].reshape(batch_size, epoch_size, num_steps).transpose(1, 0, 2)
    y = data[:, 1 : used + 1].reshape(batch_size, epoch_size, num_steps).transpose(1, 0, 2)
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def random_windows(ids, count, length, rng):
    """`count` windows of `length` ids starting at random places, and the same shifted by one.

    Returns:
        x, y: int32 arrays of shape (count, length).
    """
    ids = np.asarray(ids, dtype=np.int32)
    if len(ids) <= length:
        raise ValueError(f"A stream of {len(ids)} tokens is too short for windows of {length}.")
    starts = rng.integers(0, len(ids) - length, size=count)
    index = starts[:, None] + np.arange(length)[None, :]
    return ids[index], ids[index + 1]
