"""Profiles, device choice, seeding and the workbook's folders.

One table of profiles for every problem: ``smoke`` (seconds, used by the tests), ``cpu`` (minutes on
a laptop, results that mean something) and ``gpu`` (course scale). A notebook names a profile and
reads its sizes from here; it never hard-codes epochs or sizes.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

PROFILES = MappingProxyType({
    "smoke": {
        "dann": {"steps": 30, "batch_size": 32, "n_eval": 256, "n_tsne": 60},
        "gan": {"size": 16, "width": 4, "z_dim": 16, "batch_size": 16, "n_fid": 64, "n_export": 100,
                "steps": {"dcgan": 4, "wgangp": 2, "sagan": 4}},
    },
    "cpu": {
        "dann": {"steps": 3000, "batch_size": 64, "n_eval": None, "n_tsne": 500},
        "gan": {"size": 32, "width": 32, "z_dim": 100, "batch_size": 64, "n_fid": 500, "n_export": 1000,
                "steps": {"dcgan": 3000, "wgangp": 800, "sagan": 1500}},
    },
    "gpu": {
        "dann": {"steps": 20000, "batch_size": 128, "n_eval": None, "n_tsne": 2000},
        "gan": {"size": 64, "width": 64, "z_dim": 128, "batch_size": 128, "n_fid": 1000, "n_export": 1000,
                "steps": {"dcgan": 20000, "wgangp": 10000, "sagan": 20000}},
    },
})


def resolve_profile(name: str = "") -> str:
    """The profile to use: ``name``, else $WORKBOOK_PROFILE, else ``gpu`` with CUDA and ``cpu`` without."""
    name = name or os.environ.get("WORKBOOK_PROFILE", "") or ("gpu" if torch.cuda.is_available() else "cpu")
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; expected one of {sorted(PROFILES)}")
    return name


def settings(profile: str, problem: str) -> dict:
    """The sizes ``profile`` gives ``problem`` (e.g. ``settings("cpu", "dann")["steps"]``)."""
    table = PROFILES[resolve_profile(profile)]
    if problem not in table:
        raise KeyError(f"profile {profile!r} has no settings for {problem!r}; it has {sorted(table)}")
    return dict(table[problem])


def device() -> torch.device:
    """The fastest device present: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a torch generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def folder(kind: str) -> Path:
    """Where the workbook writes ``kind``: ``cache``, ``figures`` or ``runs``.

    $WORKBOOK_CACHE, $WORKBOOK_FIGURES and $WORKBOOK_RUNS override the defaults
    (``data/cache``, ``figures``, ``runs`` in the repository); the tests use them.
    """
    defaults = {"cache": ROOT / "data" / "cache", "figures": ROOT / "figures", "runs": ROOT / "runs"}
    if kind not in defaults:
        raise KeyError(f"unknown folder {kind!r}; expected one of {sorted(defaults)}")
    path = Path(os.environ.get(f"WORKBOOK_{kind.upper()}", defaults[kind]))
    path.mkdir(parents=True, exist_ok=True)
    return path
