"""The course's digit folders (helpers/data/course.py), read through ``load_digits``: format, resizing,
the choice of CSV, and one clear error per kind of bad input."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import runtime
from helpers.data import course
from helpers.data.digits import load_digits

# domain: (PIL mode, side) of its images, and {CSV name: labels of its rows}
FORMATS = {"mnistm": ("RGB", 28), "svhn": ("RGB", 32), "usps": ("L", 28)}
CSVS = {
    "mnistm": {"train.csv": list(range(10)), "val.csv": [3, 1, 4]},
    "svhn": {"train.csv": list(range(9, -1, -1)), "test.csv": [2, 7, 1, 8], "val.csv": [9, 9]},
    "usps": {"train.csv": [5, 0, 5, 0, 1, 2, 3, 4, 6, 7, 8, 9], "test.csv": [6, 6]},
}


def image_name(csv: str, index: int) -> str:
    return f"{Path(csv).stem}/{index:03d}.png"  # a subfolder of data/, as image_name may name one


def pixels(domain: str, csv: str, index: int) -> np.ndarray:
    """The pixels written for row ``index`` of ``csv`` (random, a fixed seed per image)."""
    mode, side = FORMATS[domain]
    seed = [list(CSVS).index(domain), list(CSVS[domain]).index(csv), index]
    shape = (side, side, 3) if mode == "RGB" else (side, side)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A tiny course folder: <tmp>/digits/<domain>/{data/, train.csv, val.csv and/or test.csv}."""
    for domain, csvs in CSVS.items():
        folder = tmp_path / "digits" / domain
        for csv, labels in csvs.items():
            (folder / "data" / Path(csv).stem).mkdir(parents=True)
            rows = []
            for index, label in enumerate(labels):
                Image.fromarray(pixels(domain, csv, index)).save(folder / "data" / image_name(csv, index))
                rows.append(f"{image_name(csv, index)},{label}\n")
            (folder / csv).write_text("image_name,label\n" + "".join(rows))
    return tmp_path


def load(root: Path, domain: str, split: str = "train"):
    return load_digits(domain, split, data_root=str(root))


def expected_images(domain: str, csv: str) -> torch.Tensor:
    """uint8 N×3×28×28 as the loader should give them: grey copied into 3 channels, 32×32 resized (bilinear)."""
    images = []
    for index in range(len(CSVS[domain][csv])):
        image = Image.fromarray(pixels(domain, csv, index)).convert("RGB")
        if image.size != (28, 28):
            image = image.resize((28, 28), Image.Resampling.BILINEAR)
        images.append(np.asarray(image).transpose(2, 0, 1))
    return torch.from_numpy(np.stack(images))


@pytest.mark.parametrize("domain, split, csv", [
    ("mnistm", "train", "train.csv"), ("mnistm", "test", "val.csv"),
    ("svhn", "train", "train.csv"), ("svhn", "test", "test.csv"),
    ("usps", "train", "train.csv"), ("usps", "test", "test.csv"),
])
def test_images_and_labels_are_those_of_the_csv(root, domain, split, csv):
    """Exact pixels: mnistm as written, svhn resized 32×32 -> 28×28 (bilinear), usps grey in 3 channels."""
    dataset = load(root, domain, split)
    labels = CSVS[domain][csv]
    assert dataset.images.dtype == torch.uint8 and dataset.images.shape == (len(labels), 3, 28, 28)
    assert dataset.labels.dtype == torch.int64 and dataset.labels.tolist() == labels
    assert torch.equal(dataset.images, expected_images(domain, csv))


def test_items_and_batches_are_floats_in_minus_one_to_one(root):
    dataset = load(root, "mnistm")
    image, label = dataset[3]
    assert image.shape == (3, 28, 28) and image.dtype == torch.float32 and label == 3
    assert image.min() == -1 and image.max() == 1  # random pixels include 0 and 255
    images, labels = dataset.batch(torch.tensor([0, 9, 4]))
    assert images.shape == (3, 3, 28, 28) and labels.tolist() == [0, 9, 4]
    assert images.min() >= -1 and images.max() <= 1
    assert torch.equal(images[1], dataset[9][0])


def test_usps_grey_becomes_three_equal_channels(root):
    images = load(root, "usps").images
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 0], images[:, 2])
    assert torch.equal(images[0, 0], torch.from_numpy(pixels("usps", "train.csv", 0)))


def test_grey_16x16_usps_is_resized(root):
    folder = root / "digits" / "usps"
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(grey).save(folder / "data" / image_name("test.csv", 0))
    image = load(root, "usps", "test").images[0]
    expected = np.array(Image.fromarray(grey).resize((28, 28), Image.Resampling.BILINEAR))
    assert image.shape == (3, 28, 28) and torch.equal(image[2], torch.from_numpy(expected))


def test_test_csv_is_preferred_to_val_csv(root):
    assert load(root, "svhn", "test").labels.tolist() == CSVS["svhn"]["test.csv"]  # not val.csv's [9, 9]
    (root / "digits" / "svhn" / "test.csv").unlink()
    assert load(root, "svhn", "test").labels.tolist() == CSVS["svhn"]["val.csv"]


