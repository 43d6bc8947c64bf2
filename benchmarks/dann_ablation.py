"""What makes the bn-adam DANN recipe work: each of its changes from the paper's recipe undone, one at a time.

    python benchmarks/dann_ablation.py [--profile cpu] [--seed 0] [--source mnist] [--target mnistm]

Trains DANN with the profile's steps and batch size for each variant of the "bn-adam" recipe and prints the accuracy
of the final model on the whole target test split, the seconds of training and the domain classifier's final
accuracy.
"""
import argparse
import dataclasses
import time

import pandas as pd

from helpers import metrics, runtime
from helpers.data.digits import load_digits
from helpers.methods import uda
from helpers.models.uda import DANN

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--profile", default="cpu")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--source", default="mnist")
parser.add_argument("--target", default="mnistm")
args = parser.parse_args()

bn_adam = uda.recipe("bn-adam")
variants = {
    "bn-adam": bn_adam,
    "one batch of both domains": dataclasses.replace(bn_adam, separate_domains=False),
    "the paper's SGD schedule": dataclasses.replace(bn_adam, optimizer=uda.PAPER_SGD),
    "no batch norm (the paper's network), Adam": dataclasses.replace(bn_adam, network="paper"),
    "paper": uda.recipe("paper"),
}
sizes = runtime.settings(args.profile, "dann")
source, target = load_digits(args.source, "train"), load_digits(args.target, "train")
test = load_digits(args.target, "test")
rows = {}
for name, recipe in variants.items():
    runtime.seed_everything(args.seed)
    model = DANN(recipe.network)
    start = time.perf_counter()
    history = uda.train_dann(model, source, target, steps=sizes["steps"], batch_size=sizes["batch_size"],
                             seed=args.seed, recipe=recipe, desc=name)
    rows[name] = {"accuracy on target test": metrics.accuracy(model, test), "training (s)": time.perf_counter() - start,
                  "final domain accuracy": history["domain_accuracy"].iloc[-1]}
print(f"DANN {args.source} → {args.target}, profile {args.profile} ({sizes['steps']} steps of {sizes['batch_size']} "
      f"per domain), seed {args.seed}")
print(pd.DataFrame.from_dict(rows, orient="index").round(4).to_markdown())
