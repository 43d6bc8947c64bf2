"""One loader of face images for the GAN and VAE problems: 3×S×S images in [-1, 1], no labels.

Where the faces come from:

- ``data_root`` given: the course folders, read as they are::

      <root>/face/train/*.png, <root>/face/test/*.png      64×64 RGB
      <root>/face/train.csv, <root>/face/test.csv          optional: image_name plus attribute columns
                                                           (Smiling, Black_Hair, ...; numbers such as 0/1)

  With the split's CSV the images are exactly those it lists, in its order, and its attribute columns are
  kept as numbers; without one, every PNG of the folder in file-name order. Images come out as RGB,
  resized (bilinear) to S×S when they have another size.
- ``download=True``: torchvision's CelebA (needs network access), centre-cropped to 178×178 and resized,
  with its 40 attributes (0/1).
- otherwise the built-in faces: scikit-image's ``lfw_subset``, 100 grey face crops of 25×25 from Labeled
  Faces in the Wild, split 80 train / 20 test once and for all, upscaled to S×S. A tiny stand-in for the
  course's faces, enough to watch a model learn. ``load_nonfaces`` gives lfw_subset's other 100 crops
  (not faces) in the same format, so that the VAE's latents can be told apart by face vs non-face, and
  ``face_or_not`` labels faces against non-faces: two classes for the conditional GAN where the faces have
  no attributes.

``with_binary_attribute`` labels faces 0/1 by one of their attribute columns (e.g. ``Smiling``).

``FaceSet.attribute(name)`` is one attribute column (e.g. ``Black_Hair``); asking for a column the
faces lack is a KeyError that names where their table came from and the columns it has.

Course data that is missing or malformed is an error that names the path, the value and what was
expected, and never falls back to the built-in faces: FileNotFoundError for a root that is not a folder,
a missing ``face/<split>`` folder, a folder without PNG and images a CSV lists but the folder lacks;
ValueError for an unreadable image, a CSV that is empty or has no ``image_name`` column, and a
non-numeric attribute value. An unknown split is a ValueError too.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset

from helpers import runtime
from helpers.data import cache, course
from helpers.data.digits import to_float

SPLITS = ("train", "test")
LFW_FACES, LFW_TRAIN, LFW_SEED = 100, 80, 0  # lfw_subset: its first 100 crops are faces (the rest are not)
CELEBA_CROP = 178  # CelebA's aligned photos are 178×218: the central square keeps the face

LAYOUT = ("the course layout <root>/face/train/*.png and <root>/face/test/*.png, optionally with "
          "<root>/face/<split>.csv (column image_name, a file of face/<split>/, plus numeric attribute columns)")


@dataclass(eq=False)
class FaceSet(Dataset):
    """Images kept as uint8 N×3×S×S (compact); items and batches come out as floats in [-1, 1]."""

    images: torch.Tensor
    attributes: pd.DataFrame  # one row per image, indexed 0..N-1: image_name, then any attribute columns
    split: str
    origin: str
    table: str = "no attribute table"  # where the attribute columns come from (a CSV file, CelebA)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_float(self.images[index])

    def batch(self, index: torch.Tensor) -> torch.Tensor:
        """Images (floats in [-1, 1]) at ``index``, without a DataLoader's per-item cost."""
        return to_float(self.images[index])

    def summary(self) -> str:
        return f"faces {self.split}: {len(self)} images {tuple(self.images.shape[1:])}; from {self.origin}"

    def attribute(self, name: str) -> pd.Series:
        """The attribute column ``name`` (e.g. ``Black_Hair``), one number per image."""
        if name == "image_name" or name not in self.attributes.columns:
            raise KeyError(f"the {self.split} faces have no attribute {name!r}: their table ({self.table}) has the "
                           f"columns {list(self.attributes.columns)}; expected one of its attribute columns")
        return self.attributes[name]


