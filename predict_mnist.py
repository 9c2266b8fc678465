"""Classify images of handwritten digits with a model saved by train_mnist_bilstm.py.

    python predict_mnist.py runs/<run> seven.png two.jpg

Each image is turned upright (a phone photo's EXIF orientation), laid on
paper if it has transparency, turned to grayscale, resized to 28×28 (keeping
its aspect, on a square canvas) and, if its background is light, inverted so
that the digit is light on dark as in MNIST. Prints the class and its
probability; an image without ink is an error, not a guess: it is reported,
and the other images are still classified (exit code 2 when any was not).
"""

import sys

from training import startup  # first: the backend's environment, set before Keras loads

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from datasets import DataError
from datasets.text import check_regular_file
from training.cli import ArgumentParser
from training.errors import UserError, friendly_main, print_error
from training.inference import load_run_model

MIN_CONTRAST = 32  # gray levels between the darkest and the lightest pixel below which an image has no ink
MIN_SIDE = 8  # pixels: a shorter side cannot hold a digit
MAX_ASPECT = 8  # longer side / shorter side beyond which an image is a line or a strip, not a digit


def grayscale(image):
    """A grayscale copy of a PIL image; transparent parts become paper of the colour opposite to the ink."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"), np.float32)
        gray = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
        alpha = rgba[..., 3] / 255.0
        ink = gray[alpha > 0.5]
        paper = 255.0 if ink.size == 0 or ink.mean() < 128 else 0.0
        return gray * alpha + paper * (1 - alpha)
    if image.mode.startswith("I") or image.mode == "F":  # 16- and 32-bit integers, floats: to 0..255 by their range
        values = np.asarray(image, np.float32)
        high = float(values.max())
        full = 1.0 if image.mode == "F" and high <= 1.0 else 255.0 if high <= 255 else 65535.0 if high <= 65535 else high
        values = values * (255.0 / full)
        low, high = float(values.min()), float(values.max())
        if high - low >= MIN_CONTRAST:  # ink: stretched to the whole range, as an 8-bit scan of it would be
            values = (values - low) * (255.0 / (high - low))
        return values
    return np.asarray(image.convert("L"), np.float32)


def check_shape(path, width, height):
    """A clear error for an image too small or too thin to hold a digit (before its pixels are read)."""
    if min(width, height) < MIN_SIDE or max(width, height) > MAX_ASPECT * min(width, height):
        raise UserError(f"{path} is {width}×{height} pixels: too small or too thin to hold a digit (each side at "
                        f"least {MIN_SIDE} pixels, the longer at most {MAX_ASPECT} × the shorter). Crop it around "
                        f"the digit.")


def load_image(path):
    """A (28, 28) float32 array in [0, 1], light digit on a dark background."""
    check_regular_file(path, what="image")  # a FIFO would block Image.open
    try:
        with Image.open(path) as image:
            check_shape(path, *image.size)
            pixels = grayscale(ImageOps.exif_transpose(image))
    except FileNotFoundError:
        raise UserError(f"the image {path} does not exist.") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder; give the image files themselves.") from None
    except Image.DecompressionBombError:
        raise UserError(f"{path} is too large to be a digit (more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels once "
                        f"decompressed); crop or shrink it.") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise UserError(f"cannot read {path} as an image ({error}); give a PNG or JPEG of a digit.") from None
    if pixels.max() - pixels.min() < MIN_CONTRAST:
        raise UserError(f"{path} is blank: it has no ink (all its pixels lie within {MIN_CONTRAST} gray levels of "
                        f"each other). Give an image with a digit on it.")
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
    startup.start_devices()
    parser = ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", help="run folder of train_mnist_bilstm.py")
    parser.add_argument("images", nargs="+", help="PNG or JPEG files")
    args = parser.parse_args(argv)

    model, _ = load_run_model(args.run_dir, "digit_classifier")
    images, problems = {}, []
    for path in args.images:  # an image that cannot be read is reported; the others are still classified
        try:
            images[path] = load_image(path)
        except (UserError, DataError) as error:
            problems.append(error)
    results = []
    if images:
        probabilities = model.predict(np.stack(list(images.values())), verbose=0)
        for path, p in zip(images, probabilities):
            digit = int(np.argmax(p))
            results.append((digit, float(p[digit])))
            print(f"{path}: {digit} (probability {p[digit]:.3f})")
    for problem in problems:
        print_error(problem)
    if problems:
        sys.exit(2)
    return results


if __name__ == "__main__":
    main()
