"""Classify images of handwritten digits with a model saved by train_mnist_bilstm.py.

    python predict_mnist.py runs/<run> seven.png two.jpg

Each image is turned to grayscale, resized to 28×28 (keeping its aspect, on a
square canvas) and, if its background is light, inverted so that the digit is
light on dark as in MNIST. Prints the class and its probability.
"""

import argparse
import os

import numpy as np

from training.errors import UserError, friendly_main


def load_image(path):
    """A (28, 28) float32 array in [0, 1], light digit on a dark background."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            gray = image.convert("L")
    except FileNotFoundError:
        raise UserError(f"the image {path} does not exist.") from None
    except (UnidentifiedImageError, OSError) as error:
        raise UserError(f"cannot read {path} as an image ({error}); give a PNG or JPEG of a digit.") from None
    pixels = np.asarray(gray, dtype=np.float32)
    if pixels.shape != (28, 28):
        side = max(pixels.shape)
        background = 255.0 if pixels.mean() > 127 else 0.0
        canvas = np.full((side, side), background, np.float32)
        top, left = (side - pixels.shape[0]) // 2, (side - pixels.shape[1]) // 2
        canvas[top:top + pixels.shape[0], left:left + pixels.shape[1]] = pixels
        pixels = np.asarray(Image.fromarray(canvas.astype(np.uint8)).resize((28, 28), Image.LANCZOS), np.float32)
    if pixels.mean() > 127:  # dark digit on light paper
        pixels = 255.0 - pixels
    return pixels / 255.0


@friendly_main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="run folder of train_mnist_bilstm.py")
    parser.add_argument("images", nargs="+", help="PNG or JPEG files")
    args = parser.parse_args(argv)
    model_path = os.path.join(args.run_dir, "model.keras")
    if not os.path.isfile(model_path):
        raise UserError(f"{args.run_dir} holds no model.keras; give the --output-dir of a train_mnist_bilstm.py run.")
    batch = np.stack([load_image(path) for path in args.images])

    import keras

    import models  # noqa: F401  registers the custom LSTM

    probabilities = keras.models.load_model(model_path, compile=False).predict(batch, verbose=0)
    results = []
    for path, p in zip(args.images, probabilities):
        digit = int(np.argmax(p))
        results.append((digit, float(p[digit])))
        print(f"{path}: {digit} (probability {p[digit]:.3f})")
    return results


if __name__ == "__main__":
    main()
