"""Profiles, device choice, precision, seeding and the workbook's folders.

One table of profiles for every problem: ``smoke`` (seconds, used by the tests), ``cpu`` (minutes on
a laptop, results that mean something) and ``gpu`` (course scale). A notebook names a profile and
reads its sizes from here; it never hard-codes epochs or sizes.
"""
from __future__ import annotations

import copy
import os
import random
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

PROFILES = MappingProxyType({
    "smoke": {
        "dann": {"steps": 30, "batch_size": 32, "n_eval": 256, "n_tsne": 60},
        "uda": {"steps": 30, "batch_size": 32, "adda_steps": 20, "pixelda_steps": 10, "selfensemble_steps": 30,
                "n_adabn": 500, "n_eval": 256, "n_tsne": 60},
        "gan": {"size": 16, "width": 4, "z_dim": 16, "batch_size": 16, "n_fid": 64, "n_export": 100,
                "steps": {"dcgan": 4, "wgangp": 2, "sagan": 4, "stylegan2": 4, "acgan": 4}, "judge_steps": 4},
        "vae": {"size": 16, "width": 4, "latent_dim": 8, "batch_size": 16, "steps": 6, "warmup": 2, "flip": True,
                "shift": 1, "lr": 1e-3, "n_fid": 100},
        "conditional": {"evaluator": {"steps": 20, "batch_size": 32, "n_test": 500},
                        "acgan": {"width": 8, "z_dim": 16, "batch_size": 16, "steps": 4, "class_weight": 3.0,
                                  "dropout": 0.25},
                        "diffusion": {"width": 16, "T": 50, "batch_size": 16, "steps": 4, "lr": 2e-3, "ddim_steps": 5,
                                      "objective": "v", "compile": False},
                        "per_class": 2, "sweep_per_class": 1, "guidance": (0.0, 2.0), "sweep_steps": (2, 5)},
    },
    "cpu": {
        "dann": {"steps": 3000, "batch_size": 64, "n_eval": None, "n_tsne": 500},
        "uda": {"steps": 3000, "batch_size": 64, "adda_steps": 3000, "pixelda_steps": 3000, "selfensemble_steps": 8000,
                "n_adabn": None, "n_eval": None, "n_tsne": 500},
        "gan": {"size": 32, "width": 32, "z_dim": 100, "batch_size": 64, "n_fid": 500, "n_export": 1000,
                "steps": {"dcgan": 3000, "wgangp": 800, "sagan": 1500, "stylegan2": 1000, "acgan": 2000},
                "judge_steps": 500},
        "vae": {"size": 32, "width": 16, "latent_dim": 128, "batch_size": 64, "steps": 6000, "warmup": 50,
                "flip": True, "shift": 3, "lr": 2e-3, "n_fid": 1000},
        "conditional": {"evaluator": {"steps": 6000, "batch_size": 64, "n_test": None},
                        "acgan": {"width": 64, "z_dim": 100, "batch_size": 64, "steps": 8000, "class_weight": 3.0,
                                  "dropout": 0.25},
                        "diffusion": {"width": 16, "T": 200, "batch_size": 64, "steps": 12000, "lr": 2e-3,
                                      "ddim_steps": 20, "objective": "v", "compile": False},
                        "per_class": 100, "sweep_per_class": 20, "guidance": (0.0, 2.0, 4.0, 6.0, 8.0, 10.0),
                        "sweep_steps": (5, 10, 20, 50)},
    },
    "gpu": {
        "dann": {"steps": 20000, "batch_size": 128, "n_eval": None, "n_tsne": 2000},
        "uda": {"steps": 20000, "batch_size": 128, "adda_steps": 10000, "pixelda_steps": 20000,
                "selfensemble_steps": 20000, "n_adabn": None, "n_eval": None, "n_tsne": 2000},
        "gan": {"size": 64, "width": 64, "z_dim": 128, "batch_size": 128, "n_fid": 1000, "n_export": 1000,
                "steps": {"dcgan": 20000, "wgangp": 10000, "sagan": 20000, "stylegan2": 20000, "acgan": 10000},
                "judge_steps": 2000},
        "vae": {"size": 64, "width": 64, "latent_dim": 512, "batch_size": 128, "steps": 30000, "warmup": 3000,
                "flip": True, "shift": 6, "lr": 1e-3, "n_fid": 1000},
        "conditional": {"evaluator": {"steps": 5000, "batch_size": 128, "n_test": None},
                        "acgan": {"width": 64, "z_dim": 100, "batch_size": 128, "steps": 10000, "class_weight": 1.0,
                                  "dropout": 0.25},
                        "diffusion": {"width": 64, "T": 400, "batch_size": 128, "steps": 20000, "lr": 1e-3,
                                      "ddim_steps": 50, "objective": "v", "compile": False},
                        "per_class": 100, "sweep_per_class": 50, "guidance": (0.0, 1.0, 2.0, 4.0, 6.0),
                        "sweep_steps": (10, 20, 50, 100)},
    },
})