def load_faces(split: str = "train", data_root: str = "", size: int = 64, download: bool = False) -> FaceSet:
    """The ``split`` ('train' or 'test') of the faces at ``size``×``size``; see the module's docstring."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    if data_root:
        images, attributes = _read_course(Path(data_root), split, size)
        origin = f"course data under {(Path(data_root) / 'face' / split).resolve()}"
        csv = Path(data_root) / "face" / f"{split}.csv"
        table = str(csv) if csv.is_file() else f"none: {csv} is absent"
    elif download:
        images, attributes = _celeba(split, size)
        origin = (f"torchvision's CelebA download ({CELEBA_CROP}×218 aligned colour photos, centre-cropped "
                  f"to {CELEBA_CROP}×{CELEBA_CROP} and resized to {size}×{size})")
        table = "CelebA's 40 attributes"
    else:
        arrays = cache.cached_arrays(f"faces_lfw_{split}_{size}", lambda: _lfw(split, size))
        images = arrays["images"].numpy()
        attributes = pd.DataFrame({"image_name": [f"lfw_{i:03d}" for i in arrays["index"].tolist()]})
        origin = (f"scikit-image's lfw_subset: {len(images)} of its {LFW_FACES} grey 25×25 face crops, "
                  f"upscaled to {size}×{size}; a tiny stand-in for the course's 64×64 colour faces")
        table = "none: lfw_subset has no attributes"
    return FaceSet(torch.from_numpy(images), attributes, split, origin, table)


def load_nonfaces(size: int = 64) -> FaceSet:
    """The 100 crops of lfw_subset that are not faces, in the format of the built-in faces (split 'non-face')."""
    arrays = cache.cached_arrays(f"nonfaces_lfw_{size}", lambda: _lfw_nonfaces(size))
    names = [f"lfw_{i:03d}" for i in arrays["index"].tolist()]
    origin = (f"scikit-image's lfw_subset: its {len(names)} grey 25×25 crops that are not faces, "
              f"upscaled to {size}×{size}")
    return FaceSet(arrays["images"], pd.DataFrame({"image_name": names}), "non-face", origin,
                   "none: lfw_subset has no attributes")


def _read_course(root: Path, split: str, size: int) -> tuple[np.ndarray, pd.DataFrame]:
    """uint8 images N×3×size×size of ``<root>/face/<split>/`` and their table (image_name, attributes)."""
    folder = course.data_folder(root, f"face/{split}", f"the {split} faces", LAYOUT)
    csv = folder.with_suffix(".csv")  # <root>/face/<split>.csv
    if csv.is_file():
        attributes = _read_attributes(csv)
        paths = [folder / name for name in attributes["image_name"]]
        course.check_present(paths, csv)
    else:
        attributes = pd.DataFrame({"image_name": _png_names(folder)})
        paths = [folder / name for name in attributes["image_name"]]
    return course.read_images(paths, f"faces {split}", size), attributes


def _png_names(folder: Path) -> list[str]:
    names = sorted(path.name for path in folder.iterdir() if path.suffix.lower() == ".png" and path.is_file())
    if not names:
        raise FileNotFoundError(f"{folder} holds no PNG image; expected {LAYOUT}")
    return names


def _read_attributes(csv: Path) -> pd.DataFrame:
    """The rows of ``csv``: image_name as text, every other column as numbers; every cell is read as text
    first so that no value is coerced silently."""
    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as error:
        raise ValueError(f"cannot read {csv} as a CSV with an image_name column: {error}") from error
    if "image_name" not in table.columns:
        raise ValueError(f"{csv} has the columns {list(table.columns)}; expected image_name "
                         f"(a file of {csv.with_suffix('')}) plus attribute columns")
    if table.empty:
        raise ValueError(f"{csv} has no rows; expected one row per image with the column image_name")
    for column in table.columns.drop("image_name"):
        values = pd.to_numeric(table[column], errors="coerce")
        bad = table.loc[values.isna(), ["image_name", column]]
        if not bad.empty:
            shown = "; ".join(f"image_name {name!r}: {value!r}"
                              for name, value in bad.head(course.SHOWN).itertuples(index=False))
            raise ValueError(f"{csv}: {len(bad)} value(s) of the attribute {column!r} not a number, e.g. {shown}")
        table[column] = values
    return table


def _lfw(split: str, size: int) -> dict[str, np.ndarray]:
    """The built-in faces of ``split``: uint8 N×3×size×size and their index among lfw_subset's faces."""
    order = np.random.default_rng(LFW_SEED).permutation(LFW_FACES)  # the same split on every machine
    index = np.sort(order[:LFW_TRAIN] if split == "train" else order[LFW_TRAIN:])
    return {"images": _lfw_crops(index, size), "index": index}


