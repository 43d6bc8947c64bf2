"""Quality bars of problem 1: GANs on the built-in faces.

    python benchmarks/gan.py [--profile cpu] [--steps 60] [--record runs/gan-cpu-seed0.json]

1. Throughput of the DCGAN training loop (``helpers.methods.gan.train``) against a plain PyTorch
   loop of the same architecture and batch size, measured in one run, in alternating rounds;
   printed as images per second and their ratio.
2. From a record of the notebook (``--record``; without it the notebook is run in ``--profile``):
   each method's training seconds against 10 minutes, and its FID (or stand-in FD) at the first
   check and at the end.
"""
import argparse
import json
import os
import time

import torch
import torch.nn.functional as F

from helpers import run, runtime
from helpers.data.faces import load_faces
from helpers.methods import gan
from helpers.models.gan import build

# the benchmark's figures go beside its runs: figures/ keeps those of `make report`
os.environ.setdefault("WORKBOOK_FIGURES", str(runtime.folder("runs") / "benchmark-figures"))

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--profile", default="cpu")
parser.add_argument("--steps", type=int, default=60, help="steps per timed round")
parser.add_argument("--rounds", type=int, default=6)
parser.add_argument("--record", default="", help="a gan record to read instead of running the notebook")
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

path = args.record or run.execute("gan", args.profile, 0)
record = json.loads(open(path).read())
print(f"record {path} (profile {record['profile']}, commit {record['commit']}); "
      f"distance: {record['fid_features']}")
for method in ("dcgan", "wgangp", "sagan"):
    m = record["metrics"]
    if f"fid_{method}" in m:
        seconds = m[f"seconds_train_{method}"]
        print(f"  {method}: trained in {seconds:.0f} s ({'met' if seconds <= 600 else 'NOT met'}: bar 600 s); "
              f"FD first check {m[f'fid_first_check_{method}']:.3f} -> final {m[f'fid_{method}']:.3f} "
              f"({'falls' if m[f'fid_{method}'] < m[f'fid_first_check_{method}'] else 'does NOT fall'})")
