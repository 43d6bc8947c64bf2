"""The workbook's training loops at a profile's sizes on the built-in data, each as ``train(precision, steps)``
that goes on from where its last call ended: what the speed benchmarks time.

    train = LOOPS["dcgan"]("cpu", device)
    train(runtime.FP32, 10)
"""
import torch

from helpers import runtime
from helpers.data.digits import load_digits
from helpers.data.faces import load_faces
from helpers.methods import acgan, diffusion, gan, uda, vae
from helpers.models.uda import DANN
from helpers.models.vae import VAE


def gan_loop(method: str, profile: str, device: torch.device):
    s = runtime.settings(profile, "gan")
    faces = load_faces("train", "", s["size"])
    state = gan.new_state(method, 0, s["size"], s["width"], s["z_dim"], faces.summary())
    return lambda precision, steps: gan.train(state, faces, steps=state.step + steps, batch_size=s["batch_size"],
                                              device=device, precision=precision, log_every=steps)


def acgan_loop(profile: str, device: torch.device):
    a = runtime.settings(profile, "conditional")["acgan"]
    digits = load_digits("mnistm")
    networks = acgan.new_networks(10, 28, a["width"], a["z_dim"], 0, a["dropout"])
    return lambda precision, steps: acgan.train(*networks, digits, steps=steps, batch_size=a["batch_size"], seed=0,
                                                class_weight=a["class_weight"], device=device, precision=precision)


def diffusion_loop(profile: str, device: torch.device):
    d = runtime.settings(profile, "conditional")["diffusion"]
    digits, schedule = load_digits("mnistm"), diffusion.Schedule(d["T"])
    model, ema = diffusion.new_model(d["width"], schedule, 0, d["objective"])
    return lambda precision, steps: diffusion.train(model, ema, digits, schedule, steps=steps, lr=d["lr"], seed=0,
                                                    batch_size=d["batch_size"], device=device, precision=precision)


def dann_loop(profile: str, device: torch.device):
    s, recipe = runtime.settings(profile, "dann"), uda.recipe(uda.DEFAULT)
    source, target, model = load_digits("mnist"), load_digits("mnistm"), DANN(recipe.network)
    return lambda precision, steps: uda.train(model, source, unlabelled=target, steps=steps, recipe=recipe, seed=0,
                                              batch_size=s["batch_size"], device=device, precision=precision)


def vae_loop(profile: str, device: torch.device):
    s = runtime.settings(profile, "vae")
    faces, model = load_faces("train", "", s["size"]), VAE(s["size"], s["width"], s["latent_dim"])
    return lambda precision, steps: vae.train(model, faces, steps=steps, batch_size=s["batch_size"], beta=0.1,
                                              flip=s["flip"], shift=s["shift"], lr=s["lr"], device=device,
                                              precision=precision, log_every=steps)


LOOPS = {"dcgan": lambda *a: gan_loop("dcgan", *a), "wgangp": lambda *a: gan_loop("wgangp", *a),
         "sagan": lambda *a: gan_loop("sagan", *a), "acgan": acgan_loop, "diffusion": diffusion_loop,
         "dann": dann_loop, "vae": vae_loop}  # name -> (profile, device) -> train(precision, steps)