def resolve_profile(name: str = "") -> str:
    """The profile to use: ``name``, else $WORKBOOK_PROFILE, else ``gpu`` with CUDA and ``cpu`` without."""
    name = name or os.environ.get("WORKBOOK_PROFILE", "") or ("gpu" if torch.cuda.is_available() else "cpu")
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; expected one of {sorted(PROFILES)}")
    return name


def settings(profile: str, problem: str, overrides: str = "") -> dict:
    """The sizes ``profile`` gives ``problem`` (e.g. ``settings("cpu", "dann")["steps"]``), with ``overrides``
    applied: "key=value,..." such as "steps=20000,batch_size=256", a dotted key for a nested setting
    ("acgan.steps=500"), a tuple's items separated by "/" ("guidance=0/2/4"), "None" where the profile has None."""
    table = PROFILES[resolve_profile(profile)]
    if problem not in table:
        raise KeyError(f"profile {profile!r} has no settings for {problem!r}; it has {sorted(table)}")
    sizes = _with_execution(copy.deepcopy(dict(table[problem])))
    for item in filter(None, (part.strip() for part in overrides.split(","))):
        key, equals, text = item.partition("=")
        if not equals:
            raise ValueError(f"overrides: {item!r} is not key=value")
        *path, name = key.strip().split(".")
        group = sizes
        for part in path:
            group = group.get(part) if isinstance(group, dict) else None
        if not isinstance(group, dict) or name not in group or isinstance(group[name], dict):
            raise ValueError(f"overrides: unknown setting {key.strip()!r} for {problem!r}; known: "
                             f"{sorted(_keys(sizes))}")
        group[name] = _like(group[name], text.strip(), key.strip())
    if sizes["precision"] not in PRECISIONS:
        raise ValueError(f"overrides: precision={sizes['precision']!r}; expected one of {PRECISIONS}")
    return sizes


PRECISIONS = ("auto", "bf16", "fp16", "fp32")
# float32 until the notebooks' results at "auto" are measured against it (docs/precision.md)
DEFAULT_PRECISION = "fp32"


def _with_execution(sizes: dict) -> dict:
    """``sizes`` with the settings of how the networks run that every problem has: ``precision``
    ($WORKBOOK_PRECISION, else ``DEFAULT_PRECISION``) and ``channels_last`` (off: docs/precision.md)."""
    chosen = os.environ.get("WORKBOOK_PRECISION", "") or DEFAULT_PRECISION
    if chosen not in PRECISIONS:
        raise ValueError(f"$WORKBOOK_PRECISION={chosen!r}; expected one of {PRECISIONS}")
    return {"precision": chosen, "channels_last": False, **sizes}


def _keys(sizes: dict, prefix: str = "") -> list[str]:
    """Every setting's dotted key."""
    return [key for name, value in sizes.items()
            for key in (_keys(value, f"{prefix}{name}.") if isinstance(value, dict) else [f"{prefix}{name}"])]


def _like(current, text: str, key: str):
    """``text`` as a value of ``current``'s type (a tuple's items separated by '/'), or ValueError naming it."""
    kind = type(current)
    try:
        if current is None:
            return None if text == "None" else int(text)
        if kind is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if kind is tuple:
            return tuple(_like(current[0], item, key) for item in text.split("/"))
        return kind(text)
    except ValueError:
        expected = "int or None" if current is None else f"{kind.__name__} (like {current!r})"
        raise ValueError(f"overrides: {key}={text!r}; expected {expected}") from None


