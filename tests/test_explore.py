"""The explorers on smoke-sized models, without a browser: each control changes the image, and the export
writes figures/<name>.png."""
import base64
import io

import numpy as np
import pandas as pd
import pytest
import torch
from fakes import Images
from PIL import Image

from helpers import explore, figures, runtime
from helpers.methods import acgan, diffusion
from helpers.models.gan import build
from helpers.models.vae import VAE


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def changes(explorer: explore.Explorer, control: str, value) -> bool:
    """Whether setting ``control`` to ``value`` changes the image's pixels."""
    before = pixels(explorer.image.value)
    explorer.controls[control].value = value
    after = pixels(explorer.image.value)
    return before.shape != after.shape or not np.array_equal(before, after)


@pytest.fixture
def diffusion_model():
    schedule = diffusion.Schedule(50)
    return diffusion.new_model(16, schedule, seed=0, objective="v")[1], schedule


def generator(seed=0):
    torch.manual_seed(seed)
    return build("dcgan", size=16, width=4, z_dim=16)[0]


def points(n=40, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 2)), columns=["x", "y"])
    frame["digit"] = pd.Categorical(rng.integers(0, 10, n))
    frame["domain"] = np.repeat(["source", "target"], n // 2)
    return frame


def test_the_latent_walk_answers_the_slider_the_seeds_and_the_generator():
    walk = explore.latent_walk({"DCGAN": generator(0), "other": generator(1)}, seed=0, frames=4)
    assert changes(walk, "t", 1.0) and changes(walk, "seed_b", 7) and changes(walk, "method", "other")
    assert walk.values() == {"method": "other", "seed_a": 0, "seed_b": 7, "t": 1.0}


def test_slerp_goes_from_one_vector_to_the_other_keeping_the_length_of_equal_ones():
    z_a, z_b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    path = explore.slerp(z_a, z_b, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(path[0], z_a) and torch.allclose(path[2], z_b)
    assert torch.allclose(path.norm(dim=1), torch.ones(3))
    assert torch.equal(explore.slerp(z_a, z_a, torch.tensor([0.0, 1.0])), torch.stack([z_a, z_a]))


def test_the_digits_answer_the_digit_the_guidance_and_the_steps(diffusion_model):
    torch.manual_seed(0)
    generator_ema = acgan.new_networks(10, 28, 8, 16, seed=0)[2]
    explorer = explore.digits(diffusion_model, generator_ema, w=0.0, steps=2, seed=0, shown=3)
    assert changes(explorer, "digit", 3) and changes(explorer, "w", 2.0) and changes(explorer, "steps", 3)
    assert explorer.controls["steps"].max == 25  # the smaller of T and most_steps
    only_acgan = explore.digits(acgan_generator=generator_ema, shown=2)
    assert set(only_acgan.controls) == {"digit", "seed"} and changes(only_acgan, "digit", 9)


def test_a_view_is_the_same_for_the_same_controls(diffusion_model):
    """Headless runs stay deterministic: the noise of every view comes from its seeds."""
    first, second = (explore.digits(diffusion_model, w=1.0, steps=2, seed=3, shown=2) for _ in range(2))
    assert first.image.value == second.image.value
    walks = [explore.latent_walk({"DCGAN": generator(0)}, seed=4, frames=3) for _ in range(2)]
    assert walks[0].image.value == walks[1].image.value


def test_digits_refuse_to_run_without_a_model():
    with pytest.raises(ValueError, match="diffusion model .* ACGAN generator"):
        explore.digits()


def test_the_reverse_process_is_scrubbed_over_its_timesteps():
    trace = {t: torch.full((3, 28, 28), 1 - t / 5) for t in range(6)}
    explorer = explore.reverse_process(trace)
    assert explorer.controls["t"].options == (5, 4, 3, 2, 1, 0)
    assert changes(explorer, "t", 2)
    with pytest.raises(ValueError, match="down to t = 0"):
        explore.reverse_process({3: trace[3]})


def test_the_tsne_explorer_picks_the_model_and_the_colouring():
    explorer = explore.tsne({"source only": points(seed=0), "DANN": points(seed=1)}, "dann_test_explore_tsne")
    assert changes(explorer, "by", "domain") and changes(explorer, "model", "DANN")
    with pytest.raises(ValueError, match="no t-SNE embeddings"):
        explore.tsne({}, "empty")


def test_tsne_scatter_refuses_an_unknown_colouring():
    with pytest.raises(ValueError, match="colour by 'colour'"):
        figures.tsne_scatter(None, points(), "colour", "model")


def test_the_vae_explorers_answer_their_faces_directions_and_distances():
    torch.manual_seed(0)
    model, faces = VAE(16, 4, 8), Images(n=12, size=16)
    interpolation = explore.face_interpolation(model, faces, steps=4)
    assert changes(interpolation, "b", 5) and changes(interpolation, "a", 2)
    traversal = explore.latent_traversal(model, faces, directions=3, shown=4)
    assert len(traversal.controls["direction"].options) == 3
    assert changes(traversal, "value", -1.0) and changes(traversal, "direction", 2)
    with pytest.raises(ValueError, match="two faces"):
        explore.face_interpolation(model, Images(n=1, size=16))


def test_the_export_writes_the_current_view_under_its_stable_name():
    explorer = explore.tsne({"model": points()}, "uda_test_explore_tsne")
    explorer.controls["by"].value = "domain"
    explorer.save.click()
    path = runtime.folder("figures") / "uda_test_explore_tsne.png"
    assert path.read_bytes() == explorer.image.value and explorer.status.value == f"saved {path}"


def test_a_displayed_explorer_carries_its_widget_and_the_png_of_its_view():
    explorer = explore.reverse_process({t: torch.zeros(3, 28, 28) for t in range(3)})
    bundle = explorer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    assert base64.b64decode(bundle["image/png"]) == explorer.image.value


def test_tiles_enlarge_small_images_and_refuse_non_finite_ones():
    assert explore.tiles(torch.zeros(4, 3, 16, 16), columns=2).size == (6 * 38, 6 * 38)  # (2 × (16 + 2) + 2) × 6
    assert explore.tiles(torch.zeros(2, 3, 16, 16), columns=2, scale=1).size == (38, 20)
    with pytest.raises(ValueError, match="NaN"):
        explore.tiles(torch.full((1, 3, 4, 4), float("nan")), columns=1)
