"""Quality bar of problem 3: DANN on the built-in MNIST → MNIST-M pair, over several seeds and recipes.

    python benchmarks/dann.py [--profile cpu] [--seeds 0 1 2] [--recipes in-sgd paper bn-adam warp-adabn]
                              [--source mnist] [--target mnistm]

Runs the notebook once per seed and recipe through the runner and prints, from the records, the accuracy of each
final model on the whole target test split (mean ± std), the seconds of each training, and, for the default
recipe in the cpu profile on mnist → mnistm, whether the bars hold. Compare with Ganin et al. 2016, Table 2:
.5225 / .7666 / .9596.
"""
import argparse
import os

import pandas as pd

from helpers import report, run, runtime
from helpers.methods import uda

# the benchmark's figures go beside its runs: figures/ keeps those of `make report`
os.environ.setdefault("WORKBOOK_FIGURES", str(runtime.folder("runs") / "benchmark-figures"))

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--profile", default="cpu")
parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
parser.add_argument("--recipes", nargs="+", default=list(uda.RECIPES))
parser.add_argument("--source", default="mnist")
parser.add_argument("--target", default="mnistm")
args = parser.parse_args()

BARS = {  # the default recipe's bars, metric: (lowest, highest) allowed
    "acc_dann": (0.95, 1), "acc_target_only": (0.95, 1),
    "seconds_train_source_only": (0, 120), "seconds_train_dann": (0, 120), "seconds_train_target_only": (0, 120),
}
for recipe in args.recipes:
    paths = [run.execute("dann", args.profile, seed, source=args.source, target=args.target, recipe=recipe)
             for seed in args.seeds]
    records = report.load_records(paths)
    print(f"\n## recipe {recipe}\n")
    print(report.dann_table(records).to_markdown())
    metrics = pd.DataFrame([r["metrics"] for r in records], index=[r["seed"] for r in records])
    metrics.index.name = "seed"
    columns = [c for c in metrics if c.startswith(("acc_", "seconds_train_", "domain_"))]
    print(metrics[columns].round(4).to_markdown())
    print(metrics[columns].agg(["mean", "std", "max"]).round(4).to_markdown())
    if recipe == uda.DEFAULT and (args.profile, args.source, args.target) == ("cpu", "mnist", "mnistm"):
        for name, (low, high) in BARS.items():
            kind = "max" if name.startswith("seconds") else "mean"
            value = metrics[name].agg(kind)
            verdict = "met" if low <= value <= high else "NOT met"
            print(f"{name}: {kind} {value:.4f}, bar [{low}, {high}]: {verdict}")
    print(f"profile {args.profile}, device {records[0]['device']}, commit {records[0]['commit']}")
