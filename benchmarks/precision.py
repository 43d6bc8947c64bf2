"""Speed of every training loop in float32 and in the reduced precision that auto takes (bf16 where auto stays in
float32, to show why), against the machine's limit, and what channels-last storage of images and weights (the
``channels_last`` setting) changes in each.

    python benchmarks/precision.py [--profile cpu] [--rounds 5] [--steps 10] [--loops dcgan acgan ...]

Each loop is the workbook's own training function, at the profile's sizes, on the built-in data. The two
precisions, each with and without channels_last, are timed side by side in one run, alternating, ``--rounds``
times ``--steps`` steps each after one warm-up call, and the median step time is reported: the ratio holds on a
shared machine even when the absolute times do not. torch's flop counter gives the FLOPs of one step; the
machine's limit is a 2048² matrix product in the same precision, measured in the same run. Run it alone: two
torch jobs on 2 cores slow each other.
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TQDM_DISABLE", "1")

import pandas as pd  # noqa: E402
import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from loops import LOOPS  # noqa: E402

from helpers import runtime  # noqa: E402

BARS = {"dcgan": 1.5, "wgangp": 1.5, "sagan": 1.5, "acgan": 1.5, "diffusion": 1.3, "dann": 1.3, "vae": 1.3}

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--profile", default="cpu")
parser.add_argument("--rounds", type=int, default=5)
parser.add_argument("--steps", type=int, default=10)
parser.add_argument("--loops", nargs="+", default=list(BARS), choices=list(BARS))
args = parser.parse_args()

device = runtime.device()
auto = runtime.precision("auto", device)
fp32 = runtime.precision("fp32", device)
# what fp32 is timed against: the reduced precision auto takes, or bf16 where auto stays in fp32, to show why
low = auto if auto.name != "fp32" else runtime.precision("bf16", device)


class TotalsOnly:
    """A stand-in for FlopCounterMode's module tracker, whose hooks autograd.grad (the gradient penalties)
    refuses: every FLOP is counted under one name."""
    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def seconds(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def matmul_gflops(precision: runtime.Precision, n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    with precision.autocast():
        a @ b
        return 2 * n ** 3 * repeats / seconds(lambda: [a @ b for _ in range(repeats)]) / 1e9


# fp32 and the reduced precision, each with contiguous and with channels-last images and weights; each its own
# networks, since the layout changes them in place
variants = {"fp32": fp32, "low": low, "fp32 channels_last": runtime.precision("fp32", device, channels_last=True),
            "low channels_last": runtime.precision(low.name, device, channels_last=True)}
rows = []
for name in args.loops:
    trains = {variant: LOOPS[name](args.profile, device) for variant in variants}
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = TotalsOnly()
    with counter:
        trains["fp32"](fp32, 2)
    flops = counter.get_total_flops() / 2
    for variant, precision in variants.items():
        trains[variant](precision, 2)  # warm-up: the first calls of a precision pick their kernels
    times = {variant: [] for variant in variants}
    for _ in range(args.rounds):
        for variant, precision in variants.items():  # alternating, so that all see the same machine
            times[variant].append(seconds(lambda: trains[variant](precision, args.steps)) / args.steps)
    step = {variant: statistics.median(t) for variant, t in times.items()}
    ratio = step["fp32"] / step["low"]
    verdict = ("met" if ratio >= BARS[name] else "NOT met") if low is auto else "auto takes fp32 here"
    rows.append({"loop": name, "GFLOP per step": flops / 1e9, "fp32 ms": 1e3 * step["fp32"],
                 f"{low.name} ms": 1e3 * step["low"], f"fp32 / {low.name}": ratio,
                 "fp32 GFLOP/s": flops / step["fp32"] / 1e9, f"{low.name} GFLOP/s": flops / step["low"] / 1e9,
                 "bar": BARS[name], "met": verdict,
                 "fp32 / fp32 channels_last": step["fp32"] / step["fp32 channels_last"],
                 f"{low.name} / {low.name} channels_last": step["low"] / step["low channels_last"]})
    print(rows[-1], flush=True)

print(f"\n## Step time, fp32 against {low.name} (auto: {auto.name} on {device}), and each with channels_last against "
      f"without ({args.rounds} rounds of {args.steps} steps, median; a ratio above 1: the second is faster)\n")
print(pd.DataFrame(rows).set_index("loop").round(2).to_markdown())
print(f"\nthe machine's limit, a 2048² matmul: fp32 {matmul_gflops(fp32):.0f} GFLOP/s, "
      f"{low.name} {matmul_gflops(low):.0f} GFLOP/s")
print(f"profile {args.profile}, device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
      f"AVX-512 BF16: {torch.cpu._is_avx512_bf16_supported()}, AMX: {torch.cpu._is_amx_tile_supported()}, "
      f"auto: {auto.name}")
