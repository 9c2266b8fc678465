"""Bidirectional LSTM on MNIST, reading each digit as 28 rows of 28 pixels: the BiLSTM of 《TensorFlow实战》.

A forward LSTM reads the rows top to bottom, a backward LSTM bottom to top;
the concatenation of their outputs after the last row goes to a 10-way
softmax. `--preset book` is the book's setting (one BiLSTM of 256 units per
direction, Adam 0.01, batch 128, 400,000 training samples); the default
preset is our best. 5,000 training images are held out for validation:
model selection uses them, never the test set.

    python train_mnist_bilstm.py                      # default preset, 2-core CPU
    python train_mnist_bilstm.py --preset book
    python predict_mnist.py runs/<run> digit.png      # classify your own images
"""

import dataclasses
import math
import os

import numpy as np

from training.cli import lstm_layer_class, open_run, parse_script_args, preset_config
from training.errors import friendly_main

VALIDATION_IMAGES = 5_000


@dataclasses.dataclass(frozen=True)
class Config:
    units: int = 128             # LSTM units per direction
    layers: int = 2              # stacked BiLSTMs (the lower ones return every row's output)
    dropout: float = 0.25        # between the BiLSTMs and before the softmax
    learning_rate: float = 2e-3  # Adam, at the start
    schedule: str = "cosine"     # per-epoch learning rate: "cosine" (down to 0 at the end) or "constant"
    batch_size: int = 128        # images per step
    epochs: int = 20             # passes over the 55,000 training images
    steps_per_epoch: int = 0     # 0: the whole training set each epoch
    shift: int = 2               # random translation of ±shift pixels while training (0: none)


PRESETS = {
    "default": Config(),
    # The book: 256 units, Adam 0.01, batch 128, 400,000 samples = 8 epochs of 391 steps (400,384 samples).
    "book": Config(units=256, layers=1, dropout=0.0, learning_rate=0.01, schedule="constant", epochs=8,
                   steps_per_epoch=391, shift=0),
    "test": Config(units=48, layers=1, dropout=0.0, learning_rate=4e-3, schedule="constant", epochs=1,
                   steps_per_epoch=300, shift=0),  # a few seconds, for tests
}


def learning_rate(config, epoch):
    if config.schedule == "cosine":
        return config.learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
    return config.learning_rate


def build_model(config, cell, seed=0):
    """rows (28, 28) → [Bidirectional(LSTM) → dropout] × layers → softmax over 10 digits."""
    import keras

    lstm = lstm_layer_class(cell)
    images = keras.Input(shape=(28, 28), name="rows")
    x = images
    for layer in range(config.layers):
        last = layer == config.layers - 1
        forward = lstm(config.units, return_sequences=not last, seed=seed, name=f"forward_{layer}")
        backward = lstm(config.units, return_sequences=not last, go_backwards=True, seed=seed, name=f"backward_{layer}")
        x = keras.layers.Bidirectional(forward, backward_layer=backward, name=f"bilstm_{layer}")(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout, seed=seed + layer, name=f"dropout_{layer}")(x)
    probabilities = keras.layers.Dense(10, activation="softmax", name="digit")(x)
    return keras.Model(images, probabilities, name="mnist_bilstm")


def shifted(images, shift, rng):
    """Each image moved by a random (dy, dx) in [−shift, shift]², the border filled with 0."""
    if not shift:
        return images
    padded = np.pad(images, ((0, 0), (shift, shift), (shift, shift)))
    dy, dx = rng.integers(0, 2 * shift + 1, size=(2, len(images)))
    rows = dy[:, None] + np.arange(28)[None, :]
    cols = dx[:, None] + np.arange(28)[None, :]
    return padded[np.arange(len(images))[:, None, None], rows[:, :, None], cols[:, None, :]]


def scale(images):
    return images.astype("float32") / 255.0


