"""The faces loader (helpers/data/faces.py): the built-in LFW faces, the course folders read through
``load_faces`` (order, resizing, colour, the optional CSV), and one clear error per kind of bad input."""
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.data.faces import face_or_not, load_faces, load_nonfaces

# split: {file name: (PIL mode, side)}, written out of name order; the two odd ones are grey and RGBA
FILES = {
    "train": {"c.png": ("RGB", 64), "a.png": ("L", 48), "d.png": ("RGBA", 64), "b.png": ("RGB", 64)},
    "test": {"y.png": ("RGB", 64), "x.png": ("RGB", 64)},
}


def pixels(split: str, name: str) -> np.ndarray:
    """The pixels written for ``name`` (random, a fixed seed per image)."""
    mode, side = FILES[split][name]
    channels = {"L": (), "RGB": (3,), "RGBA": (4,)}[mode]
    seed = [list(FILES).index(split), list(FILES[split]).index(name)]
    return np.random.default_rng(seed).integers(0, 256, (side, side, *channels), dtype=np.uint8)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A tiny course folder: <tmp>/course/face/{train,test}/*.png, and a note that is not an image."""
    for split, files in FILES.items():
        folder = tmp_path / "course" / "face" / split
        folder.mkdir(parents=True)
        for name in files:
            Image.fromarray(pixels(split, name)).save(folder / name)
        (folder / "notes.txt").write_text("not a face")
    return tmp_path / "course"


def expected(split: str, names: list[str], size: int = 64) -> torch.Tensor:
    """uint8 N×3×size×size as the loader should give them: RGB (grey copied, alpha dropped), resized bilinear."""
    images = []
    for name in names:
        image = Image.fromarray(pixels(split, name)).convert("RGB")
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        images.append(np.asarray(image).transpose(2, 0, 1))
    return torch.from_numpy(np.stack(images))


def write_csv(root: Path, text: str, split: str = "train") -> Path:
    csv = root / "face" / f"{split}.csv"
    csv.write_text(text)
    return csv


# ---- the built-in faces ----

@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    """An empty cache folder, so that the built-in faces are built here, not read from data/cache/."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("WORKBOOK_CACHE", str(cache))
    return cache


def test_built_in_faces_are_80_train_and_20_test_at_the_size_asked(fresh_cache):
    train, test = load_faces("train", size=32), load_faces("test", size=32)
    assert train.images.shape == (80, 3, 32, 32) and test.images.shape == (20, 3, 32, 32)
    assert train.images.dtype == torch.uint8 and (fresh_cache / "faces_lfw_train_32.pt").is_file()
    assert torch.equal(train.images[:, 0], train.images[:, 1]) and torch.equal(train.images[:, 0], train.images[:, 2])
    assert list(train.attributes.columns) == ["image_name"] and list(train.attributes.index) == list(range(80))
    assert all(re.fullmatch(r"lfw_\d{3}", name) for name in train.attributes["image_name"])
    assert load_faces("test").images.shape == (20, 3, 64, 64)  # the default size


def test_built_in_items_and_batches_are_floats_in_minus_one_to_one(fresh_cache):
    faces = load_faces("test", size=32)
    image = faces[5]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert -1 <= image.min() < image.max() <= 1
    images = faces.batch(torch.tensor([0, 5, 19]))
    assert images.shape == (3, 3, 32, 32) and torch.equal(images[1], image)


def test_built_in_split_is_disjoint_and_the_same_on_every_build(fresh_cache, monkeypatch):
    train, test = load_faces("train", size=32), load_faces("test", size=32)
    train_bytes = {image.numpy().tobytes() for image in train.images}
    test_bytes = {image.numpy().tobytes() for image in test.images}
    assert len(train_bytes) == 80 and len(test_bytes) == 20 and not train_bytes & test_bytes
    assert not set(train.attributes["image_name"]) & set(test.attributes["image_name"])
    monkeypatch.setenv("WORKBOOK_CACHE", str(fresh_cache.parent / "another_cache"))  # a second, separate build
    again = load_faces("train", size=32)
    assert torch.equal(again.images, train.images) and again.attributes.equals(train.attributes)


def test_built_in_origin_says_what_the_faces_are(fresh_cache):
    faces = load_faces("train", size=32)
    for words in ("lfw_subset", "80 of its 100", "25×25", "upscaled to 32×32", "stand-in"):
        assert words in faces.origin
    assert faces.summary() == f"faces train: 80 images (3, 32, 32); from {faces.origin}"


def test_built_in_non_faces_are_the_other_100_crops_in_the_same_format(fresh_cache):
    nonfaces = load_nonfaces(size=16)
    faces = torch.cat([load_faces(split, size=16).images for split in ("train", "test")])
    assert nonfaces.images.shape == (100, 3, 16, 16) and nonfaces.images.dtype == torch.uint8
    assert nonfaces.attributes["image_name"].tolist() == [f"lfw_{i:03d}" for i in range(100, 200)]
    assert not {image.numpy().tobytes() for image in nonfaces.images} & {image.numpy().tobytes() for image in faces}
    assert nonfaces.split == "non-face" and "not faces" in nonfaces.origin
    assert (fresh_cache / "nonfaces_lfw_16.pt").is_file()


@pytest.mark.parametrize("split,n", [("train", 80), ("test", 20)])
def test_face_or_not_labels_the_split_faces_1_and_as_many_non_faces_0(fresh_cache, split, n):
    labelled, faces, nonfaces = face_or_not(split, 16), load_faces(split, "", 16), load_nonfaces(16)
    assert labelled.labels.tolist() == [0] * n + [1] * n and labelled.classes == ("not face", "face")
    x, y = labelled.batch(torch.arange(2 * n))
    assert torch.equal(x[n:], faces.batch(torch.arange(n))) and y.tolist() == labelled.labels.tolist()
    first = 0 if split == "train" else 80  # the non-faces are split 80 / 20 too, without overlap
    assert torch.equal(x[:n], nonfaces.batch(torch.arange(first, first + n)))
    assert labelled.summary() == f"{split}: {n} face, {n} not face ({2 * n} images)"


def test_an_attribute_the_faces_lack_is_an_error_naming_their_table(root, fresh_cache):
    csv = write_csv(root, "image_name,Smiling,Black_Hair\nb.png,0,1\nc.png,1,1\n")
    assert load_faces("train", str(root)).attribute("Black_Hair").tolist() == [1, 1]
    with pytest.raises(KeyError, match=re.escape(f"({csv}) has the columns ['image_name', 'Smiling', 'Black_Hair']")):
        load_faces("train", str(root)).attribute("Blond_Hair")
    with pytest.raises(KeyError, match=re.escape(f"{root / 'face' / 'test.csv'} is absent")):
        load_faces("test", str(root)).attribute("Black_Hair")
    with pytest.raises(KeyError, match="lfw_subset has no attributes"):
        load_faces("test", size=16).attribute("image_name")


def test_unknown_split():
    with pytest.raises(ValueError, match=re.escape("unknown split 'val'; expected one of ('train', 'test')")):
        load_faces("val")


# ---- the course folders ----

def test_course_faces_in_file_name_order_as_rgb(root):
    faces = load_faces("train", str(root))
    names = ["a.png", "b.png", "c.png", "d.png"]  # notes.txt is not a PNG
    assert faces.attributes["image_name"].tolist() == names and list(faces.attributes.index) == [0, 1, 2, 3]
    assert faces.images.dtype == torch.uint8 and torch.equal(faces.images, expected("train", names))
    assert faces.split == "train" and str(root / "face" / "train") in faces.origin
    assert load_faces("test", str(root)).attributes["image_name"].tolist() == ["x.png", "y.png"]


def test_grey_and_rgba_become_rgb(root):
    images = load_faces("train", str(root)).images
    grey = np.array(Image.fromarray(pixels("train", "a.png")).resize((64, 64), Image.Resampling.BILINEAR))
    assert torch.equal(images[0, 0], torch.from_numpy(grey)) and torch.equal(images[0, 0], images[0, 2])
    assert torch.equal(images[3], torch.from_numpy(pixels("train", "d.png")[..., :3].transpose(2, 0, 1)))


def test_course_faces_are_resized_to_the_size_asked(root):
    faces = load_faces("train", str(root), size=32)
    assert faces.images.shape == (4, 3, 32, 32)
    assert torch.equal(faces.images, expected("train", ["a.png", "b.png", "c.png", "d.png"], 32))
    assert faces[0].shape == (3, 32, 32) and -1 <= faces[0].min() and faces[0].max() <= 1


def test_csv_chooses_and_orders_the_images_and_keeps_its_attributes(root):
    write_csv(root, "image_name,Smiling,Black_Hair\nd.png,1,-1\nb.png,0,1\nc.png,1,1\n")
    faces = load_faces("train", str(root))
    table = faces.attributes
    assert list(table.columns) == ["image_name", "Smiling", "Black_Hair"] and list(table.index) == [0, 1, 2]
    assert table["image_name"].tolist() == ["d.png", "b.png", "c.png"]
    assert table["Smiling"].tolist() == [1, 0, 1] and table["Black_Hair"].tolist() == [-1, 1, 1]
    assert table["Smiling"].dtype.kind in "if" and table["Black_Hair"].dtype.kind in "if"
    assert torch.equal(faces.images, expected("train", ["d.png", "b.png", "c.png"]))
    assert len(load_faces("test", str(root))) == 2  # train.csv says nothing about the test split


def test_csv_with_image_name_only(root):
    write_csv(root, "image_name\nc.png\n")
    faces = load_faces("train", str(root))
    assert list(faces.attributes.columns) == ["image_name"] and len(faces) == 1


def test_data_root_comes_before_download(root):
    # no network here: with a data_root, download=True must not be tried
    assert len(load_faces("test", str(root), download=True)) == 2


# ---- bad course data: one clear error each, never the built-in faces ----

def test_missing_root_is_an_error_not_the_built_in_faces(tmp_path):
    missing = tmp_path / "no_such_folder"
    with pytest.raises(FileNotFoundError, match=re.escape(f"course data root {missing} is not a folder; "
                                                          "expected the course layout <root>/face/train/*.png")):
        load_faces("train", str(missing))
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_faces("train", str(missing), download=True)


def test_root_that_is_a_file(tmp_path):
    path = tmp_path / "faces.zip"
    path.write_bytes(b"PK")
    with pytest.raises(FileNotFoundError, match=re.escape(f"course data root {path} is not a folder")):
        load_faces("train", str(path))


def test_missing_split_folder(root):
    folder = root / "face" / "test"
    shutil.rmtree(folder)
    with pytest.raises(FileNotFoundError, match=re.escape(f"no folder {folder} for the test faces; expected")):
        load_faces("test", str(root))


def test_folder_without_png(root):
    folder = root / "face" / "test"
    for name in FILES["test"]:
        (folder / name).unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(f"{folder} holds no PNG image; expected")):
        load_faces("test", str(root))


@pytest.mark.parametrize("damage", ["text", "empty", "truncated"])
def test_unreadable_image(root, damage):
    path = root / "face" / "train" / "b.png"
    content = {"text": b"not an image", "empty": b"", "truncated": path.read_bytes()[:-500]}[damage]
    path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(f"cannot read the image {path}")):
        load_faces("train", str(root))


def test_csv_without_image_name(root):
    csv = write_csv(root, "file,Smiling\nb.png,1\n")
    with pytest.raises(ValueError, match=re.escape(f"{csv} has the columns ['file', 'Smiling']; "
                                                   "expected image_name")):
        load_faces("train", str(root))


def test_csv_listing_missing_images(root):
    csv = write_csv(root, "image_name,Smiling\nb.png,1\nzz.png,0\n")
    with pytest.raises(FileNotFoundError, match=re.escape(f"1 of the 2 images listed in {csv} are missing, "
                                                          f"e.g. {root / 'face' / 'train' / 'zz.png'}")):
        load_faces("train", str(root))


@pytest.mark.parametrize("value", ["yes", "", "NaN"])
def test_attribute_values_must_be_numbers(root, value):
    csv = write_csv(root, f"image_name,Smiling\nb.png,1\nc.png,{value}\n")
    with pytest.raises(ValueError, match=re.escape(f"{csv}: 1 value(s) of the attribute 'Smiling' not a number, "
                                                   f"e.g. image_name 'c.png': {value!r}")):
        load_faces("train", str(root))


@pytest.mark.parametrize("content", ["image_name,Smiling\n", ""], ids=["header-only", "zero-bytes"])
def test_empty_csv(root, content):
    csv = write_csv(root, content, "test")
    with pytest.raises(ValueError, match=re.escape(str(csv))):
        load_faces("test", str(root))
