"""The matrix on Dask distributed: each run on a worker, its files back where the matrix was launched.

A worker executes a run with ``run.execute`` into temporary runs and figures folders and returns every file the run
wrote there as bytes; the launching process writes them under its own runs/ and figures/, with the record's
artifacts pointing there. Workers thus share no disk with it; they need the repository, its environment and the
data. A VAE run is given the files of the GAN runs of its seed listed before it, whose images it compares with.

    with connect(workers=2) as client:                      # a LocalCluster here, closed after
        run.matrix("smoke", [0], runner=runner(client))
    with connect(scheduler="tcp://HOST:8786") as client:    # a cluster already running
        ...
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import dask
import torch
from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker

from helpers import run, runtime

READS = {"vae": "gan"}  # a notebook -> the notebook whose exported images it reads from the runs folder
TOPIC = "workbook-runs"  # the events a worker logs as a run starts and ends
# Dask's own bookkeeping, off or slowed down for a local cluster: its profiler samples each worker's task thread
# every 10 ms and every server ticks every 20 ms. Two single-threaded workers each running a task spent 8.5 CPU s
# a minute on it with Dask's defaults, 1.4 with these (benchmarks/workers.py), CPU the notebooks' kernels need.
QUIET = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s",
         "distributed.admin.system-monitor.interval": "5s", "distributed.worker.memory.monitor-interval": "1s"}


class ClusterError(ValueError):
    """A local cluster this machine cannot make, or a scheduler that does not answer."""


def workers_for(setting: int | str, gpus: int, cores: int, jobs: int) -> int:
    """How many workers ``--workers`` asks for: a number as it is; ``"auto"``, one per GPU with CUDA, else one
    single-threaded worker per core (on a CPU two single-threaded runs side by side do 1.2-1.6 times the work of
    one on two threads: benchmarks/workers.py), and no more than the ``jobs`` to run."""
    return min(gpus or cores, jobs) if setting == "auto" else int(setting)


def worker_envs(workers: int, gpus: int, cores: int) -> list[dict[str, str]]:
    """The environment of each worker of a local cluster: with ``gpus``, one worker per GPU, pinned to it through
    CUDA_VISIBLE_DEVICES and given its share of the ``cores``; without, ``workers`` single-threaded CPU workers."""
    if gpus and workers > gpus:
        raise ClusterError(f"--workers {workers}: this machine has {gpus} GPUs, and a worker takes one")
    if not gpus:
        return [{"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"} for _ in range(workers)]
    threads = str(max(1, cores // workers))
    return [{"CUDA_VISIBLE_DEVICES": str(gpu), "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
            for gpu in range(workers)]


class Environment(WorkerPlugin):
    """Sets each local worker's environment, ``envs[worker.name]``, before it runs anything; the notebooks'
    kernels it starts inherit it."""

    def __init__(self, envs: list[dict[str, str]]):
        self.envs = envs

    def setup(self, worker):
        os.environ.update(self.envs[worker.name])


@contextmanager
def connect(workers: int | str = 0, scheduler: str = "", jobs: int = 1):
    """A client of the cluster at ``scheduler``, else of a ``LocalCluster`` of ``workers`` workers for ``jobs`` runs
    (``workers_for``, ``worker_envs``; one task at a time each; ``QUIET``) started here and closed after."""
    if scheduler:
        try:
            client = Client(scheduler, timeout=30)
        except OSError as error:
            raise ClusterError(f"no Dask scheduler answers at {scheduler}: {error}") from error
        with client:
            yield client
        return
    cores, gpus = runtime.cores(), torch.cuda.device_count()
    envs = worker_envs(workers_for(workers, gpus, cores, jobs), gpus, cores)
    with dask.config.set(QUIET), LocalCluster(n_workers=len(envs), threads_per_worker=1, processes=True,
                                              dashboard_address=None, resources={"GPU": 1} if gpus else None
                                              ) as cluster, Client(cluster) as client:
        client.register_plugin(Environment(envs))
        yield client


def runner(client: Client):
    """``run.matrix``'s runner on ``client``'s workers: the jobs submitted in their order, no more at a time than the
    workers have threads (with one GPU each where the workers declare GPUs), so that each starts on the first worker
    to free up; progress printed as runs start and end, each run's files written here as it ends. (Submitted all at
    once with priorities in that order, Dask started a later run before an earlier one.)"""
    def run_all(jobs: list[tuple[str, dict, int]], profile: str):
        workers = client.scheduler_info()["workers"].values()
        resources = {"GPU": 1} if any("GPU" in worker.get("resources", {}) for worker in workers) else None
        progress = Progress(jobs)
        client.subscribe_topic(TOPIC, progress.event)
        futures = {}

        def submit(index: int):
            name, parameters, seed = jobs[index]
            inputs = [future for future, other in futures.items()
                      if jobs[other][0] == READS.get(name) and jobs[other][2] == seed]
            future = client.submit(run_on_worker, index, name, profile, seed, parameters, inputs, pure=False,
                                   resources=resources)
            futures[future] = index
            return future

        def slots() -> int:  # the workers' threads now (a cluster may grow); at least one
            return max(1, sum(worker["nthreads"] for worker in client.scheduler_info()["workers"].values()))

        running = as_completed()

        def top_up():  # the next jobs in order, while the workers have a thread free
            while len(futures) < len(jobs) and running.count() < slots():
                running.add(submit(len(futures)))

        top_up()
        try:
            for future in running:
                top_up()
                index = futures[future]
                try:
                    result = future.result()
                except Exception as error:  # the worker, not the notebook, failed
                    record, seconds = None, float("nan")
                    failure = f"{run.describe(*jobs[index])} failed on its worker ({type(error).__name__}: {error})"
                else:
                    unpack(result)
                    record, failure, seconds = place(result["record"]), "", result["seconds"]
                    if result["failure"]:
                        record, failure = None, str(run.RunFailed(result["failure"], place(result["executed"])))
                progress.update(index, "failed" if failure else "done")
                if failure:
                    print(f"FAILED: {failure}", file=sys.stderr, flush=True)
                yield index, record, failure, seconds
        finally:
            client.unsubscribe_topic(TOPIC)
    return run_all


class Progress:
    """Which runs are done, running and left, printed as each starts and ends, as its worker tells (events on
    ``TOPIC``) or, if the client learns it first, as the client does."""

    def __init__(self, jobs: list[tuple[str, dict, int]]):
        self.jobs, self.running, self.done, self.lock = jobs, set(), set(), threading.Lock()

    def event(self, event: tuple[float, dict]):
        self.update(event[1]["index"], event[1]["state"], event[1]["worker"])

    def update(self, index: int, state: str, where: str = ""):
        """``state``: 'started', 'done' or 'failed'; ``where``: the worker, if known."""
        with self.lock:
            if index in self.done or (state == "started" and index in self.running):
                return
            if state == "started":
                self.running.add(index)
            else:
                self.running.discard(index)
                self.done.add(index)
            left = len(self.jobs) - len(self.done) - len(self.running)
            print(f"[{len(self.done)} done, {len(self.running)} running, {left} left] {state} "
                  f"{run.describe(*self.jobs[index])}" + (f" on {where}" if where else ""), file=sys.stderr,
                  flush=True)


def kernel_environ(folder: str) -> dict[str, str | None]:
    """What a run's kernel on a worker inherits changed (None: unset): its runs and figures folders under
    ``folder``; no MALLOC_TRIM_THRESHOLD_, which Dask's nanny sets (65536) for its worker and which, inherited by a
    kernel, fixes glibc's mmap threshold so that every large tensor is mapped and unmapped: half the CPU time went
    to page faults."""
    return {"WORKBOOK_RUNS": f"{folder}/runs", "WORKBOOK_FIGURES": f"{folder}/figures", "MALLOC_TRIM_THRESHOLD_": None}


def run_on_worker(index: int, name: str, profile: str, seed: int, parameters: dict, inputs: list[dict]) -> dict:
    """``run.execute`` of job ``index`` in temporary runs and figures folders, after ``unpack`` there of the
    results of the runs it reads (``inputs``). Returns for ``unpack``: the run's files (path relative to the
    temporary folder: bytes), where its record and executed notebook are among them, the temporary folder (to
    relocate the record's artifacts); and the failure's reason or "", and the run's seconds."""
    worker = get_worker()
    worker.log_event(TOPIC, {"index": index, "state": "started", "worker": worker.address})
    with tempfile.TemporaryDirectory(prefix="workbook-run-") as folder, run.environ(**kernel_environ(folder)):
        given = {path for result in inputs for path in unpack(result)}
        record = run.record_path(name, profile, seed, parameters).relative_to(folder).as_posix()
        started = time.perf_counter()
        try:
            run.execute(name, profile, seed, progress_bar=False, **parameters)  # the runs' lines tell progress
            failure = ""
        except run.RunFailed as failed:
            failure = failed.reason
        seconds = time.perf_counter() - started
        worker.log_event(TOPIC, {"index": index, "state": "failed" if failure else "done", "worker": worker.address})
        files = {path.relative_to(folder).as_posix(): path.read_bytes()
                 for path in sorted(Path(folder).rglob("*")) if path.is_file() and path not in given}
    return {"files": files, "record": record, "executed": record.removesuffix(".json") + ".ipynb",
            "folder": folder, "failure": failure, "seconds": seconds}


def unpack(result: dict) -> list[Path]:
    """Write a ``run_on_worker`` result's files under this process's runs and figures folders (``place``), its
    record's artifacts pointing there, a record of an earlier run of the same parameters removed; return their
    paths."""
    place(result["record"]).unlink(missing_ok=True)
    written = []
    for relative, data in result["files"].items():
        if relative == result["record"]:
            data = relocate(data, result["folder"])
        path = place(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    return written


def place(relative: str) -> Path:
    """'runs/x.json' -> x.json in this process's runs folder; likewise 'figures/...'."""
    kind, _, rest = relative.partition("/")
    return runtime.folder(kind) / rest


def relocate(record: bytes, folder: str) -> bytes:
    """A record whose paths under ``folder``'s runs and figures folders (a worker's temporary ones: its artifacts,
    the notes that name them) are those of this process's folders."""
    text = record.decode()
    for kind in ("runs", "figures"):
        text = text.replace(f"{folder}/{kind}", str(runtime.folder(kind)))
    return text.encode()