@friendly_main
def main(argv=None):
    args = parse_script_args(__doc__.split("\n\n")[0], PRESETS, "default", "mnist", argv)
    config = preset_config(PRESETS, args, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch)
    run, state, config, settings = open_run(args, "train_mnist_bilstm.py", config, "epochs")

    import keras

    from datasets import load_mnist
    from training.figures import confusion_matrix, plot_confusion_matrix, plot_misclassified
    from training.run import atomic_save_model

    (x_all, y_all), (x_test, y_test) = load_mnist(args.data_dir)
    x_train, y_train = x_all[:-VALIDATION_IMAGES], y_all[:-VALIDATION_IMAGES]
    x_valid, y_valid = scale(x_all[-VALIDATION_IMAGES:]), y_all[-VALIDATION_IMAGES:]
    per_epoch = config.steps_per_epoch * config.batch_size if config.steps_per_epoch else len(x_train)

    keras.utils.set_random_seed(args.seed)
    if state is None:
        model = build_model(config, args.cell, seed=args.seed)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = []
    else:
        model = run.load_checkpoint(state)
        history = state["history"]
        print(f"Resuming {run.path} after epoch {state['epoch']}.")
    print(f"MNIST BiLSTM {args.preset}: {config.layers}×BiLSTM({config.units}) {args.cell}, "
          f"{model.count_params():,} parameters, {per_epoch:,} images per epoch, backend {keras.backend.backend()}")

    best = max((row["valid_accuracy"] for row in history), default=-1.0)
    for epoch in range(len(history), config.epochs):
        rng = np.random.default_rng([args.seed, epoch])  # per-epoch, so a resumed run draws the same
        order = np.concatenate([rng.permutation(len(x_train)) for _ in range(-(-per_epoch // len(x_train)))])[:per_epoch]
        x_epoch = scale(shifted(x_train[order], config.shift, rng))
        lr = learning_rate(config, epoch)
        model.optimizer.learning_rate.assign(lr)
        print(f"Epoch {epoch + 1}/{config.epochs}  learning rate {lr:.4g}")
        logs = model.fit(x_epoch, y_train[order], batch_size=config.batch_size, shuffle=False, epochs=1,
                         validation_data=(x_valid, y_valid),
                         verbose=1 if os.isatty(1) else 2).history
        row = {"epoch": epoch + 1, "learning_rate": lr, "train_loss": logs["loss"][-1],
               "train_accuracy": logs["accuracy"][-1], "valid_loss": logs["val_loss"][-1],
               "valid_accuracy": logs["val_accuracy"][-1], "kept": logs["val_accuracy"][-1] > best}
        if row["kept"]:
            best = row["valid_accuracy"]
            atomic_save_model(model, run.file("model.keras"))
        history.append(row)
        run.save_checkpoint(model, {"epoch": epoch + 1, "history": history, "settings": settings})
        run.log_scalars(epoch + 1, {k: v for k, v in row.items() if k not in ("epoch", "kept")})
        title = f"MNIST BiLSTM {args.preset}, {args.cell} cell"
        run.plot(history, ["train_accuracy", "valid_accuracy"], "accuracy", "accuracy.png", title)
        run.plot(history, ["train_loss", "valid_loss"], "cross-entropy", "loss.png", title, logy=True)

    import models  # noqa: F401

    kept = keras.models.load_model(run.file("model.keras"))
    probabilities = kept.predict(scale(x_test), batch_size=500, verbose=0)
    predictions = probabilities.argmax(axis=1)
    accuracy = float(np.mean(predictions == y_test))
    title = f"BiLSTM {args.preset} ({args.cell}), test accuracy {accuracy:.2%}"
    matrix = confusion_matrix(y_test, predictions)
    plot_confusion_matrix(matrix, run.file("confusion_matrix.png"), title)
    plot_misclassified(x_test, y_test, predictions, probabilities.max(axis=1), run.file("misclassified.png"), title)
    kept_row = max(history, key=lambda r: r["valid_accuracy"])
    results = {"test_accuracy": accuracy, "test_errors": int((predictions != y_test).sum()),
               "kept_epoch": kept_row["epoch"], "valid_accuracy": kept_row["valid_accuracy"],
               "confusion_matrix": matrix.tolist()}
    run.write_json("results.json", results)
    print(f"Test accuracy {accuracy:.2%} ({results['test_errors']} errors) with the model of epoch "
          f"{results['kept_epoch']} (valid accuracy {kept_row['valid_accuracy']:.2%}). Run folder: {run.path}")
    return results


if __name__ == "__main__":
    main()
