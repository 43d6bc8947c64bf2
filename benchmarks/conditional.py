"""Quality bars of problem 2: conditional generation of built-in MNIST-M digits.

    python benchmarks/conditional.py [--profile cpu] [--record runs/conditional-cpu-seed0.json]

Runs notebooks/2_conditional in ``--profile`` (or reads the record of such a run) and prints, against
its bars: the evaluator's accuracy on the 1000 graded images of ACGAN, DDIM and DDPM, the
training seconds of ACGAN and of the diffusion model, and the seconds to sample the 1000 images.
"""
import argparse
import json
import os

from helpers import run, runtime

# the benchmark's figures go beside its runs: figures/ keeps those of `make report`
os.environ.setdefault("WORKBOOK_FIGURES", str(runtime.folder("runs") / "benchmark-figures"))

BARS = [  # metric, bar, "min" (at least) or "max" (at most), what it is
    ("acc_evaluator", None, "", "evaluator: accuracy on the real test digits"),
    ("acc_ddim", 0.95, "min", "diffusion, DDIM: evaluator accuracy on 1000 images"),
    ("seconds_train_diffusion", 15 * 60, "max", "diffusion: training seconds"),
    ("seconds_sample_ddim", 60, "max", "diffusion, DDIM: seconds to sample 1000 images"),
    ("acc_ddpm", None, "", "diffusion, DDPM (all T steps): evaluator accuracy on 1000 images"),
    ("seconds_sample_ddpm", None, "", "diffusion, DDPM: seconds to sample 1000 images"),
    ("acc_acgan", 0.95, "min", "ACGAN: evaluator accuracy on 1000 images"),
    ("seconds_train_acgan", 10 * 60, "max", "ACGAN: training seconds"),
]

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--profile", default="cpu")
parser.add_argument("--record", default="", help="a conditional record to read instead of running the notebook")
args = parser.parse_args()
path = args.record or run.execute("conditional", args.profile, 0)
record = json.loads(open(path).read())
m = record["metrics"]
print(f"record {path}: profile {record['profile']}, seed {record['seed']}, commit {record['commit']}, "
      f"parameters {record['parameters']}")
for name, bar, kind, what in BARS:
    verdict = ""
    if bar is not None:
        met = m[name] >= bar if kind == "min" else m[name] <= bar
        verdict = f"  ({'at least' if kind == 'min' else 'at most'} {bar}: {'met' if met else 'NOT met'})"
    print(f"  {what}: {m[name]:.4f}{verdict}")