def _lfw_nonfaces(size: int) -> dict[str, np.ndarray]:
    """lfw_subset's crops that are not faces: uint8 N×3×size×size and their index in lfw_subset."""
    index = np.arange(LFW_FACES, 2 * LFW_FACES)
    return {"images": _lfw_crops(index, size), "index": index}


def _lfw_crops(index: np.ndarray, size: int) -> np.ndarray:
    """lfw_subset's crops at ``index`` (float in [0, 1], 25×25 grey) as uint8 N×3×size×size."""
    from skimage.data import lfw_subset

    crops = lfw_subset()[index]
    grey = [Image.fromarray(np.round(crop * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BILINEAR)
            for crop in crops]
    return np.stack([np.repeat(np.asarray(image)[None], 3, axis=0) for image in grey])  # grey -> 3 equal channels


def _celeba(split: str, size: int) -> tuple[np.ndarray, pd.DataFrame]:
    """torchvision's CelebA (downloaded into the cache), centre-cropped and resized, with its attributes."""
    import torchvision
    from torchvision.transforms import functional as F

    dataset = torchvision.datasets.CelebA(runtime.folder("cache") / "torchvision", split=split,
                                          target_type="attr", download=True)
    images = np.stack([np.asarray(F.resize(F.center_crop(image, [CELEBA_CROP, CELEBA_CROP]), [size, size]))
                       for image, _ in dataset]).transpose(0, 3, 1, 2)
    # attr_names can end with an empty name (the header line's trailing space): keep one per column
    attributes = pd.DataFrame(dataset.attr.numpy(), columns=dataset.attr_names[:dataset.attr.shape[1]])
    attributes.insert(0, "image_name", dataset.filename)
    return images, attributes


@dataclass(eq=False)
class LabelledFaces(Dataset):
    """Faces with a binary attribute as class labels 0/1 (e.g. ``Smiling``), for a conditional GAN."""

    faces: FaceSet
    labels: torch.Tensor
    attribute: str

    def __len__(self) -> int:
        return len(self.faces)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.faces.batch(index), self.labels[index]

    @property
    def classes(self) -> tuple[str, str]:
        """The names of the classes 0 and 1."""
        return f"not {self.attribute}", self.attribute

    def summary(self) -> str:
        counts = torch.bincount(self.labels, minlength=2).tolist()
        return (f"{self.faces.split}: {counts[1]} {self.classes[1]}, {counts[0]} {self.classes[0]} "
                f"({len(self)} images)")


def with_binary_attribute(faces: FaceSet, name: str) -> LabelledFaces:
    """``faces`` labelled by their attribute ``name``, whose values must be 0/1 or −1/1 (as CelebA's list)."""
    values = faces.attribute(name)
    found = sorted(set(values.tolist()))
    if found not in ([0, 1], [-1, 1]):
        raise ValueError(f"the attribute {name!r} of the {faces.split} faces ({faces.table}) takes the values "
                         f"{found[:10]}; expected the two values 0 and 1 (or -1 and 1)")
    return LabelledFaces(faces, torch.tensor((values > 0).to_numpy(), dtype=torch.long), name)


def face_or_not(split: str, size: int = 64) -> LabelledFaces:
    """The built-in faces of ``split`` (class 1, ``face``) with as many of lfw_subset's non-face crops (class 0): the
    first 80 for 'train', the other 20 for 'test'."""
    faces, nonfaces = load_faces(split, "", size), load_nonfaces(size)
    index = torch.arange(LFW_TRAIN) if split == "train" else torch.arange(LFW_TRAIN, len(nonfaces))
    table = pd.concat([nonfaces.attributes.iloc[index.numpy()], faces.attributes], ignore_index=True)
    both = FaceSet(torch.cat([nonfaces.images[index], faces.images]), table, split,
                   f"{faces.origin}; and {len(index)} of {nonfaces.origin}", faces.table)
    return LabelledFaces(both, torch.cat([torch.zeros(len(index)), torch.ones(len(faces))]).long(), "face")
