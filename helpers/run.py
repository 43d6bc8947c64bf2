"""Run the notebooks headlessly with papermill, one run per parameter set, and collect the tables.

    python -m helpers.run NAME [--profile P] [--seed N] [-p KEY VALUE ...]        one notebook
    python -m helpers.run [--profile P] [--seeds N ...]                           the default matrix
    python -m helpers.run [--seeds N ...] --workers N|auto | --scheduler ADDRESS  the matrix on Dask distributed
    python -m helpers.run --results-only [--profile P] [--seeds N ...]            the matrix's tables and page again

A run writes runs/<stem>.ipynb (the executed notebook) and runs/<stem>.json (its record); the
record's path is the last line printed. A failed run prints its failing cell's error and its executed notebook
and exits non-zero; in the matrix the other runs still go on, and the collected tables cover the runs that
succeeded. The matrix ends by writing RESULTS.md from its records and printing each run's seconds; --results-only
writes the tables and RESULTS.md from the matrix's records already in runs/, running nothing. With --workers or
--scheduler the matrix's runs go to Dask workers (``helpers.distributed``) and their files come back to runs/ and
figures/ here.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import papermill

from helpers import report, results_page, runtime

NOTEBOOKS = {"gan": "1_gan.ipynb", "conditional": "2_conditional.ipynb", "dann": "3_dann.ipynb",
             "uda": "4_uda.ipynb", "vae": "5_vae.ipynb"}
DANN_PAIRS = (("mnist", "mnistm"), ("synnum", "mnist"), ("mnistm", "optdigits"))
UDA_PAIRS = (*DANN_PAIRS, ("synnum", "mnistm"))  # synnum → mnistm: the built-in stand-in for SVHN → MNIST-M
UDA_METHODS = {  # problem 4's methods per pair in the matrix: DANN and ADDA everywhere; PixelDA and self-ensembling,
    # the slowest, on MNIST -> MNIST-M only (benchmarks/uda.py measures self-ensembling on all three bar pairs, 3 seeds)
    ("mnist", "mnistm"): "dann,adda,pixelda,selfensemble"}
UDA_FEWEST_METHODS = "dann,adda"
GAN_METHODS = "dcgan,wgangp,sagan"  # the matrix's GANs: the assignment's three; the notebook's StyleGAN2 and face ACGAN
# (about 8 of its 24 minutes on 2 cores) run with -p methods; its table says "not run"
TABLES = {"gan": report.gan_table, "dann": report.dann_table,  # a notebook's records -> its collected table
          "uda": report.uda_table, "vae": report.vae_table, "conditional": report.conditional_table}


class RunFailed(RuntimeError):
    """A run whose notebook raised or wrote no record: ``reason`` says which, ``executed`` is its executed notebook."""

    def __init__(self, reason: str, executed: Path | None):
        super().__init__(reason + (f"\nsee the executed notebook {executed}" if executed else ""))
        self.reason = reason


def notebook_path(name: str) -> Path:
    if name not in NOTEBOOKS:
        raise SystemExit(f"unknown notebook {name!r}; expected one of {sorted(NOTEBOOKS)}")
    return runtime.ROOT / "notebooks" / NOTEBOOKS[name]


def check(name: str, parameters: dict) -> Path:
    """The path of notebook ``name``, refused (SystemExit) if there is no such notebook or it lacks a parameter."""
    path = notebook_path(name)
    known = papermill.inspect_notebook(str(path))
    unknown = set(parameters) - set(known)
    if unknown:
        raise SystemExit(f"{path.name} has no parameter {sorted(unknown)}; its parameters: {sorted(known)}")
    return path


def execute(name: str, profile: str = "", seed: int = 0, *, progress_bar: bool = True, **parameters) -> Path:
    """Execute notebook ``name`` with ``parameters``, with papermill's progress bar or not; return the path of its
    JSON record."""
    path = check(name, parameters)
    profile = runtime.resolve_profile(profile)
    record = record_path(name, profile, seed, parameters)
    executed = record.with_suffix(".ipynb")
    record.unlink(missing_ok=True)
    with environ(WORKBOOK_RECORD=str(record)):  # the kernel inherits it; report.Run writes there
        try:
            papermill.execute_notebook(str(path), str(executed), cwd=str(path.parent), kernel_name="python3",
                                       parameters={**parameters, "profile": profile, "seed": seed},
                                       progress_bar=progress_bar)
        except papermill.PapermillExecutionError as error:  # a cell raised: its error, as the notebook shows it
            raise RunFailed(f"{name} {parameters} failed in cell [{error.exec_count}] with {error.ename}: "
                            f"{error.evalue}", executed) from error
        except Exception as error:
            raise RunFailed(f"{name} {parameters} failed ({type(error).__name__}: {error})", executed) from error
    if not record.exists():
        raise RunFailed(f"{name} {parameters} ran but wrote no record", executed)
    return record


@contextmanager
def environ(**values: str | None):
    """Set environment variables (None: unset them) for the block (the kernels it starts inherit them), then
    restore them."""
    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def record_path(name: str, profile: str, seed: int, parameters: dict) -> Path:
    """Where a run of notebook ``name`` writes its record: runs/<run name>.json, named by ``report.stem``."""
    return runtime.folder("runs") / f"{report.stem(name, profile, seed, parameters)}.json"


def default_runs() -> list[tuple[str, dict]]:
    """The matrix, the longest runs first (so that workers end together): every notebook with its default
    parameters but the GANs (``GAN_METHODS``), problem 4 once per pair of ``UDA_PAIRS`` with its ``UDA_METHODS``,
    DANN once per domain pair; the VAE last, after the GAN whose images it compares with."""
    return ([("conditional", {}), ("gan", {"methods": GAN_METHODS})]
            + [("uda", {"methods": UDA_METHODS.get((source, target), UDA_FEWEST_METHODS), "source": source,
                        "target": target}) for source, target in UDA_PAIRS]
            + [("dann", {"source": source, "target": target}) for source, target in DANN_PAIRS] + [("vae", {})])


def run_here(jobs: list[tuple[str, dict, int]], profile: str):
    """``matrix``'s runner in this process: one job after the other, each printed as it starts."""
    for index, job in enumerate(jobs):
        print(f"[{index + 1}/{len(jobs)}] {describe(*job)}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            record, failure = execute(job[0], profile, job[2], **job[1]), ""
        except RunFailed as failed:
            record, failure = None, str(failed)
            print(f"FAILED: {failure}", file=sys.stderr)
        yield index, record, failure, time.perf_counter() - started


def matrix(profile: str, seeds: list[int], runner=run_here) -> int:
    """Every run of ``default_runs`` for every seed, then ``collect`` of their records and each run's seconds;
    1 if any run failed. ``runner(jobs, profile)`` runs the jobs, (name, parameters, seed) each, and yields
    (job's index, record path or None, failure message or "", seconds) as each ends. A run list with an unknown
    notebook or parameter is refused before anything runs."""
    profile = runtime.resolve_profile(profile)
    for name, parameters in default_runs():
        check(name, parameters)
    jobs = [(name, parameters, seed) for name, parameters in default_runs() for seed in seeds]
    started = time.perf_counter()
    outcomes = sorted(runner(jobs, profile), key=lambda outcome: outcome[0])
    records, missing, failures = {}, {}, []
    for index, record, failure, _ in outcomes:
        name, parameters, seed = jobs[index]
        if record:
            records.setdefault(name, []).append(record)
        else:
            failures.append(failure)
            missing.setdefault(name, []).append(record_path(name, profile, seed, parameters))
    collect(records, missing)
    print("seconds per run:", file=sys.stderr)
    for index, record, _, seconds in outcomes:
        print(f"{seconds:9.1f}  {describe(*jobs[index])}{'' if record else '  FAILED'}", file=sys.stderr)
    print(f"{time.perf_counter() - started:9.1f}  in all", file=sys.stderr)
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def describe(name: str, parameters: dict, seed: int) -> str:
    return f"{name} {parameters} seed {seed}"


def results_only(profile: str, seeds: list[int]) -> int:
    """``collect`` of the records the matrix's runs left in runs/, running nothing."""
    profile = runtime.resolve_profile(profile)
    records, missing = {}, {}
    for name, parameters in default_runs():
        for seed in seeds:
            path = record_path(name, profile, seed, parameters)
            (records if path.exists() else missing).setdefault(name, []).append(path)
    if not records:
        print(f"no record of the matrix's runs in the {profile} profile with seeds {seeds} under "
              f"{runtime.folder('runs')}; nothing written", file=sys.stderr)
        return 1
    collect(records, missing)
    return 0


def collect(records: dict[str, list[Path]], missing: dict[str, list[Path]]) -> Path:
    """Each notebook's table from its ``records`` into figures/, then RESULTS.md from the same records (with the
    ``missing`` ones named); returns the page's path."""
    runs, tables = {}, {}
    for name, paths in records.items():
        runs[name] = list(zip(paths, report.load_records(paths)))
        tables[name] = TABLES[name]([record for _, record in runs[name]])
        written = report.write_table(tables[name], f"{name}_table")
        print(tables[name].to_markdown(), f"\nwritten to {written['csv']} and {written['md']}", sep="\n")
    page = results_page.write(runs, tables, missing)
    print(f"results page written to {page}")
    return page


def parse_value(text: str):
    """'3' -> 3, '0.5' -> 0.5, 'True' / 'false' -> a bool, anything else stays a string (as papermill's -p does)."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def workers_option(text: str) -> int | str:
    """``--workers``: 'auto' or a whole number."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number of workers or 'auto'") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", help=f"one notebook: {', '.join(NOTEBOOKS)}; none: the default matrix")
    parser.add_argument("--profile", default="", choices=["", *runtime.PROFILES], metavar="PROFILE",
                        help="smoke, cpu or gpu (default: $WORKBOOK_PROFILE, else gpu with CUDA, else cpu)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="+", help="the matrix's seeds (default: --seed)")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="a notebook parameter, e.g. -p source svhn -p target mnistm")
    parser.add_argument("--results-only", action="store_true",
                        help="write the matrix's tables and RESULTS.md from its records in runs/, running nothing")
    parser.add_argument("--workers", type=workers_option, metavar="N|auto",
                        help="run the matrix on a local Dask cluster of N workers (one per GPU with CUDA); auto: "
                             "one per GPU, else one single-threaded worker per CPU core")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the matrix on the Dask cluster of this scheduler, e.g. tcp://HOST:8786")
    args = parser.parse_args(argv)
    dask = args.workers is not None or args.scheduler
    if args.workers is not None and args.scheduler:
        parser.error("--workers starts a local cluster, --scheduler uses one already running: give one of them")
    if isinstance(args.workers, int) and args.workers < 1:
        parser.error(f"--workers {args.workers}: the local cluster needs 1 worker or more")
    if dask and (args.name or args.results_only):
        parser.error("--workers and --scheduler go with the matrix, without a notebook NAME or --results-only")
    if args.name is None:
        if args.p:
            parser.error("-p needs a notebook NAME")
        seeds = args.seeds or [args.seed]
        if args.results_only:
            return results_only(args.profile, seeds)
        if not dask:
            return matrix(args.profile, seeds)
        from helpers import distributed  # dask is imported only for a matrix on it
        jobs = len(default_runs()) * len(seeds)
        try:
            with distributed.connect(args.workers or 0, args.scheduler or "", jobs) as client:
                return matrix(args.profile, seeds, runner=distributed.runner(client))
        except distributed.ClusterError as error:
            parser.error(str(error))
    if args.results_only:
        parser.error("--results-only goes with the matrix, not with a notebook NAME")
    try:
        record = execute(args.name, args.profile, args.seed, **{k: parse_value(v) for k, v in args.p})
    except RunFailed as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    print(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
