"""Run records and the report's tables, built from records (never typed by hand).

Every notebook run writes one JSON record: notebook, parameters, profile, seed, git commit, library
versions, device and CPU threads (a run's numbers, not just its speed, depend on them), seconds, timings, metrics
(a flat mapping of names to numbers) and artifacts (names to paths of the figures, tables, images and checkpoints
it wrote). ``python -m helpers.run`` tells a notebook where to write its record through $WORKBOOK_RECORD; an
interactive run writes under runs/interactive/.
A run's name (``stem``) also names its own folders of images and checkpoints (``Run.outputs``).
"""
from __future__ import annotations

import json
import math
import os
import platform
import re
import subprocess
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pandas as pd
import torch

from helpers import figures, metrics, runtime
from helpers.data.digits import DOMAIN_NAMES
from helpers.methods import gan

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


OUTPUTS = ("images", "checkpoints")  # the kinds of files a run keeps in folders of its own


def stem(notebook: str, profile: str, seed: int, parameters: dict) -> str:
    """A run's name, <notebook>-<parameter values>-<profile>-seed<N> made safe for a file name. ``resume`` is
    left out: a resumed run keeps the name, and so the record and folders, of the run it goes on with."""
    words = [notebook, *(str(value) for key, value in parameters.items() if key != "resume"), profile, f"seed{seed}"]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(words))


class Run:
    """The record of one notebook run; ``save()`` writes it as JSON and returns its path.

    Its name is that of its record under the runner ($WORKBOOK_RECORD), else ``stem`` of its parameters."""

    def __init__(self, notebook: str, **parameters):
        self.started = time.perf_counter()
        given = os.environ.get("WORKBOOK_RECORD")
        self.path = Path(given or runtime.folder("runs") / "interactive" /
                         f"{notebook}-{datetime.now():%Y%m%d-%H%M%S}.json")
        others = {key: value for key, value in parameters.items() if key not in ("profile", "seed")}
        self.name = Path(given).stem if given else stem(notebook, parameters.get("profile"), parameters.get("seed"),
                                                        others)
        self.record = {
            "notebook": notebook, "parameters": parameters,
            "profile": parameters.get("profile"), "seed": parameters.get("seed"),
            "commit": commit(), "versions": versions(), "device": str(runtime.device()),
            "threads": torch.get_num_threads(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": None, "metrics": {}, "artifacts": {},
        }

    def metric(self, name: str, value: float) -> float:
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"metric {name!r} is {value}; a record holds finite numbers only")
        self.record["metrics"][name] = value
        return value

    def note(self, name: str, value: str) -> str:
        """Record a fact about how the run ran beside its parameters (e.g. ``precision``: the one that ran)."""
        if name in self.record:
            raise ValueError(f"the record already has {name!r}; a note takes a name of its own")
        self.record[name] = value
        return value

    @contextmanager
    def timer(self, name: str):
        """Time the block into the metric ``seconds_<name>``."""
        start = time.perf_counter()
        yield
        self.metric(f"seconds_{name}", time.perf_counter() - start)

    def outputs(self, kind: str) -> Path:
        """runs/<kind>/<run name>/: this run's own folder of ``kind`` (``images`` or ``checkpoints``)."""
        if kind not in OUTPUTS:
            raise ValueError(f"a run keeps no folder of {kind!r}; expected one of {OUTPUTS}")
        return runtime.folder("runs") / kind / self.name

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
UDA_ROWS = {"source_only": "Trained on source", "dann": "DANN", "adda": "ADDA", "pixelda": "PixelDA",
            "selfensemble": "Self-ensembling", "target_only": "Trained on target"}


def dann_table(records: list[dict]) -> pd.DataFrame:
    """The assignment's table: accuracy on the target test split, one column per domain pair.

    With several records for a pair (seeds) a cell reads 'mean ± std (n)'. Records of several DANN recipes
    get a column per pair and recipe.
    """
    return accuracy_table(records, DANN_ROWS, split_by="recipe")


