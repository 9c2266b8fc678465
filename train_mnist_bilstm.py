"""Bidirectional LSTM on MNIST, reading each digit as 28 rows of 28 pixels: the BiLSTM of 《TensorFlow实战》.

A forward LSTM reads the rows top to bottom, a backward LSTM bottom to top;
the concatenation of their outputs after the last row goes to a 10-way
softmax. `--preset book` is the book's setting (one BiLSTM of 256 units per
direction, Adam 0.01, batch 128, 400,000 training samples); the default
preset is our best. 5,000 training images are held out for validation:
model selection uses them, never the test set.

    python train_mnist_bilstm.py                      # default preset, 2-core CPU
    python train_mnist_bilstm.py --preset book
    python train_mnist_bilstm.py --source tfds        # MNIST from tensorflow-datasets (other held-out images)
    python train_mnist_bilstm.py --variant peephole   # an LSTM variant; --cell gru: a bidirectional GRU
    python predict_mnist.py runs/<run> digit.png      # classify your own images
"""

import dataclasses

from training import startup  # first: the backend's environment, set before Keras loads

import keras
import numpy as np

from datasets import load_mnist
from datasets.tfds_source import load_mnist_tfds
from datasets.batching import batches, scale_images, shifted_images, validation_batches
from models import DigitClassifierSpec
from training import distribute
from training.cli import add_source_arguments, open_run, parse_script_args, run_source, source_setting
from training.errors import friendly_main
from training.figures import confusion_matrix, plot_confusion_matrix, plot_misclassified
from training.optimizers import make_optimizer
from training.progress import fit_options
from training.schedule import start_epoch

# TensorFlow gives each op half the cores and runs independent ops side by side (the two directions of a
# BiLSTM are independent): faster training steps on a 2-core CPU (docs/speed.md).
TWO_OPS_AT_ONCE = True

VALIDATION_IMAGES = 5_000


@dataclasses.dataclass(frozen=True)
class Config:
    spec_class = DigitClassifierSpec  # the model (not a field)
    units: int = 128             # LSTM units per direction
    layers: int = 2              # stacked BiLSTMs (the lower ones return every row's output)
    dropout: float = 0.25        # after every BiLSTM
    learning_rate: float = 2e-3  # Adam, at the start
    lr_schedule: str = "cosine"  # "cosine" (down to 0 at the end) or "step" (constant with lr_decay 1)
    lr_decay: float = 1.0        # "step": learning-rate factor per epoch after decay_after
    decay_after: int = 0         # "step": epochs at the full learning rate
    batch_size: int = 128        # images per step
    epochs: int = 20             # passes over the 55,000 training images
    steps_per_epoch: int = 0     # 0: the whole training set each epoch; n: n steps (at most one pass)
    shift: int = 2               # random translation of ±shift pixels while training (0: none)


PRESETS = {
    "default": Config(),
    # A first result in under two minutes of the 2-core CPU: the default model, its cosine over two epochs.
    "quick": Config(epochs=2),
    # The book: 256 units, Adam 0.01, batch 128, 400,000 samples = 8 epochs of 391 steps (400,384 samples).
    "book": Config(units=256, layers=1, dropout=0.0, learning_rate=0.01, lr_schedule="step", epochs=8,
                   steps_per_epoch=391, shift=0),
    "test": Config(units=48, layers=1, dropout=0.0, learning_rate=4e-3, lr_schedule="step", epochs=1,
                   steps_per_epoch=300, shift=0),  # a few seconds, for tests
}

def model_spec(config, cell, seed, variant="vanilla"):
    return DigitClassifierSpec(units=config.units, layers=config.layers, dropout=config.dropout, cell=cell, seed=seed,
                               variant=variant)


def images_per_epoch(config, available):
    """steps_per_epoch · batch_size images, at most one pass over the `available` ones (0 steps: all of them)."""
    return min(config.steps_per_epoch * config.batch_size or available, available)


