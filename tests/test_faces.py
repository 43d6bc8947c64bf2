import numpy as np
import pytest
import torch
from PIL import Image

from helpers.data.faces import load_faces


def test_built_in_faces_are_a_fixed_disjoint_split(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_CACHE", str(tmp_path))  # a fresh build
    train, test = load_faces("train", size=32), load_faces("test", size=32)
    assert train.images.shape == (80, 3, 32, 32) and test.images.shape == (20, 3, 32, 32)
    assert train.images.dtype == torch.uint8 and -1 <= train[0].min() and train[0].max() <= 1
    assert not set(train.attributes["image_name"]) & set(test.attributes["image_name"])
    assert torch.equal(load_faces("train", size=32).images, train.images)  # the same on every call
    assert "lfw_subset" in train.summary() and "tiny" in train.origin


def write_faces(root, split="train", names=("b.png", "a.png", "c.png"), size=64):
    folder = root / "face" / split
    folder.mkdir(parents=True)
    for i, name in enumerate(names):
        Image.fromarray(np.full((size, size, 3), 40 * i, np.uint8)).save(folder / name)
    return folder


def test_course_faces_in_name_order_resized(tmp_path):
    write_faces(tmp_path)
    faces = load_faces("train", str(tmp_path), size=32)
    assert list(faces.attributes["image_name"]) == ["a.png", "b.png", "c.png"]
    assert faces.images.shape == (3, 3, 32, 32)
    assert faces.images[0].float().mean() == 40  # a.png was written second (value 40)
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(tmp_path / "face" / "train" / "d.png")  # grey, other size
    assert load_faces("train", str(tmp_path)).images.shape == (4, 3, 64, 64)


def test_course_csv_chooses_and_orders_the_images_and_keeps_attributes(tmp_path):
    write_faces(tmp_path)
    (tmp_path / "face" / "train.csv").write_text("image_name,Smiling,Black_Hair\nc.png,1,0\nb.png,0,1\n")
    faces = load_faces("train", str(tmp_path))
    assert list(faces.attributes["image_name"]) == ["c.png", "b.png"]
    assert list(faces.attributes["Smiling"]) == [1, 0] and len(faces) == 2


@pytest.mark.parametrize("csv,message", [
    ("name,Smiling\nb.png,1\n", "expected image_name"),
    ("image_name,Smiling\n", "no rows"),
    ("image_name,Smiling\nb.png,yes\n", "Smiling.*not a number.*b.png"),
    ("image_name,Smiling\nzz.png,1\n", "1 of the 1 images listed in .*train.csv are missing.*zz.png"),
])
def test_a_bad_csv_is_named(tmp_path, csv, message):
    write_faces(tmp_path)
    (tmp_path / "face" / "train.csv").write_text(csv)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_faces("train", str(tmp_path))


def test_missing_or_unreadable_course_faces_are_errors_never_built_in_faces(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_faces("train", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="face/test"):
        load_faces("test", str(tmp_path))
    (tmp_path / "face" / "train").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no PNG"):
        load_faces("train", str(tmp_path))
    (tmp_path / "face" / "train" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png"):
        load_faces("train", str(tmp_path))
    with pytest.raises(ValueError, match="unknown split"):
        load_faces("val")