def uda_table(records: list[dict]) -> pd.DataFrame:
    """Problem 4's table: every method's accuracy on the target test split, one column per domain pair;
    'not run' where no record of the pair has the method."""
    return accuracy_table(records, UDA_ROWS)


def accuracy_table(records: list[dict], rows: dict[str, str], split_by: str = "") -> pd.DataFrame:
    """Rows ``rows`` (metric acc_<key> -> row name) by domain pair; 'mean ± std (n)' over several records.
    ``split_by``: a parameter whose values, when the records differ in it, get a column each."""
    by_pair: dict[str, list[dict]] = {}
    split = split_by and len({record["parameters"].get(split_by) for record in records}) > 1
    for record in records:
        source, target = record["parameters"]["source"], record["parameters"]["target"]
        column = f"{DOMAIN_NAMES.get(source, source)} → {DOMAIN_NAMES.get(target, target)}"
        if split:
            column += f" ({record['parameters'].get(split_by)})"
        by_pair.setdefault(column, []).append(record["metrics"])

    def cell(runs: list[dict], key: str) -> str:
        values = [m[f"acc_{key}"] for m in runs if f"acc_{key}" in m]
        return mean_std(values) if values else "not run"

    table = pd.DataFrame({column: {row: cell(runs, key) for key, row in rows.items()}
                          for column, runs in by_pair.items()})
    table.index.name = "accuracy on target test"
    return table


def mean_std(values: list[float]) -> str:
    series = pd.Series(values, dtype=float)
    if len(series) == 1:
        return f"{series.iloc[0]:.4f}"
    return f"{series.mean():.4f} ± {series.std():.4f} ({len(series)})"


GAN_NAMES = {"dcgan": "DCGAN", "wgangp": "WGAN-GP", "sagan": "SAGAN", "stylegan2": "StyleGAN2"}


def gan_table(records: list[dict]) -> pd.DataFrame:
    """Method × (FID, IS, training seconds) from GAN records; 'mean ± std (n)' over several seeds, 'not run' for a
    method no record has. Runs with DiffAugment get rows of their own, named by the policy.

    The FID column is named by the features it was computed on; records on different features are
    refused, since their numbers cannot be compared.
    """
    fid = fid_column(records)
    policies = [gan.parse_tricks(record["parameters"].get("tricks", "")).get("diffaugment", ()) for record in records]
    rows = {}
    for method, name in GAN_NAMES.items():
        for policy in sorted(set(policies)):
            runs = [record["metrics"] for record, used in zip(records, policies)
                    if used == policy and f"fid_{method}" in record["metrics"]]
            if runs:
                scores = [m[f"is_{method}"] for m in runs if f"is_{method}" in m]
                rows[f"{name} + DiffAugment ({', '.join(policy)})" if policy else name] = {
                    fid: mean_std([m[f"fid_{method}"] for m in runs]),
                    "IS": mean_std(scores) if scores else "needs Inception weights",
                    "training (s)": mean_std([m[f"seconds_train_{method}"] for m in runs])}
        if not any(f"fid_{method}" in record["metrics"] for record in records):
            rows[name] = dict.fromkeys([fid, "IS", "training (s)"], "not run")
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "method"
    return table


def fid_column(records: list[dict]) -> str:
    """The label of the records' Fréchet distances; records on different features are refused."""
    kinds = {record["fid_features"] for record in records}
    if len(kinds) != 1:
        raise ValueError(f"the records measured FID on {sorted(kinds)}; a table compares one kind of features")
    return metrics.fid_label(kinds.pop())


