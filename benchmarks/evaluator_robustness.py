"""How much of problem 2's accuracy is the judge's: an evaluator trained on sharp digits against the robust one.

    python benchmarks/evaluator_robustness.py [--record runs/conditional-cpu-seed0.json]

Takes the `cpu` profile's evaluator of built-in MNIST-M (the profile's steps and batch, seed 0, half of each
batch blurred and noised by evaluator.blur_and_noise) and the same classifier trained on unaltered batches
only (both cached), and prints for each the accuracy on 2000 real test digits, on the same digits
blurred with σ = 1, and on the image folders the record's run graded (1000 images each).
"""
import argparse
import json

import torch
import torchvision.transforms.v2.functional as TF

from helpers import evaluator, metrics, runtime
from helpers.data.digits import load_digits

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--record", default=str(runtime.folder("runs") / "conditional-cpu-seed0.json"))
args = parser.parse_args()
record = json.loads(open(args.record).read())

sizes = runtime.settings("cpu", "conditional")["evaluator"]
judges = {"sharp-only": evaluator.digit_evaluator("mnistm", **{**sizes, "robust": False}),
          "robust": evaluator.digit_evaluator("mnistm", **{**sizes, "robust": True})}
for name, judge in judges.items():
    print(f"{name}: {judge.summary()}")
x, y = load_digits("mnistm", "test").batch(torch.arange(2000))
sets = {"real test digits": (x, y), "the same, blurred σ = 1": (TF.gaussian_blur(x, [5, 5], [1.0, 1.0]), y)}
for name, folder in record["artifacts"].items():
    if name.endswith("_images"):  # the graded folders, written as 0_001.png ... 9_100.png
        images = metrics.import_images(folder)
        sets[name.removesuffix("_images")] = (images, evaluator.digit_labels(len(images) // 10))
print(f"record {args.record}: commit {record['commit']}, parameters {record['parameters']}")
for what, (images, labels) in sets.items():
    scores = ", ".join(f"{name} {evaluator.score(judge.classifier, images, labels)[0]:.4f}" for name, judge in judges.items())
    print(f"  {what} ({len(images)}): {scores}")
