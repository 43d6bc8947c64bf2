"""The explorers' response time: the seconds one change of a control takes, against the bar of 1 s.

    python benchmarks/explore.py [--profile cpu]

Builds every notebook's explorers on models of the profile's sizes, untrained (the time of a view does not
depend on the weights), on the CPU, and changes each control once. The t-SNE explorer draws random points, as
many as the profile's t-SNE shows; the reverse-process scrubber, a random trajectory of T + 1 images. The
VAE's explorers use the built-in test faces.
"""
import argparse
import time

import numpy as np
import pandas as pd
import torch

from helpers import explore, report, runtime
from helpers.data.faces import load_faces
from helpers.methods import acgan, diffusion
from helpers.models.gan import build
from helpers.models.vae import VAE

BAR = 1.0

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--profile", default="cpu")
args = parser.parse_args()


def random_points(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    points = pd.DataFrame(rng.normal(size=(2 * n, 2)), columns=["x", "y"])
    points["digit"] = pd.Categorical(rng.integers(0, 10, 2 * n))
    points["domain"] = np.repeat(["source", "target"], n)
    return points


gan, conditional, uda, vae = (runtime.settings(args.profile, name) for name in ("gan", "conditional", "uda", "vae"))
d, a = conditional["diffusion"], conditional["acgan"]
schedule = diffusion.Schedule(d["T"])
torch.manual_seed(0)
faces = load_faces("test", "", vae["size"])
autoencoder = VAE(vae["size"], vae["width"], vae["latent_dim"])
explorers = {  # name -> (explorer, the changes timed: (control, new value))
    "GAN latent walk": (explore.latent_walk({report.GAN_NAMES[m]: build(m, gan["size"], gan["width"], gan["z_dim"])[0]
                                             for m in report.GAN_NAMES}, seed=0),
                        [("t", 0.9), ("seed_b", 5), ("method", "SAGAN")]),
    "conditional digits": (explore.digits((diffusion.new_model(d["width"], schedule, 0, d["objective"])[1], schedule),
                                          acgan.new_networks(10, 28, a["width"], a["z_dim"], 0, a["dropout"])[2],
                                          w=conditional["guidance"][-1], steps=d["ddim_steps"]),
                           [("digit", 7), ("w", 4.0), ("steps", min(d["T"], 25))]),
    "reverse process": (explore.reverse_process({t: torch.randn(3, 28, 28) for t in range(d["T"] + 1)}),
                        [("t", d["T"] // 2)]),
    "t-SNE (problem 4's models)": (explore.tsne({row: random_points(uda["n_tsne"], seed)
                                                 for seed, row in enumerate(report.UDA_ROWS.values())}, "tsne"),
                                   [("by", "domain"), ("model", "DANN")]),
    "VAE interpolation": (explore.face_interpolation(autoencoder, faces), [("b", 5)]),
    "VAE traversal": (explore.latent_traversal(autoencoder, faces), [("direction", 3), ("value", -1.0)]),
}
print(f"profile {args.profile}, untrained models; seconds of one change:")
for name, (explorer, changes) in explorers.items():
    for control, value in changes:
        start = time.perf_counter()
        explorer.controls[control].value = value
        seconds = time.perf_counter() - start
        verdict = "met" if seconds <= BAR else "NOT met"
        print(f"  {name}: {control} -> {value!r}: {seconds:.3f} s  (at most {BAR:g}: {verdict})")
