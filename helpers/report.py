"""Run records and the report's tables, built from records (never typed by hand).

Every notebook run writes one JSON record: notebook, parameters, profile, seed, git commit, library
versions, seconds, timings, metrics (a flat mapping of names to numbers) and artifacts (names to
paths of the figures and tables it wrote). ``python -m helpers.run`` tells a notebook where to write
its record through $WORKBOOK_RECORD; an interactive run writes under runs/interactive/.
"""
from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pandas as pd

from helpers import figures, metrics, runtime
from helpers.data.digits import DOMAIN_NAMES

LIBRARIES = ("torch", "torchvision", "numpy", "scikit-learn", "scikit-image", "pandas", "matplotlib",
             "seaborn", "torchmetrics", "papermill")


def commit() -> str:
    """The repository's HEAD commit, with '+dirty' when the work tree has changes; 'unknown' outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=runtime.ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    try:
        return git("rev-parse", "HEAD") + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


class Run:
    """The record of one notebook run; ``save()`` writes it as JSON and returns its path."""

    def __init__(self, notebook: str, **parameters):
        self.started = time.perf_counter()
        self.path = Path(os.environ.get("WORKBOOK_RECORD") or runtime.folder("runs") / "interactive" /
                         f"{notebook}-{datetime.now():%Y%m%d-%H%M%S}.json")
        self.record = {
            "notebook": notebook, "parameters": parameters,
            "profile": parameters.get("profile"), "seed": parameters.get("seed"),
            "commit": commit(), "versions": versions(), "device": str(runtime.device()),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": None, "metrics": {}, "artifacts": {},
        }

    def metric(self, name: str, value: float) -> float:
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"metric {name!r} is {value}; a record holds finite numbers only")
        self.record["metrics"][name] = value
        return value

    @contextmanager
    def timer(self, name: str):
        """Time the block into the metric ``seconds_<name>``."""
        start = time.perf_counter()
        yield
        self.metric(f"seconds_{name}", time.perf_counter() - start)

    def artifact(self, name: str, path: Path | str) -> Path:
        self.record["artifacts"][name] = str(path)
        return Path(path)

    def figure(self, fig, name: str) -> Path:
        """Save ``fig`` as figures/<name>.png and list it among the artifacts."""
        return self.artifact(name, figures.save(fig, name))

    def table(self, frame: pd.DataFrame, name: str) -> pd.DataFrame:
        """Write ``frame`` as figures/<name>.csv and .md and list both among the artifacts."""
        for suffix, path in write_table(frame, name).items():
            self.artifact(f"{name}_{suffix}", path)
        return frame

    def save(self) -> Path:
        self.record["seconds"] = time.perf_counter() - self.started
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.record, indent=2) + "\n")
        return self.path


def write_table(frame: pd.DataFrame, name: str) -> dict[str, Path]:
    folder = runtime.folder("figures")
    paths = {"csv": folder / f"{name}.csv", "md": folder / f"{name}.md"}
    frame.to_csv(paths["csv"])
    paths["md"].write_text(frame.to_markdown() + "\n")
    return paths


def load_records(paths) -> list[dict]:
    """The JSON records at ``paths``, with an error naming any file that is not a record."""
    records = []
    for path in paths:
        try:
            record = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path} is not a readable run record: {error}") from error
        missing = {"notebook", "parameters", "metrics"} - set(record)
        if missing:
            raise ValueError(f"{path} is not a run record: it lacks {sorted(missing)}")
        records.append(record)
    return records


DANN_ROWS = {"source_only": "Trained on source", "dann": "Adaptation (DANN)", "target_only": "Trained on target"}


def dann_table(records: list[dict]) -> pd.DataFrame:
    """The assignment's table: accuracy on the target test split, one column per domain pair.

    With several records for a pair (seeds) a cell reads 'mean ± std (n)'.
    """
    by_pair: dict[str, list[dict]] = {}
    for record in records:
        source, target = record["parameters"]["source"], record["parameters"]["target"]
        column = f"{DOMAIN_NAMES.get(source, source)} → {DOMAIN_NAMES.get(target, target)}"
        by_pair.setdefault(column, []).append(record["metrics"])
    table = pd.DataFrame({column: {row: mean_std([m[f"acc_{key}"] for m in metrics])
                                   for key, row in DANN_ROWS.items()}
                          for column, metrics in by_pair.items()})
    table.index.name = "accuracy on target test"
    return table


def mean_std(values: list[float]) -> str:
    series = pd.Series(values, dtype=float)
    if len(series) == 1:
        return f"{series.iloc[0]:.4f}"
    return f"{series.mean():.4f} ± {series.std():.4f} ({len(series)})"


GAN_NAMES = {"dcgan": "DCGAN", "wgangp": "WGAN-GP", "sagan": "SAGAN"}


def gan_table(records: list[dict]) -> pd.DataFrame:
    """Method × (FID, IS, training seconds) from GAN records; 'mean ± std (n)' over several seeds.

    The FID column is named by the features it was computed on; records on different features are
    refused, since their numbers cannot be compared.
    """
    kinds = {record["fid_features"] for record in records}
    if len(kinds) != 1:
        raise ValueError(f"the records measured FID on {sorted(kinds)}; a table compares one kind of features")
    fid = metrics.fid_label(kinds.pop())
    rows = {}
    for method, name in GAN_NAMES.items():
        runs = [record["metrics"] for record in records if f"fid_{method}" in record["metrics"]]
        if runs:
            scores = [m[f"is_{method}"] for m in runs if f"is_{method}" in m]
            rows[name] = {fid: mean_std([m[f"fid_{method}"] for m in runs]),
                          "IS": mean_std(scores) if scores else "needs Inception weights",
                          "training (s)": mean_std([m[f"seconds_train_{method}"] for m in runs])}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "method"
    return table
