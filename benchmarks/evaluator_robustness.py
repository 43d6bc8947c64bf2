"""How much of problem 2's accuracy is the judge's: the evaluator against one trained to read blurred digits.

    python benchmarks/evaluator_robustness.py [--record runs/conditional-cpu-seed0.json]

Trains a digit classifier of the evaluator's design on built-in MNIST-M exactly as the `cpu` evaluator is
trained (uda.train, 2000 steps of 64, seed 0) but with half of each batch blurred (Gaussian, σ drawn from
0.01-1.5 pixels) and noised (std drawn from 0-0.2); then prints, for the cached evaluator and for this one, the accuracy
on 2000 real test digits, on the same digits blurred with σ = 1, and on the image folders the record's run
graded (1000 images each). An experiment, not the notebooks' judge.
"""
import argparse
import json
import time

import torch
import torchvision.transforms.v2.functional as TF

from helpers import evaluator, metrics, runtime
from helpers.data.digits import load_digits
from helpers.methods import uda
from helpers.models.classifier import DigitClassifier

STEPS, BATCH, SEED = 2000, 64, 0


def blur_and_noise(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The first half of the batch blurred with one random σ and given Gaussian noise of one random std."""
    half = len(x) // 2
    sigma = 0.01 + 1.5 * torch.rand(1, generator=generator).item()
    noise = 0.2 * torch.rand(1, generator=generator).item() * torch.randn(x[:half].shape, generator=generator)
    return torch.cat([TF.gaussian_blur(x[:half], [5, 5], [sigma, sigma]) + noise, x[half:]]).clamp(-1, 1)


parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--record", default=str(runtime.folder("runs") / "conditional-cpu-seed0.json"))
args = parser.parse_args()
record = json.loads(open(args.record).read())

train, test = load_digits("mnistm", "train"), load_digits("mnistm", "test")
torch.manual_seed(SEED)  # as digit_evaluator initialises its classifier
robust = DigitClassifier()
start = time.perf_counter()
uda.train(robust, train, steps=STEPS, batch_size=BATCH, seed=SEED, augment=blur_and_noise, desc="robust classifier")
print(f"robust classifier: {STEPS} steps of {BATCH} in {time.perf_counter() - start:.0f} s")

judges = {"evaluator": evaluator.digit_evaluator("mnistm", steps=STEPS, batch_size=BATCH, n_test=None, seed=SEED),
          "robust": evaluator.Evaluator(robust.eval(), {})}
x, y = test.batch(torch.arange(2000))
sets = {"real test digits": (x, y), "the same, blurred σ = 1": (TF.gaussian_blur(x, [5, 5], [1.0, 1.0]), y)}
for name, folder in record["artifacts"].items():
    if name.endswith("_images"):  # the graded folders, written as 0_001.png ... 9_100.png
        images = metrics.import_images(folder)
        sets[name.removesuffix("_images")] = (images, evaluator.digit_labels(len(images) // 10))
print(f"record {args.record}: commit {record['commit']}, parameters {record['parameters']}")
for what, (images, labels) in sets.items():
    scores = ", ".join(f"{judge} {evaluator.score(model, images, labels)[0]:.4f}" for judge, model in judges.items())
    print(f"  {what} ({len(images)}): {scores}")
