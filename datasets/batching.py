"""Every batch layout of the three scripts, in one place.

Language models read token streams three ways:

    stream_batches / stream_rows   contiguous streams, TensorFlow's `ptb_producer` layout (state carried)
    random_windows                 windows cut at random places (each from a zero state)
    whole_stream_rows              one stream, every prediction once, batch 1 (the valid and test passes)
    sliding_windows                every prediction once, each with up to a window of context (a transformer)

`epoch_rows` picks the training rows of an epoch from a config; `check_length`
is the one length check. The MNIST classifier's images are scaled and shifted
here too, and `batches` hands any of them to `model.fit` / `model.evaluate`.
"""

import numpy as np

import keras

from datasets.files import DataError


def stream_steps(length, batch_size, num_steps):
    """Steps of `batch_size` streams × `num_steps` tokens that a stream of `length` tokens fills (+1 for targets)."""
    return (length // batch_size - 1) // num_steps


def check_length(ids, what, batch_size=1, num_steps=1, advice=""):
    """A clear error when `ids` cannot fill one batch of `batch_size` streams of `num_steps` (+1 for the targets)."""
    if batch_size < 1 or num_steps < 1:
        raise ValueError(f"batch_size and num_steps must be positive; got {batch_size} and {num_steps}.")
    needed = batch_size * (num_steps + 1)
    if len(ids) < needed:
        layout = f"batches of {batch_size} × {num_steps} tokens need" if batch_size > 1 else "predicting needs"
        raise DataError(f"{what} has {len(ids):,} tokens, too few: {layout} at least {needed:,}. {advice}".strip())


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
    check_length(ids, "the stream", batch_size, num_steps, "Lower batch_size or num_steps.")
    batch_len = len(ids) // batch_size
    epoch_size = stream_steps(len(ids), batch_size, num_steps)
    data = ids[: batch_size * batch_len].reshape(batch_size, batch_len)
    used = epoch_size * num_steps
    x = data[:, :used].reshape(batch_size, epoch_size, num_steps).transpose(1, 0, 2)
    y = data[:, 1 : used + 1].reshape(batch_size, epoch_size, num_steps).transpose(1, 0, 2)
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def stream_rows(ids, batch_size, num_steps):
    """stream_batches as rows for model.fit(batch_size=..., shuffle=False): batch i = rows i·B..(i+1)·B."""
    x, y = stream_batches(ids, batch_size, num_steps)
    return x.reshape(-1, num_steps), y.reshape(-1, num_steps)


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


def whole_stream_rows(ids, num_steps):
    """Every prediction of a stream for batch size 1: x, y and a weight that is 0 on the padded tail."""
    ids = np.asarray(ids, dtype=np.int32)
    targets = len(ids) - 1
    rows = -(-targets // num_steps)
    x = np.zeros(rows * num_steps, np.int32)
    y = np.zeros(rows * num_steps, np.int32)
    w = np.zeros(rows * num_steps, np.float32)
    x[:targets], y[:targets], w[:targets] = ids[:-1], ids[1:], 1.0
    return x.reshape(rows, num_steps), y.reshape(rows, num_steps), w.reshape(rows, num_steps)


def sliding_windows(ids, length, stride):
    """Every prediction of a stream once, read in windows of `length` ids that start every `stride` ids.

    A model without a state (a transformer) reads a long text this way: the
    first window scores all its predictions, every later one only those
    past the previous window's end, so each prediction has at least
    length − stride ids of context (all there are at the start). The last
    window ends at the stream's end.

    Returns:
        x, y, w: arrays of shape (windows, length); w is 1 where a prediction counts, else 0.
    """
    ids = np.asarray(ids, dtype=np.int32)
    if not 0 < stride <= length:
        raise ValueError(f"stride must lie between 1 and the window's {length}; got {stride}.")
    if len(ids) <= length:
        raise ValueError(f"A stream of {len(ids)} tokens is too short for windows of {length}.")
    last = len(ids) - 1 - length
    starts = np.unique(np.minimum(np.arange(0, last + stride, stride), last))
    index = starts[:, None] + np.arange(length)[None, :]
    scored_from = np.concatenate([[0], starts[:-1] + length])  # the first target index no earlier window scored
    w = (index >= scored_from[:, None]).astype(np.float32)
    return ids[index], ids[index + 1], w


def epoch_steps(length, batch_size, num_steps, steps_per_epoch=0, layout="streams"):
    """Training steps of an epoch over `length` tokens: those the streams fill, or `steps_per_epoch`.

    The streams hold at most stream_steps(...) steps, so a larger
    `steps_per_epoch` is cut to those; random windows can be drawn without end,
    so in that layout `steps_per_epoch` is the epoch's length (0: as many as the streams).
    """
    steps = stream_steps(length, batch_size, num_steps)
    if layout == "windows":
        return steps_per_epoch or steps
    return min(steps, steps_per_epoch or steps)


def epoch_rows(ids, batch_size, num_steps, steps_per_epoch=0, layout="streams", rng=None):
    """The training rows (x, y) of one epoch (`epoch_steps` of them): the contiguous streams, or random windows.

    Args:
        steps_per_epoch: 0 for every step the streams fill, n for at most the first n (windows: n).
        layout: "streams" (state carried from batch to batch) or "windows"
            (random places, drawn with `rng`; the same rng seed gives the same windows).
    """
    rows = epoch_steps(len(ids), batch_size, num_steps, steps_per_epoch, layout) * batch_size
    if layout == "streams":
        x, y = stream_rows(ids, batch_size, num_steps)
        return x[:rows], y[:rows]
    return random_windows(ids, rows, num_steps, rng)


def scale_images(images):
    """uint8 pixels to float32 in [0, 1]."""
    return images.astype("float32") / 255.0


def shifted_images(images, shift, rng):
    """Each image moved by a random (dy, dx) in [−shift, shift]², the border filled with 0."""
    if not shift:
        return images
    size = images.shape[1]
    padded = np.pad(images, ((0, 0), (shift, shift), (shift, shift)))
    dy, dx = rng.integers(0, 2 * shift + 1, size=(2, len(images)))
    rows = dy[:, None] + np.arange(size)[None, :]
    cols = dx[:, None] + np.arange(size)[None, :]
    return padded[np.arange(len(images))[:, None, None], rows[:, :, None], cols[:, None, :]]


def batches(x, y, batch_size, sample_weight=None):
    """Arguments for `model.fit` / `model.evaluate` that read (x, y) in order, `batch_size` rows at a time.

    On TensorFlow the rows become a tf.data pipeline with autotuning off:
    with NumPy arrays Keras builds one with autotuning on, and deleting it at
    the end of `fit` can wait on one of its threads long after the last
    batch. Other backends get the arrays as they are.
    """
    if keras.backend.backend() != "tensorflow":
        return {"x": x, "y": y, "batch_size": batch_size, "sample_weight": sample_weight}
    import tensorflow as tf  # only on this backend

    data = (x, y) if sample_weight is None else (x, y, sample_weight)
    options = tf.data.Options()
    options.autotune.enabled = False
    whole = len(x) % batch_size == 0  # then every batch has the static size a stateful model (or its while loop) wants
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(batch_size, drop_remainder=whole)
    return {"x": dataset.prefetch(1).with_options(options)}


def validation_batches(x, y, batch_size):
    """`model.fit`'s validation_data for (x, y): the same pipeline as `batches`, or the arrays on other backends."""
    data = batches(x, y, batch_size)
    return (x, y) if "y" in data else data["x"]
