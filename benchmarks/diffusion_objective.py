"""Problem 2's diffusion model trained for ε or for v: the same U-Net, data, seed and samplers.

    python benchmarks/diffusion_objective.py [--profile cpu] [--steps N] [--per-class 20]

Trains the profile's diffusion model on built-in MNIST-M twice, with objective "eps" (‖ε − ε_θ‖²) and
"v" (‖v − v_θ‖², see helpers.methods.diffusion.NoisePredictor), for ``--steps`` (default: the profile's),
and prints for each its training seconds and the profile evaluator's accuracy on DDIM samples (the
profile's step count, ``--per-class`` images per digit) at each guidance weight of the profile's sweep.
"""
import argparse
import time

import pandas as pd

from helpers import evaluator, runtime
from helpers.data.digits import load_digits
from helpers.methods import diffusion

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--profile", default="cpu")
parser.add_argument("--steps", type=int, default=0, help="training steps; 0: the profile's")
parser.add_argument("--per-class", type=int, default=20)
args = parser.parse_args()

sizes = runtime.settings(args.profile, "conditional")
d = {**sizes["diffusion"], **({"steps": args.steps} if args.steps else {})}
judge = evaluator.digit_evaluator("mnistm", seed=0, **sizes["evaluator"])
print(judge.summary())
train, labels, schedule = load_digits("mnistm", "train"), evaluator.digit_labels(args.per_class), diffusion.Schedule(d["T"])
rows = []
for objective in diffusion.NoisePredictor.OBJECTIVES:
    model, ema = diffusion.new_model(d["width"], schedule, seed=0, objective=objective)
    start = time.perf_counter()
    history = diffusion.train(model, ema, train, schedule, steps=d["steps"], batch_size=d["batch_size"], lr=d["lr"],
                              seed=0)
    row = {"objective": objective, "seconds_train": round(time.perf_counter() - start),
           "final_loss": round(history["loss"].iloc[-1], 4)}
    for w in sizes["guidance"]:
        scored = evaluator.generate_and_score(
            judge, lambda c: diffusion.ddim(ema, schedule, c, w=w, steps=d["ddim_steps"], seed=0), labels)
        row[f"acc w={w:g}"] = scored.accuracy
    rows.append(row)
print(f"profile {args.profile}: width {d['width']}, T {d['T']}, {d['steps']} steps of {d['batch_size']}, "
      f"DDIM {d['ddim_steps']} steps, {len(labels)} images per w (the losses are of different targets)")
print(pd.DataFrame(rows).to_string(index=False))