@friendly_main
def main(argv=None):
    startup.start_devices(TWO_OPS_AT_ONCE)
    args = parse_script_args(__doc__.split("\n\n")[0], PRESETS, "default", argv, add_source_arguments)
    run = open_run(args, "train_mnist_bilstm.py", PRESETS, data={"source": source_setting(args)})
    config = run.config

    source = run_source(run, args)
    (x_all, y_all), (x_test, y_test) = (load_mnist_tfds(args.tfds_dir, args.data_dir) if source == "tfds"
                                        else load_mnist(args.data_dir))
    x_train, y_train = x_all[:-VALIDATION_IMAGES], y_all[:-VALIDATION_IMAGES]
    x_valid, y_valid = scale_images(x_all[-VALIDATION_IMAGES:]), y_all[-VALIDATION_IMAGES:]
    per_epoch = images_per_epoch(config, len(x_train))

    keras.utils.set_random_seed(run.seed)
    title = f"MNIST BiLSTM {run.preset}, {run.cell_title}"
    run.begin(model_spec(config, run.cell, run.seed, run.variant), title=title, keep=("valid_accuracy", "max"),
              plots={"accuracy.png": (["train_accuracy", "valid_accuracy"], "accuracy", False),
                     "loss.png": (["train_loss", "valid_loss"], "cross-entropy", True)})
    distribution = distribute.start(args.distribute, config.batch_size, stateful=False)
    with distribute.scope(distribution):
        model = run.build_model()
        model.compile(optimizer=make_optimizer("adam", config.learning_rate), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        if run.resumed:
            run.restore(model)
            print(f"Resuming {run.shown} after epoch {len(run.history)}.")
    print(f"MNIST BiLSTM {run.preset}: {config.layers}×BiLSTM({config.units}) {run.cell_title}, "
          f"{model.count_params():,} parameters, {per_epoch:,} images per epoch, backend {keras.backend.backend()}")
    if source == "tfds":
        print(f"MNIST from tensorflow-datasets: the same 60,000 + 10,000 images in TFDS' order, so the "
              f"{VALIDATION_IMAGES:,} held out for validation are the last of that order, not of the original file.")

    valid = validation_batches(x_valid, y_valid, config.batch_size)  # the same every epoch
    for epoch in run.epochs(config.epochs):
        lr = start_epoch(model, config, epoch)
        rng = np.random.default_rng([run.seed, epoch])  # per epoch, so a resumed run draws the same
        order = rng.permutation(len(x_train))[:per_epoch]
        with distribute.scope(distribution):
            logs = model.fit(**batches(scale_images(shifted_images(x_train[order], config.shift, rng)), y_train[order],
                                       config.batch_size), shuffle=False, epochs=1,
                             validation_data=valid,
                             **fit_options()).history
        row = run.end_epoch(model, {"learning_rate": lr, "train_loss": logs["loss"][-1],
                                    "train_accuracy": logs["accuracy"][-1], "valid_loss": logs["val_loss"][-1],
                                    "valid_accuracy": logs["val_accuracy"][-1]})
        print(f"Epoch {row['epoch']}: train accuracy {row['train_accuracy']:.2%}, valid accuracy "
              f"{row['valid_accuracy']:.2%}{' (kept)' if row['kept'] else ''}", flush=True)

    model.set_weights(run.best_weights())
    probabilities = model.predict(scale_images(x_test), batch_size=500, verbose=0)
    predictions = probabilities.argmax(axis=1)
    accuracy = float(np.mean(predictions == y_test))
    title = f"BiLSTM {run.preset} ({run.cell_title}), test accuracy {accuracy:.2%}"
    matrix = confusion_matrix(y_test, predictions)
    plot_confusion_matrix(matrix, run.file("confusion_matrix.png"), title)
    plot_misclassified(x_test, y_test, predictions, probabilities.max(axis=1), run.file("misclassified.png"), title)
    best = run.best_row()
    results = {"test_accuracy": accuracy, "test_errors": int((predictions != y_test).sum()),
               "best_epoch": best["epoch"], "valid_accuracy": best["valid_accuracy"],
               "confusion_matrix": matrix.tolist()}
    run.write_json("results.json", results)
    print(f"Test accuracy {accuracy:.2%} ({results['test_errors']} errors) with the model of epoch "
          f"{results['best_epoch']} (valid accuracy {best['valid_accuracy']:.2%}). Run folder: {run.shown}")
    return results


if __name__ == "__main__":
    main()