def parse_choices(parameter: str, text: str, allowed: list[str]) -> list[str]:
    """'a, b' -> ['a', 'b'] for a notebook parameter listing names, refusing unknown or repeated ones."""
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in allowed]
    if not chosen or unknown or len(set(chosen)) < len(chosen):
        raise ValueError(f"{parameter}={text!r}: expected a comma-separated list of distinct names from {allowed}")
    return chosen


def number(parameter: str, value) -> float:
    """A notebook parameter that must be a number, refused with its name and value otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{parameter}={value!r}: expected a number")
    return float(value)


def cores() -> int:
    """The CPU cores this process may run on (all of the machine's where the system does not say: macOS)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def device() -> torch.device:
    """The fastest device present: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def fast_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively and faster than in float32, as torch reports it: a CPU
    with AMX tiles, a CUDA GPU with bf16 (Ampere and later). A CPU with AVX-512 BF16 but no AMX is not: there
    bfloat16 matrix products ran at 0.58 times float32's speed (docs/precision.md)."""
    if device.type == "cpu":
        return torch.cpu._is_amx_tile_supported()
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return False


@dataclass(frozen=True)
class Precision:
    """The number format of a run's forward passes: ``"bf16"`` or ``"fp16"`` under autocast (matrix products and
    convolutions in that format, what needs range or accuracy, e.g. softmax and the losses, in float32), or
    ``"fp32"`` throughout. The weights, their gradients and the optimizer's state stay float32 in every case.
    ``channels_last``: images and convolution weights stored channel-innermost (N×H×W×C in memory), which some
    convolution kernels run faster on; the numbers are the same up to rounding, except random numbers drawn for
    every element of such a tensor (noise, dropout), which fall in memory order (docs/precision.md)."""

    name: str
    device_type: str
    channels_last: bool = False

    @property
    def dtype(self) -> torch.dtype:
        return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[self.name]

    def autocast(self):
        """The context in which forward passes run in this precision."""
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.name != "fp32")

    def scaler(self) -> torch.amp.GradScaler:
        """Loss scaling, on for fp16 only: float16's small range would round small gradients to 0."""
        return torch.amp.GradScaler(self.device_type, enabled=self.name == "fp16")

    def layout(self, *modules: torch.nn.Module) -> None:
        """Store ``modules``' 4-d weights channels-last if this run asks for it (in place: an optimizer built on
        them keeps working)."""
        for module in modules if self.channels_last else ():
            module.to(memory_format=torch.channels_last)

    def run(self, module, *inputs, **options):
        """``module(*inputs, **options)`` in this precision, its output (a tensor or a tuple of tensors) returned in
        float32, so that what the loops compute from it (losses, sums, exponentials, norms, the gradient penalties)
        keeps float32's range and accuracy. Images (4-d inputs) go in channels-last if this run asks for it."""
        if self.channels_last:
            inputs = tuple(x.contiguous(memory_format=torch.channels_last)
                           if isinstance(x, torch.Tensor) and x.dim() == 4 else x for x in inputs)
        with self.autocast():
            out = module(*inputs, **options)
        return tuple(o.float() for o in out) if isinstance(out, tuple) else out.float()


FP32 = Precision("fp32", "cpu")  # the loops' default; autocast is off, so the device type does not matter


def precision(setting: str, device: torch.device, channels_last: bool = False) -> Precision:
    """The precision that ``setting`` (``PRECISIONS``) means on ``device``. ``"auto"``: bf16 where the device
    computes it natively and fast (``fast_bf16``), fp16 on a CUDA GPU without bf16, fp32 otherwise."""
    if setting not in PRECISIONS:
        raise ValueError(f"precision={setting!r}; expected one of {PRECISIONS}")
    if setting == "auto":
        setting = "bf16" if fast_bf16(device) else "fp16" if device.type == "cuda" else "fp32"
    return Precision(setting, device.type, channels_last)


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
