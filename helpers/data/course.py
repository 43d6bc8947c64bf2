"""The course's digit data, read as the assignment gives it.

Layout under the data root (see ``LAYOUT``)::

    <root>/digits/<domain>/data/*.png
    <root>/digits/<domain>/train.csv               the train split
    <root>/digits/<domain>/test.csv or val.csv     the test split (test.csv when both are there)

for the domains ``mnistm`` (28×28 RGB), ``svhn`` (32×32 RGB) and ``usps`` (28×28 or 16×16 grey).
Each CSV has the columns ``image_name,label``: a path relative to ``data/`` and a digit 0-9. Images
come out as RGB, resized to 28×28 (bilinear) when they have another size.

Missing or malformed data is an error that names the file, the value and what was expected;
nothing is skipped or replaced.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

DOMAINS = ("mnistm", "svhn", "usps")
CSV_NAMES = {"train": ("train.csv",), "test": ("test.csv", "val.csv")}  # per split, in order of preference
COLUMNS = ("image_name", "label")
SIZE = 28
SHOWN = 3  # how many examples (missing images, bad labels) an error names

LAYOUT = ("the course layout <root>/digits/<domain>/data/*.png with <root>/digits/<domain>/train.csv and "
          "test.csv or val.csv (columns image_name,label; image_name relative to data/, label 0-9), "
          f"for the domains {', '.join(DOMAINS)}")


def read_digits(root: str | Path, domain: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``split`` ('train' or 'test') of ``domain`` under ``root``: uint8 images N×3×28×28, int64 labels N."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown course digit domain {domain!r}; expected one of {DOMAINS}")
    if split not in CSV_NAMES:
        raise ValueError(f"unknown split {split!r}; expected one of {tuple(CSV_NAMES)}")
    folder = data_folder(Path(root), f"digits/{domain}", f"the course domain {domain!r}")
    csv = split_csv(folder, split)
    names, labels = read_table(csv)
    paths = [folder / "data" / name for name in names]
    check_present(paths, csv)
    return read_images(paths, f"{domain} {split}"), labels


def data_folder(root: Path, relative: str, what: str, layout: str = LAYOUT) -> Path:
    """<root>/<relative>; a missing root or folder is an error naming it, ``what`` it was for and the ``layout``."""
    if not root.is_dir():
        raise FileNotFoundError(f"course data root {root} is not a folder; expected {layout}")
    folder = root / relative
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder {folder} for {what}; expected {layout}")
    return folder


def split_csv(folder: Path, split: str) -> Path:
    """The CSV of ``split``: the first of ``CSV_NAMES[split]`` present in ``folder``."""
    candidates = [folder / name for name in CSV_NAMES[split]]
    csv = next((path for path in candidates if path.is_file()), None)
    if csv is None:
        raise FileNotFoundError(f"no CSV for the {split} split: looked for {' and '.join(map(str, candidates))}; "
                                f"expected {LAYOUT}")
    return csv


def read_table(csv: Path) -> tuple[list[str], np.ndarray]:
    """Image names and labels (int64, 0-9) of ``csv``; every cell is read as text so that no value is coerced."""
    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as error:
        raise ValueError(f"cannot read {csv} as a CSV with the columns {','.join(COLUMNS)}: {error}") from error
    missing = [column for column in COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"{csv} has the columns {list(table.columns)}; expected {list(COLUMNS)} "
                         f"(missing {missing})")
    if table.empty:
        raise ValueError(f"{csv} has no rows; expected one row per image with the columns {','.join(COLUMNS)}")
    labels = pd.to_numeric(table["label"], errors="coerce")
    bad = table[~labels.isin(range(10))]
    if not bad.empty:
        shown = "; ".join(f"image_name {name!r}: label {label!r}"
                          for name, label in bad[list(COLUMNS)].head(SHOWN).itertuples(index=False))
        raise ValueError(f"{csv}: {len(bad)} label(s) not an integer 0-9, e.g. {shown}")
    return table["image_name"].tolist(), labels.to_numpy(dtype=np.int64, copy=True)  # copy: writable


def check_present(paths: list[Path], csv: Path) -> None:
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} of the {len(paths)} images listed in {csv} are missing, "
                                f"e.g. {', '.join(map(str, missing[:SHOWN]))}")


def read_images(paths: list[Path], desc: str, size: int = SIZE) -> np.ndarray:
    """``paths`` read on a pool of threads (PIL decodes without holding the GIL), stacked N×3×size×size."""
    pool = ThreadPoolExecutor()
    try:
        images = list(tqdm(pool.map(lambda path: read_image(path, size), paths), total=len(paths),
                           desc=f"reading {desc}", unit="image"))
    finally:
        pool.shutdown(cancel_futures=True)  # after an error, read no more images
    return np.stack(images)


def read_image(path: Path, size: int = SIZE) -> np.ndarray:
    """The image at ``path`` as uint8 RGB 3×size×size, resized (bilinear) when it has another size."""
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
    except OSError as error:  # not an image, truncated or corrupt
        raise ValueError(f"cannot read the image {path}: {error}") from error
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb).transpose(2, 0, 1)
