"""Quality bars of problem 4: every method of notebooks/4_uda.ipynb on the built-in pairs, over several seeds.

    python benchmarks/uda.py [--profile cpu] [--seeds 0 1 2] [--pairs mnist:mnistm synnum:mnist mnistm:optdigits]
                             [--methods dann,adda,pixelda,selfensemble]

Runs the notebook once per pair and seed through the runner and prints, from the records, the table of each
method's accuracy on the whole target test split (mean ± std), the seconds of each training, and, in the cpu
profile, whether each bar holds (or that it was not run).
"""
import argparse
import os

import pandas as pd

from helpers import report, run, runtime

os.environ.setdefault("WORKBOOK_FIGURES", str(runtime.folder("runs") / "benchmark-figures"))

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--profile", default="cpu")
parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
parser.add_argument("--pairs", nargs="+", default=["mnist:mnistm", "synnum:mnist", "mnistm:optdigits"])
parser.add_argument("--methods", default="dann,adda,pixelda,selfensemble")
args = parser.parse_args()

frames, records = {}, []
for pair in args.pairs:
    source, target = pair.split(":")
    paths = [run.execute("uda", args.profile, seed, source=source, target=target, methods=args.methods) for seed in args.seeds]
    pair_records = report.load_records(paths)
    records += pair_records
    frames[pair] = pd.DataFrame([r["metrics"] for r in pair_records], index=[r["seed"] for r in pair_records])
print(report.uda_table(records).to_markdown())
for pair, metrics in frames.items():
    print(f"\n{pair}, per seed:")
    print(metrics[[c for c in metrics if c.startswith(("acc_", "seconds_train_"))]].round(4).to_markdown())


BARS = [  # pair, what, its value from the pair's per-seed metrics, the bar (lowest, highest)
    ("mnist:mnistm", "self-ensembling, mean accuracy", lambda m: m["acc_selfensemble"].mean(), (0.98, 1)),
    ("mnist:mnistm", "self-ensembling, longest training (s)", lambda m: m["seconds_train_selfensemble"].max(),
     (0, 600)),
    ("mnist:mnistm", "ADDA minus trained on source, lowest seed",
     lambda m: (m["acc_adda"] - m["acc_source_only"]).min(), (1e-9, 1)),
    ("mnist:mnistm", "ADDA, longest adversarial stage (s; its source model is Trained on source)",
     lambda m: m["seconds_train_adda"].max(), (0, 300)),
    ("mnist:mnistm", "PixelDA, mean accuracy", lambda m: m["acc_pixelda"].mean(), (0.90, 1)),
    ("mnist:mnistm", "PixelDA, longest training (s)", lambda m: m["seconds_train_pixelda"].max(), (0, 900)),
    ("synnum:mnist", "self-ensembling, mean accuracy", lambda m: m["acc_selfensemble"].mean(), (0.95, 1)),
    ("mnistm:optdigits", "self-ensembling minus DANN, mean", lambda m: (m["acc_selfensemble"] - m["acc_dann"]).mean(),
     (0.05, 1)),
]
if args.profile == "cpu":
    for pair, what, value, (low, high) in BARS:
        try:
            v = value(frames[pair])
        except KeyError:  # the pair or one of the bar's methods did not run
            print(f"{pair}: {what}: not run")
        else:
            print(f"{pair}: {what} {v:.4f}, bar [{low}, {high}]: {'met' if low <= v <= high else 'NOT met'}")
print(f"profile {args.profile}, device {records[0]['device']}, commit {records[0]['commit']}")
