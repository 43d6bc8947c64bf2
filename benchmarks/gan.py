"""Quality bars of problem 1: GANs on the built-in faces.

    python benchmarks/gan.py [--profile cpu] [--seeds 0 1 2] [--methods dcgan,wgangp,sagan,stylegan2]
                             [--diffaugment color,translation,cutout] [--records runs/gan-....json ...]

1. Throughput of the DCGAN training loop (``helpers.methods.gan.train``) against a plain PyTorch loop of the
   same architecture and batch size, measured in one run, in alternating rounds; printed as images per second
   and their ratio.
2. The GAN notebook once per seed without and once with DiffAugment (``--records``: read those records instead
   of running): the GAN table (FD mean ± std over the seeds, on the notebook's features), each method's FD
   with DiffAugment against without it (bar: the best method's at least 20 % lower with it), each training's
   seconds against 10 minutes.
3. Collapse and copies: per method and run, the two closest of the first 32 images, against the two closest of
   32 real faces (the 5th percentile over random sets of 32 of the training and test faces); the first 32 images'
   nearest training faces, against the test face nearest to a training face.
4. Memorisation: DCGAN's discriminator loss over training without and with DiffAugment, from the runs'
   checkpoints, as a figure and as its mean over the last quarter of the steps.
"""
import argparse
import os
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn.functional as F

from helpers import figures, metrics, report, run, runtime
from helpers.data.faces import load_faces
from helpers.methods import gan
from helpers.models.gan import build

# the benchmark's figures go beside its runs: figures/ keeps those of `make report`
os.environ.setdefault("WORKBOOK_FIGURES", str(runtime.folder("runs") / "benchmark-figures"))

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--profile", default="cpu")
parser.add_argument("--steps", type=int, default=60, help="steps per timed round")
parser.add_argument("--rounds", type=int, default=6)
parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
parser.add_argument("--methods", default="dcgan,wgangp,sagan,stylegan2",
                    help="the methods run, or the methods read from --records (the others in them are left out)")
parser.add_argument("--diffaugment", default="color,translation,cutout", help="the DiffAugment policy compared")
parser.add_argument("--records", nargs="*", default=[], help="GAN records to read instead of running the notebook")
args = parser.parse_args()
sizes = runtime.settings(args.profile, "gan")
faces = load_faces("train", size=sizes["size"])
batch = sizes["batch_size"]


def workbook_loop() -> float:
    state = gan.new_state("dcgan", 0, sizes["size"], sizes["width"], sizes["z_dim"], faces.summary())
    start = time.perf_counter()
    gan.train(state, faces, steps=args.steps, batch_size=batch, log_every=args.steps)
    return time.perf_counter() - start