def vae_table(records: list[dict]) -> pd.DataFrame:
    """One row per β of the VAE records (test MSE and KLD per image, the share of test faces identified by
    their reconstruction, FID, IS, seconds), then the GANs they were compared with; 'mean ± std (n)' over
    several seeds."""
    fid = fid_column(records)

    def row(runs: list[dict], key: str) -> dict[str, str]:
        scores = [m[f"is_{key}"] for m in runs if f"is_{key}" in m]
        return {fid: mean_std([m[f"fid_{key}"] for m in runs]),
                "IS": mean_std(scores) if scores else "needs Inception weights"}

    rows = {}
    for beta in sorted({record["parameters"]["beta"] for record in records}):
        runs = [record["metrics"] for record in records if record["parameters"]["beta"] == beta]
        rows[f"VAE (β = {beta:g})"] = {**row(runs, "vae"), "MSE test": mean_std([m["mse_test"] for m in runs]),
                                       "KLD test": mean_std([m["kld_test"] for m in runs]),
                                       "identified test": mean_std([m["identified_test"] for m in runs]),
                                       "training (s)": mean_std([m["seconds_train"] for m in runs])}
    for method, name in GAN_NAMES.items():
        runs = [record["metrics"] for record in records if f"fid_gan_{method}" in record["metrics"]]
        if runs:
            rows[f"{name} (problem 1)"] = row(runs, f"gan_{method}")
    table = pd.DataFrame.from_dict(rows, orient="index").fillna("")
    table.index.name = "model"
    return table


def exported_gan_images(seed: int, profile: str, data_root: str) -> tuple[dict[str, Path], str]:
    """Per GAN method, the folder of images problem 1 exported with ``seed``, ``profile`` and ``data_root``: that
    of the newest GAN record in the runs folder with these settings listing one (each run exports into
    folders of its own). The note says where the images come from, or what is missing and the command that
    makes it.
    """
    found = {}
    paths = sorted(runtime.folder("runs").rglob("*.json"), key=lambda path: path.stat().st_mtime)
    for path, record in zip(paths, load_records(paths)):  # a file that is not a record is an error naming it
        if (record["notebook"], record.get("seed"), record.get("profile"),
                record["parameters"].get("data_root")) == ("gan", seed, profile, data_root):
            found |= {method: (path, Path(record["artifacts"][f"gan_{method}_images"])) for method in GAN_NAMES
                      if f"gan_{method}_images" in record.get("artifacts", {})}
    if not found:
        faces = f"the faces of {data_root}" if data_root else "the built-in faces"
        command = f"python -m helpers.run gan --profile {profile} --seed {seed}"
        command += f" -p data_root {data_root}" if data_root else ""
        return {}, (f"no GAN images of seed {seed} in the {profile} profile with {faces} under "
                    f"{runtime.folder('runs')}; the comparison needs `{command}` first")
    note = "; ".join(f"{GAN_NAMES[method]}: {folder} (from {path.name})" for method, (path, folder) in found.items())
    return {method: folder for method, (_, folder) in found.items()}, note


CONDITIONAL_ROWS = {"acgan": ("ACGAN", "acgan"), "ddim": ("diffusion, DDIM", "diffusion"),
                    "ddpm": ("diffusion, DDPM", "diffusion")}  # graded images -> (row, what was trained)


def conditional_table(records: list[dict]) -> pd.DataFrame:
    """Generator × (evaluator accuracy, FD on the evaluator's features, training and sampling seconds).

    One domain per table (its evaluator defines both scores); 'mean ± std (n)' over several seeds.
    """
    domains = {record["parameters"]["domain"] for record in records}
    if len(domains) != 1:
        raise ValueError(f"the records are of the domains {sorted(domains)}; a table compares one domain")
    fd = metrics.fid_label(f"{domains.pop()} digit classifier")
    rows = {}
    for graded, (row, trained) in CONDITIONAL_ROWS.items():
        runs = [record["metrics"] for record in records if f"acc_{graded}" in record["metrics"]]
        if runs:
            rows[row] = {"evaluator accuracy": mean_std([m[f"acc_{graded}"] for m in runs]),
                         fd: mean_std([m[f"fd_{graded}"] for m in runs]),
                         "training (s)": mean_std([m[f"seconds_train_{trained}"] for m in runs]),
                         "sampling 1000 (s)": mean_std([m[f"seconds_sample_{graded}"] for m in runs])}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "generator"
    return table
