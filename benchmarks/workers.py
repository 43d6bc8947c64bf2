"""What ``--workers auto`` gains on this machine's CPU: one single-threaded run per core side by side, against one
run on all cores; and what Dask's own bookkeeping costs beside them.

    python benchmarks/workers.py [--profile cpu] [--loops dann:600 dcgan:150 diffusion:60] [--idle 30]
    python benchmarks/workers.py --loops     # the bookkeeping alone

For each training loop (``loops.LOOPS``, ``name:steps``) it times ``steps`` steps in one process on every core,
then the same in one single-threaded process per core started together (the slowest of them counts), each after
three warm-up steps, and prints the throughput ratio: steps per second of the side-by-side processes over the one
process. Above 1, the matrix ends sooner on single-threaded workers. Then it starts the local cluster of
``--workers auto`` twice, with Dask's defaults and with ``distributed.QUIET``, gives each worker a task that sleeps
``--idle`` seconds and prints the CPU seconds a minute that the cluster's processes spent meanwhile: CPU taken from
the notebooks' kernels. Run it alone on the machine.
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pandas as pd
import psutil

from helpers import distributed, runtime


def child(loop: str, threads: int, steps: int, profile: str):
    """One timed run: prints the seconds of ``steps`` steps of ``loop`` on ``threads`` threads."""
    os.environ["TQDM_DISABLE"] = "1"
    import torch
    torch.set_num_threads(threads)
    from loops import LOOPS
    train = LOOPS[loop](profile, torch.device("cpu"))
    train(runtime.FP32, 3)
    started = time.perf_counter()
    train(runtime.FP32, steps)
    print(time.perf_counter() - started)


def timed(loop: str, steps: int, threads: int, processes: int, profile: str) -> list[float]:
    """Seconds of ``steps`` steps of each of ``processes`` runs of ``loop`` started together."""
    command = [sys.executable, __file__, "--child", loop, str(threads), str(steps), profile]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    children = [subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, text=True)
                for _ in range(processes)]
    outputs = [child.communicate()[0] for child in children]
    if any(child.returncode for child in children):
        raise SystemExit(f"a timed run of {loop} failed: {outputs}")
    return [float(output.split()[-1]) for output in outputs]


def throughput(loops: list[str], cores: int, profile: str) -> pd.DataFrame:
    """Per loop, ``name:steps``: one process on ``cores`` threads against ``cores`` single-threaded ones."""
    rows = []
    for item in loops:
        loop, steps = item.split(":")
        one, = timed(loop, int(steps), cores, 1, profile)
        side_by_side = timed(loop, int(steps), 1, cores, profile)
        rows.append({"loop": loop, "steps": int(steps), f"one process, {cores} threads (s)": one,
                     f"{cores} single-threaded processes (s)": ", ".join(f"{s:.1f}" for s in side_by_side),
                     "throughput ratio": cores * one / max(side_by_side)})
        print(rows[-1], flush=True)
    return pd.DataFrame(rows).set_index("loop").round(2)


def sleep(seconds: float):
    time.sleep(seconds)


def bookkeeping(cores: int, seconds: float) -> pd.DataFrame:
    """CPU seconds a minute spent by the processes of ``distributed.connect``'s local cluster (launcher, scheduler,
    nannies, workers) while each worker runs a task that sleeps: with Dask's defaults, then with ``QUIET``."""
    rows = []
    for settings, quiet in (("Dask's defaults", {}), ("distributed.QUIET", distributed.QUIET)):
        with mock.patch.object(distributed, "QUIET", quiet), distributed.connect("auto", jobs=cores) as client:
            client.gather([client.submit(sleep, 0, pure=False) for _ in range(cores)])  # every worker up
            processes = [psutil.Process(), *psutil.Process().children(recursive=True)]
            before = [sum(process.cpu_times()[:2]) for process in processes]
            client.gather([client.submit(sleep, seconds, pure=False) for _ in range(cores)])
            spent = sum(sum(process.cpu_times()[:2]) - b for process, b in zip(processes, before))
            workers = len(client.scheduler_info()["workers"])
        rows.append({"settings": settings, "workers": workers, "CPU s a minute": 60 * spent / seconds})
        print(rows[-1], flush=True)
    return pd.DataFrame(rows).set_index("settings").round(2)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--loops", nargs="*", default=["dann:600", "dcgan:150", "diffusion:60"],
                        metavar="NAME:STEPS")
    parser.add_argument("--idle", type=float, default=30, help="seconds the workers' tasks sleep")
    args = parser.parse_args()
    cores = runtime.cores()
    speed = throughput(args.loops, cores, args.profile) if args.loops else None
    cost = bookkeeping(cores, args.idle)
    if speed is not None:
        print(f"\n## {cores} single-threaded processes side by side against one on {cores} threads "
              f"({args.profile} profile)\n")
        print(speed.to_markdown())
    print(f"\n## Dask's bookkeeping on the local cluster, its {cores} workers each running a task that sleeps\n")
    print(cost.to_markdown())


if __name__ == "__main__":  # the local cluster's workers start by importing this file again
    if sys.argv[1:2] == ["--child"]:  # --child LOOP THREADS STEPS PROFILE
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        main()
