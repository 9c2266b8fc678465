"""Figures: pyplot on Agg (`from training.figures import plt`), atomic PNG files, and a classifier's confusion matrix and misclassified digits."""

import io
import warnings

import matplotlib.pyplot as plt
import numpy as np

from training.files import atomic_write

plt.switch_backend("Agg")  # files only, no screen needed


def save_figure(fig, path):
    """Lays `fig` out tightly, writes it as a PNG, atomically, and closes it."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # a title in a script the font lacks (a run named 中文) draws boxes, silently
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        fig.tight_layout()
        fig.savefig(buffer, format="png")
    atomic_write(path, buffer.getvalue(), mode="wb")
    plt.close(fig)


def confusion_matrix(labels, predictions, classes=10):
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def plot_confusion_matrix(matrix, path, title):
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=110)
    image = ax.imshow(np.log1p(matrix), cmap="Blues")
    for (true, pred), count in np.ndenumerate(matrix):
        if count:
            ax.text(pred, true, str(count), ha="center", va="center", fontsize=7,
                    color="white" if count > matrix.max() / 3 else "black")
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_yticks(range(matrix.shape[0]))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="log(1 + count)")
    save_figure(fig, path)


def plot_misclassified(images, labels, predictions, probabilities, path, title, limit=60):
    """A grid of up to `limit` misclassified images, each titled 'true→predicted (p)'."""
    wrong = np.flatnonzero(labels != predictions)[:limit]
    columns = 10
    rows = max(1, -(-len(wrong) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.3 + 0.4), dpi=110, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, wrong):
        ax.imshow(images[index], cmap="gray_r")
        ax.set_title(f"{labels[index]}→{predictions[index]} ({probabilities[index]:.2f})", fontsize=7)
    fig.suptitle(f"{title}: {len(np.flatnonzero(labels != predictions))} misclassified (true→predicted)", fontsize=9)
    save_figure(fig, path)
