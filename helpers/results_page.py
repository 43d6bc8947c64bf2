"""RESULTS.md, written from run records: per problem its table, its main figures and where every number comes from.

The tables are the ones ``python -m helpers.run`` collects into figures/<notebook>_table.md; the short text of
each problem says what its numbers mean and holds no number itself, so that every number on the page comes from
a record.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pandas as pd

from helpers import runtime

PROVENANCE = ("profile", "seed", "commit", "started")  # what the page tells of every run


@dataclass(frozen=True)
class Problem:
    title: str
    text: str  # what the numbers mean: facts, no numbers
    docs: str  # what was tried and why the settings are what they are
    figures: tuple[str, ...]  # the main figures: patterns of the records' artifact names


PROBLEMS = {  # notebook name -> its section, in the assignment's order
    "gan": Problem(
        "Problem 1: GANs on faces (DCGAN, WGAN-GP, SAGAN)",
        "FD is the Fréchet distance between generated and real faces on the features the column names; lower is "
        "better. With the Inception weights it is the FID of the papers and the course; without them it is "
        "computed on a fixed random ConvNet, comparable between these runs and methods but not with published "
        "numbers, and IS is left out. Training times are wall-clock seconds on the machine of the run.",
        "docs/1_gan.md", ("gan_*_first32", "gan_curves")),
    "conditional": Problem(
        "Problem 2: ACGAN and conditional diffusion on digits",
        "Evaluator accuracy is the share of generated digits that a classifier trained on the domain's real "
        "digits reads as the class asked for; that classifier's own accuracy on real test digits (the record's "
        "`acc_evaluator`) bounds it. FD is the Fréchet distance on the classifier's pooled features, comparable "
        "only between runs judged by the same classifier. DDIM and DDPM sample the same diffusion model. Times "
        "are wall-clock seconds of training and of sampling the graded images.",
        "docs/2_conditional.md", ("conditional_acgan_grid", "conditional_ddim_grid", "conditional_sampler_sweep")),
    "dann": Problem(
        "Problem 3: DANN on digit domain pairs",
        "Accuracy on the target domain's test split of one network trained three ways: on labelled source "
        "images only (the lower bound), by DANN (labelled source and unlabelled target images), and on labelled "
        "target images (the upper bound). DANN helps where its row lies between the bounds and hurts where it "
        "falls below the source-only row (negative transfer). Records of several recipes get a column each; "
        "several seeds give mean ± standard deviation (number of runs).",
        "docs/3_dann.md", ("dann_*_tsne",)),
    "uda": Problem(
        "Problem 4: beyond DANN (ADDA, PixelDA, self-ensembling)",
        "Accuracy on the target domain's test split of each method, between the same bounds as DANN's table: "
        "trained on source only and trained on target. \"not run\" marks a method that no run of the pair "
        "included; the matrix trains PixelDA, the slowest, on MNIST → MNIST-M only.",
        "docs/4_uda.md", ("uda_*_tsne", "uda_*_pixelda_translations")),
    "vae": Problem(
        "Problem 5: VAE on faces",
        "MSE and KLD are the VAE's reconstruction error and KL divergence per test image; \"identified test\" is "
        "the share of test faces whose reconstruction lies nearer to its own input than to any other test or "
        "training face. The Fréchet distance of its samples to the real faces stands beside that of the GANs of "
        "the same runs folder, on the same features.",
        "docs/5_vae.md", ("vae_reconstructions", "vae_samples", "vae_vs_gan")),
}


def default_path() -> Path:
    """RESULTS.md beside the figures folder (the repository's root unless $WORKBOOK_FIGURES moves it)."""
    return runtime.folder("figures").parent / "RESULTS.md"


def write(runs: dict[str, list[tuple[Path, dict]]], tables: dict[str, pd.DataFrame],
          missing: dict[str, list[Path]]) -> Path:
    """Write the page at ``default_path()`` and return its path.

    ``runs``: per notebook, its (record path, record) pairs; ``tables``: per notebook, the table built from those
    records; ``missing``: per notebook, the record paths a run was expected to write and did not.
    """
    path = default_path()
    for records in runs.values():
        for record_path, record in records:
            lacking = [key for key in PROVENANCE if key not in record]
            if lacking:
                raise ValueError(f"{record_path} lacks {lacking}; the results page gives each run's "
                                 f"{', '.join(PROVENANCE)}")
    sections = [section(name, problem, runs.get(name, []), tables.get(name), missing.get(name, []), path.parent)
                for name, problem in PROBLEMS.items()]
    header = ("# Results\n\nWritten by `python -m helpers.run` (`make report`) from the run records; rebuild it "
              "from the records without running anything with `python -m helpers.run --results-only`. Do not "
              "edit it by hand. Every number comes from a record listed under its table. The executed notebooks "
              "and records are in `runs/`, which is not in git: their links resolve in the checkout that ran them.")
    path.write_text("\n\n".join([header, *sections]) + "\n")
    return path


def section(name: str, problem: Problem, records: list[tuple[Path, dict]], table: pd.DataFrame | None,
            missing: list[Path], folder: Path) -> str:
    parts = [f"## {problem.title}", f"{problem.text} What was tried: [{problem.docs}]({problem.docs})."]
    if not records:
        expected = ", ".join(f"`{link(record, folder)}`" for record in missing)
        return "\n\n".join([*parts, "**Not run**: no record" + (f" (expected {expected})." if expected else ".")])
    parts += [f"The table (also `figures/{name}_table.md` and `.csv`):", table.to_markdown(),
              runs_table(records, folder)]
    if missing:
        parts.append("No record (the run failed or has not run yet): "
                     + ", ".join(f"`{link(record, folder)}`" for record in missing) + ".")
    parts += [f"![{artifact}]({link(figure, folder)})\n\n*{artifact}, from `{link(record_path, folder)}`*"
              for artifact, (figure, record_path) in main_figures(problem, records).items()]
    return "\n\n".join(parts)


def runs_table(records: list[tuple[Path, dict]], folder: Path) -> str:
    """One row per record: its parameters, provenance and links to its record and executed notebook."""
    rows = []
    for record_path, record in records:
        executed = record_path.with_suffix(".ipynb")
        parameters = ", ".join(f"{key}={value}" for key, value in record["parameters"].items()
                               if key not in ("profile", "seed") and value != "")
        commit = record["commit"]
        rows.append({"parameters": parameters, "profile": record["profile"], "seed": record["seed"],
                     "commit": commit[:7] + ("+dirty" if commit.endswith("+dirty") else ""),
                     "started (UTC)": record["started"][:16].replace("T", " "),
                     "threads": record.get("threads", "not recorded"),  # records before threads were recorded
                     "record": f"[{record_path.name}]({link(record_path, folder)})",
                     "executed": f"[ipynb]({link(executed, folder)})" if executed.exists() else "not kept"})
    return "Runs:\n\n" + pd.DataFrame(rows).to_markdown(index=False)


def main_figures(problem: Problem, records: list[tuple[Path, dict]]) -> dict[str, tuple[Path, Path]]:
    """The problem's main figures among the records' PNG artifacts: name -> (figure, record that wrote it last)."""
    def rank(artifact: str) -> int | None:
        return next((i for i, pattern in enumerate(problem.figures) if fnmatch(artifact, pattern)), None)

    found = {}
    for record_path, record in sorted(records, key=lambda pair: pair[1]["started"]):
        for artifact, figure in record.get("artifacts", {}).items():
            if str(figure).endswith(".png") and rank(artifact) is not None:
                found[artifact] = (Path(figure), record_path)
    return dict(sorted(found.items(), key=lambda item: (rank(item[0]), item[0])))


def link(path: Path, folder: Path) -> str:
    """``path`` relative to the page's folder, with forward slashes."""
    return Path(os.path.relpath(path, folder)).as_posix()