def plain_loop() -> float:
    """The textbook DCGAN step: D on real and detached fake, then G on the same fake."""
    generator, discriminator = build("dcgan", sizes["size"], sizes["width"], sizes["z_dim"])
    opt_g = torch.optim.Adam(generator.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.999))
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    start = time.perf_counter()
    for _ in range(args.steps):
        real = faces.batch(torch.randint(len(faces), (batch,)))
        fake = generator(torch.randn(batch, sizes["z_dim"]))
        loss_d = (F.binary_cross_entropy_with_logits(discriminator(real), ones)
                  + F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = F.binary_cross_entropy_with_logits(discriminator(fake), ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return time.perf_counter() - start


workbook_loop(), plain_loop()  # warm-up
times = {"workbook": [], "plain": []}
for round_ in range(args.rounds):  # each round times both loops, which goes first alternating
    for name in sorted(times, reverse=round_ % 2 == 1):
        times[name].append({"workbook": workbook_loop, "plain": plain_loop}[name]())
images = args.steps * args.rounds * batch
rates = {name: images / sum(seconds) for name, seconds in times.items()}
print(f"DCGAN {sizes['size']}×{sizes['size']}, width {sizes['width']}, batch {batch}, "
      f"{args.rounds} rounds of {args.steps} steps:")
for name, rate in rates.items():
    print(f"  {name} loop: {rate:.1f} images/s")
per_round = [plain / mine for mine, plain in zip(times["workbook"], times["plain"])]
print(f"  ratio per round: {' '.join(f'{r:.3f}' for r in per_round)}")
ratio = rates["workbook"] / rates["plain"]
print(f"  throughput ratio workbook/plain: {ratio:.3f} ({'met' if ratio >= 0.95 else 'NOT met'}: bar 'no worse', "
      "with 5% allowed for timing noise)")

jobs = [(seed, tricks) for seed in args.seeds for tricks in ("", f"diffaugment={args.diffaugment}")]
paths = args.records or [run.execute("gan", args.profile, seed, methods=args.methods, tricks=tricks)
                         for seed, tricks in jobs]
records = report.load_records(paths)
left_out = set(report.GAN_NAMES) - set(gan.parse_methods(args.methods))
for record in records:  # only --methods are compared, also where the records hold others
    for part in ("metrics", "artifacts"):
        record[part] = {key: value for key, value in record[part].items() if left_out.isdisjoint(key.split("_"))}
augmented = [bool(gan.parse_tricks(r["parameters"].get("tricks", "")).get("diffaugment")) for r in records]
names = [f"seed {r['seed']}{' + DiffAugment' if used else ''}" for r, used in zip(records, augmented)]
print(f"\n## FD over seeds {sorted({r['seed'] for r in records})}, profile {records[0]['profile']}, "
      f"commits {', '.join(sorted({r['commit'][:7] for r in records}))}\n")
print(report.gan_table(records).to_markdown())

print("\n## DiffAugment against none (bar: the best method's FD at least 20 % lower with it)\n")
fd = {}
for method in report.GAN_NAMES:
    for used in (False, True):
        values = [r["metrics"][f"fid_{method}"] for r, a in zip(records, augmented)
                  if a == used and f"fid_{method}" in r["metrics"]]
        if values:
            fd[method, used] = sum(values) / len(values)
    if (method, False) in fd and (method, True) in fd:
        change = fd[method, True] / fd[method, False] - 1
        print(f"  {method}: mean FD {fd[method, False]:.4f} without, {fd[method, True]:.4f} with ({change:+.1%})")
compared = [m for m in report.GAN_NAMES if (m, False) in fd and (m, True) in fd]
if compared:
    best = min(compared, key=lambda m: fd[m, True])
    change = fd[best, True] / fd[best, False] - 1
    print(f"best with DiffAugment: {best}, {change:+.1%}: {'met' if change <= -0.2 else 'NOT met'}")
for record, name in zip(records, names):
    for method in report.GAN_NAMES:
        m = record["metrics"]
        if f"seconds_train_{method}" in m:
            seconds, first, final = m[f"seconds_train_{method}"], m[f"fid_first_check_{method}"], m[f"fid_{method}"]
            print(f"  {name}, {method}: trained in {seconds:.0f} s ({'met' if seconds <= 600 else 'NOT met'}: bar "
                  f"600 s); FD first check {first:.3f} -> final {final:.3f} "
                  f"({'falls' if final < first else 'does NOT fall'})")

print("\n## Collapse and copies: the first 32 images (RMS pixel distances, images in [-1, 1])\n")


def closest_pair(images: torch.Tensor) -> float:
    """The RMS pixel distance of the two most alike of ``images``."""
    return torch.pdist(images.flatten(1)).min().item() / images[0].numel() ** 0.5


test = load_faces("test", size=sizes["size"])
test_faces = test.batch(torch.arange(len(test)))
real = torch.cat([faces.batch(torch.arange(len(faces))), test_faces])
draws = torch.Generator().manual_seed(0)
real_sets = torch.tensor([closest_pair(real[torch.randperm(len(real), generator=draws)[:32]]) for _ in range(1000)])
alike = real_sets.quantile(0.05).item()  # two images this close happen in only 5 % of 32-face sets of real faces
copied = metrics.nearest(test_faces, faces)[0].min().item()
print(f"two closest of 32 real faces (1000 random sets of the {len(real)}): mean {real_sets.mean():.4f}, 5th "
      f"percentile {alike:.4f}; test face nearest to a training face: {copied:.4f}")
for record, name in zip(records, names):
    for method in report.GAN_NAMES:
        if f"gan_{method}_images" in record["artifacts"]:
            first = metrics.import_images(record["artifacts"][f"gan_{method}_images"])[:32]
            closest = closest_pair(first)
            nearest = metrics.nearest(first, faces)[0].min().item()
            print(f"  {name}, {method}: two closest {closest:.4f} ({'met' if closest > alike else 'NOT met'}: no two "
                  f"alike), nearest to a training face {nearest:.4f} ({'met' if nearest > copied else 'NOT met'}: no "
                  f"copy)")

print("\n## Memorisation: DCGAN's discriminator loss, mean over the last quarter of the steps\n")
fig, ax = plt.subplots(figsize=(6, 3.5))
for record, used, name in zip(records, augmented, names):
    if "gan_dcgan_checkpoint" in record["artifacts"]:
        history = pd.DataFrame(torch.load(record["artifacts"]["gan_dcgan_checkpoint"], weights_only=True)["history"])
        late = history[history["step"] > 0.75 * history["step"].max()]["loss_d"].mean()
        print(f"  {name}: {late:.4f}")
        ax.plot(history["step"], history["loss_d"], color="tab:orange" if used else "tab:blue", label=name)
if ax.lines:
    ax.set(title="DCGAN: D's loss without (blue) and with DiffAugment (orange)", xlabel="step", ylabel="loss_d")
    ax.legend(fontsize=7)
    print(f"figure: {figures.save(fig, 'gan_dcgan_d_loss_diffaugment')}")
else:
    print("  no DCGAN run among the records")
