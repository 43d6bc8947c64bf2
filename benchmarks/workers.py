"""What ``--workers auto`` gains on this machine's CPU: one single-threaded run per core side by side, against one
run on all cores.

    python benchmarks/workers.py [--profile cpu] [--loops dann:600 dcgan:150 diffusion:60]

For each training loop (``loops.LOOPS``, ``name:steps``) it times ``steps`` steps in one process on every core,
then the same in one single-threaded process per core started together (the slowest of them counts), each after
three warm-up steps, and prints the throughput ratio: steps per second of the side-by-side processes over the one
process. Above 1, the matrix ends sooner on single-threaded workers. Run it alone on the machine.
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

if len(sys.argv) > 1 and sys.argv[1] == "--child":  # one timed run: --child LOOP THREADS STEPS PROFILE
    loop, threads, steps, profile = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    os.environ["TQDM_DISABLE"] = "1"
    import torch
    torch.set_num_threads(threads)
    from loops import LOOPS

    from helpers import runtime
    train = LOOPS[loop](profile, torch.device("cpu"))
    train(runtime.FP32, 3)
    started = time.perf_counter()
    train(runtime.FP32, steps)
    print(time.perf_counter() - started)
    sys.exit()

import pandas as pd  # noqa: E402

from helpers import runtime  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--profile", default="cpu")
parser.add_argument("--loops", nargs="+", default=["dann:600", "dcgan:150", "diffusion:60"], metavar="NAME:STEPS")
args = parser.parse_args()
cores = runtime.cores()
environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}


def timed(loop: str, steps: int, threads: int, processes: int) -> list[float]:
    """Seconds of ``steps`` steps of each of ``processes`` runs of ``loop`` started together."""
    command = [sys.executable, __file__, "--child", loop, str(threads), str(steps), args.profile]
    children = [subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, text=True)
                for _ in range(processes)]
    outputs = [child.communicate()[0] for child in children]
    if any(child.returncode for child in children):
        raise SystemExit(f"a timed run of {loop} failed: {outputs}")
    return [float(output.split()[-1]) for output in outputs]


rows = []
for item in args.loops:
    loop, steps = item.split(":")
    one, = timed(loop, int(steps), cores, 1)
    side_by_side = timed(loop, int(steps), 1, cores)
    rows.append({"loop": loop, "steps": int(steps), f"one process, {cores} threads (s)": one,
                 f"{cores} single-threaded processes (s)": ", ".join(f"{s:.1f}" for s in side_by_side),
                 "throughput ratio": cores * one / max(side_by_side)})
    print(rows[-1], flush=True)
print(f"\n## {cores} single-threaded processes side by side against one on {cores} threads ({args.profile} profile)\n")
print(pd.DataFrame(rows).set_index("loop").round(2).to_markdown())