# ---- bad input: one clear error each ----

def test_unknown_domain(root):
    with pytest.raises(ValueError, match=r"'mnist'.*\('mnistm', 'svhn', 'usps'\)"):
        load(root, "mnist")


def test_unknown_split(root):
    # load_digits checks the split itself, so the course reader is called directly here
    with pytest.raises(ValueError, match=r"'val'.*\('train', 'test'\)"):
        course.read_digits(root, "mnistm", "val")


def test_missing_root(tmp_path):
    missing = tmp_path / "no_such_folder"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing)) + ".*<root>/digits/<domain>/data/"):
        load(missing, "mnistm")


def test_missing_domain_folder_is_an_error_not_a_fall_back_to_built_in_data(root):
    # mnistm is also a built-in domain: with a data_root it must still come from the course folder
    folder = root / "digits" / "mnistm"
    shutil.rmtree(folder)
    with pytest.raises(FileNotFoundError, match=re.escape(str(folder)) + ".*<root>/digits/<domain>/data/"):
        load(root, "mnistm")


def test_missing_train_csv(root):
    csv = root / "digits" / "mnistm" / "train.csv"
    csv.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(csv))):
        load(root, "mnistm")


def test_missing_test_and_val_csv_names_both(root):
    folder = root / "digits" / "mnistm"
    (folder / "val.csv").unlink()
    with pytest.raises(FileNotFoundError,
                       match=re.escape(str(folder / "test.csv")) + ".*" + re.escape(str(folder / "val.csv"))):
        load(root, "mnistm", "test")


def test_csv_without_the_columns(root):
    csv = root / "digits" / "usps" / "train.csv"
    csv.write_text("file,label\n" + "train/000.png,5\n")
    with pytest.raises(ValueError, match=re.escape(f"{csv} has the columns ['file', 'label']; "
                                                   f"expected ['image_name', 'label']")):
        load(root, "usps")


def test_missing_images_are_counted_and_named(root):
    data = root / "digits" / "svhn" / "data"
    for index in (4, 7):
        (data / image_name("train.csv", index)).unlink()
    with pytest.raises(FileNotFoundError,
                       match=r"^2 of the 10 images listed in .*train\.csv are missing, e\.g\. "
                             + re.escape(str(data / image_name("train.csv", 4)))):
        load(root, "svhn")


@pytest.mark.parametrize("content", [b"not an image", b"", b"\x89PNG\r\n\x1a\n" + bytes(40)],
                         ids=["text", "empty", "broken-png"])
def test_unreadable_image(root, content):
    path = root / "digits" / "mnistm" / "data" / image_name("train.csv", 2)
    path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(f"cannot read the image {path}")):
        load(root, "mnistm")


def test_truncated_image(root):
    path = root / "digits" / "mnistm" / "data" / image_name("train.csv", 2)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ValueError, match=re.escape(f"cannot read the image {path}")):
        load(root, "mnistm")


@pytest.mark.parametrize("label", ["10", "-1", "x", "", "NaN", "3.5"])
def test_labels_must_be_integers_0_to_9(root, label):
    csv = root / "digits" / "mnistm" / "train.csv"
    rows = csv.read_text().splitlines()
    rows[6] = f"{image_name('train.csv', 5)},{label}"  # row 5; rows[0] is the header
    csv.write_text("\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=re.escape(f"{csv}: 1 label(s) not an integer 0-9, "
                                                   f"e.g. image_name 'train/005.png': label {label!r}")):
        load(root, "mnistm")


@pytest.mark.parametrize("content", ["image_name,label\n", ""], ids=["header-only", "zero-bytes"])
def test_empty_csv(root, content):
    csv = root / "digits" / "usps" / "test.csv"
    csv.write_text(content)
    with pytest.raises(ValueError, match=re.escape(str(csv))):
        load(root, "usps", "test")


def test_svhn_without_data_root_asks_for_data_root():
    with pytest.raises(ValueError, match="data_root"):
        load_digits("svhn", "train")


def test_a_run_on_a_csv_without_its_label_column_says_why_on_the_terminal(root: Path):
    csv = root / "digits" / "usps" / "train.csv"
    csv.write_text(csv.read_text().replace("image_name,label", "image_name,wrong", 1))
    done = subprocess.run([sys.executable, "-m", "helpers.run", "dann", "--profile", "smoke", "-p", "data_root",
                           str(root), "-p", "source", "usps", "-p", "target", "mnistm"],
                          capture_output=True, text=True, cwd=runtime.ROOT)
    assert done.returncode != 0 and "FAILED" in done.stderr  # the runner's process, as a terminal sees it
    assert f"ValueError: {csv} has the columns ['image_name', 'wrong']" in done.stderr  # the file and the columns
    assert "(missing ['label'])" in done.stderr and ".ipynb" in done.stderr
