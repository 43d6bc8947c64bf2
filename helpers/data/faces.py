"""One loader of face images for the GAN and VAE problems: 3×S×S images in [-1, 1].

Where the faces come from:

- ``data_root`` given: the course folders, read as they are::

      <root>/face/train/*.png, <root>/face/test/*.png      64×64 RGB
      <root>/face/train.csv (optional; likewise test.csv)  image_name plus attribute columns (Smiling, ...)

  With a CSV the images are exactly those it lists, in its order, and its attribute columns are kept;
  without one, every PNG of the folder in name order. Missing or malformed data is an error that
  names the file and what was expected; it never falls back to the built-in faces.
- ``download=True``: torchvision's CelebA (needs network access), centre-cropped to 178×178.
- otherwise the built-in faces: scikit-image's ``lfw_subset``, 100 grey face crops of 25×25 from
  Labeled Faces in the Wild, split 80 train / 20 test. A tiny stand-in, enough to watch a model learn.
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
LFW_FACES, LFW_TRAIN = 100, 80  # lfw_subset: the first 100 of its 200 crops are faces; 80 of them train
LAYOUT = "the course layout <root>/face/<train|test>/*.png, optionally <root>/face/<split>.csv (image_name, attributes)"


@dataclass(eq=False)
class FaceSet(Dataset):
    """Images kept as uint8 N×3×S×S; items and batches come out as floats in [-1, 1]."""

    images: torch.Tensor
    attributes: pd.DataFrame  # one row per image: image_name, then any attribute columns
    split: str
    origin: str

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_float(self.images[index])

    def batch(self, index: torch.Tensor) -> torch.Tensor:
        return to_float(self.images[index])

    def summary(self) -> str:
        return f"faces {self.split}: {len(self)} images {tuple(self.images.shape[1:])}; from {self.origin}"


def load_faces(split: str = "train", data_root: str = "", size: int = 64, download: bool = False) -> FaceSet:
    """The ``split`` ('train' or 'test') of the faces at ``size``×``size``; see the module's docstring."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    if data_root:
        images, attributes = _course(data_root, split, size)
        origin = f"course data under {data_root}"
    elif download:
        images, attributes = _celeba(split, size)
        origin = "torchvision's CelebA download"
    else:
        arrays = cache.cached_arrays(f"faces_lfw_{split}_{size}", lambda: _lfw(split, size))
        images = arrays["images"].numpy()
        attributes = pd.DataFrame({"image_name": [f"lfw_{i:03d}" for i in arrays["index"].tolist()]})
        origin = (f"scikit-image's lfw_subset: {len(images)} of its 100 grey 25×25 face crops, enlarged to "
                  f"{size}×{size}; a tiny stand-in for the course's 64×64 colour faces")
    return FaceSet(torch.from_numpy(images), attributes, split, origin)


def _course(root: str, split: str, size: int) -> tuple[np.ndarray, pd.DataFrame]:
    if not Path(root).is_dir():
        raise FileNotFoundError(f"course data root {root} is not a folder; expected {LAYOUT}")
    folder = Path(root) / "face" / split
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder {folder} for the {split} faces; expected {LAYOUT}")
    csv = folder.with_suffix(".csv")
    if csv.is_file():
        attributes = _attributes(csv)
    else:
        attributes = pd.DataFrame({"image_name": sorted(path.name for path in folder.glob("*.png"))})
        if attributes.empty:
            raise FileNotFoundError(f"{folder} holds no PNG image; expected {LAYOUT}")
    paths = [folder / name for name in attributes["image_name"]]
    course.check_present(paths, csv if csv.is_file() else folder)
    return course.read_images(paths, f"faces {split}", size), attributes


def _attributes(csv: Path) -> pd.DataFrame:
    """The CSV's image names (text) and attribute columns (numbers), with errors that name the file."""
    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as error:
        raise ValueError(f"cannot read {csv} as a CSV with an image_name column: {error}") from error
    if "image_name" not in table.columns:
        raise ValueError(f"{csv} has the columns {list(table.columns)}; expected image_name and attribute columns")
    if table.empty:
        raise ValueError(f"{csv} has no rows; expected one row per image")
    for column in table.columns.drop("image_name"):
        values = pd.to_numeric(table[column], errors="coerce")
        if values.isna().any():
            bad = table.loc[values.isna(), ["image_name", column]].head(course.SHOWN)
            shown = "; ".join(f"{name}: {value!r}" for name, value in bad.itertuples(index=False))
            raise ValueError(f"{csv}: attribute {column!r} is not a number for {values.isna().sum()} image(s), "
                             f"e.g. {shown}")
        table[column] = values
    return table


def _lfw(split: str, size: int) -> dict[str, np.ndarray]:
    """The built-in faces of ``split``: uint8 N×3×size×size and their index among lfw_subset's faces."""
    from skimage.data import lfw_subset

    faces = np.asarray(lfw_subset()[:LFW_FACES], dtype=np.float64)  # float in [0, 1]
    order = np.random.default_rng(0).permutation(LFW_FACES)  # a fixed split
    index = np.sort(order[:LFW_TRAIN] if split == "train" else order[LFW_TRAIN:])
    grey = [Image.fromarray((faces[i] * 255).round().astype(np.uint8)).resize((size, size), Image.Resampling.BILINEAR)
            for i in index]
    images = np.stack([np.repeat(np.asarray(image)[None], 3, axis=0) for image in grey])
    return {"images": images, "index": index}


def _celeba(split: str, size: int) -> tuple[np.ndarray, pd.DataFrame]:
    """torchvision's CelebA (downloaded into the cache), centre-cropped to 178×178 and resized."""
    import torchvision
    from torchvision.transforms import functional as F

    dataset = torchvision.datasets.CelebA(runtime.folder("cache") / "torchvision", split=split,
                                          target_type="attr", download=True)
    images = np.stack([np.asarray(F.resize(F.center_crop(image, [178, 178]), [size, size]))
                       for image, _ in dataset]).transpose(0, 3, 1, 2)
    attributes = pd.DataFrame(dataset.attr.numpy(), columns=dataset.attr_names[:dataset.attr.shape[1]])
    attributes.insert(0, "image_name", dataset.filename)
    return images, attributes
