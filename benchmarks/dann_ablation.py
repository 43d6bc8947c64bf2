"""What makes the warp-adabn DANN recipe work: each of its changes from the paper's recipe undone, one at a time, on
the pairs where they pull in opposite directions.

    python benchmarks/dann_ablation.py [--profile cpu] [--seed 0] [--pairs mnist:mnistm synnum:mnist]

Trains DANN with the profile's steps and batch size for each variant of the recipe and prints, per pair, the
accuracy of the final model on the whole target test split, the seconds of training and the domain classifier's
final accuracy.
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
parser.add_argument("--pairs", nargs="+", default=["mnist:mnistm", "synnum:mnist"])
args = parser.parse_args()

full = uda.recipe("warp-adabn")
variants = {
    "warp-adabn": full,
    "no AdaBN": dataclasses.replace(full, target_statistics=False),
    "no warp": dataclasses.replace(full, warp=False),
    "neither (bn-adam)": uda.recipe("bn-adam"),
    "bn-adam, one batch of both domains": dataclasses.replace(uda.recipe("bn-adam"), separate_domains=False),
    "bn-adam, the paper's SGD schedule": dataclasses.replace(uda.recipe("bn-adam"), optimizer=uda.PAPER_SGD),
    "bn-adam without batch norm (the paper's network)": dataclasses.replace(uda.recipe("bn-adam"), network="paper"),
    "paper": uda.recipe("paper"),
}
sizes = runtime.settings(args.profile, "dann")
tables = {}
for pair in args.pairs:
    source_name, target_name = pair.split(":")
    source, target = load_digits(source_name, "train"), load_digits(target_name, "train")
    test = load_digits(target_name, "test")
    rows = {}
    for name, recipe in variants.items():
        runtime.seed_everything(args.seed)
        model = DANN(recipe.network)
        start = time.perf_counter()
        history = uda.train_dann(model, source, target, steps=sizes["steps"], batch_size=sizes["batch_size"],
                                 seed=args.seed, recipe=recipe, desc=f"{pair} {name}")
        rows[name] = {"accuracy on target test": metrics.accuracy(model, test),
                      "training (s)": time.perf_counter() - start,
                      "final domain accuracy": history["domain_accuracy"].iloc[-1]}
    tables[pair] = pd.DataFrame.from_dict(rows, orient="index")
print(f"DANN, profile {args.profile} ({sizes['steps']} steps of {sizes['batch_size']} per domain), seed {args.seed}")
print(pd.concat(tables, axis=1).round(4).to_markdown())
