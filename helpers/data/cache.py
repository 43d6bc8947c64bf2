"""Built datasets kept under data/cache/ so that they are made once per machine."""
from __future__ import annotations

import os
import tempfile
from typing import Callable

import numpy as np
import torch

from helpers import runtime


def cached_arrays(name: str, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Load ``<cache>/<name>.pt``, building it with ``build()`` first if it is not there."""
    path = runtime.folder("cache") / f"{name}.pt"
    if not path.exists():
        tensors = {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in build().items()}
        # write then rename, so that a run stopped half-way or a concurrent run never sees half a file
        handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(handle)
        torch.save(tensors, tmp)
        os.replace(tmp, path)
    try:
        return torch.load(path, weights_only=True)
    except Exception as error:
        raise RuntimeError(f"cannot read the cached dataset {path} ({error}); delete it to rebuild it") from error
