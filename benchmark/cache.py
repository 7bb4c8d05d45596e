"""Files the benchmark keeps between cells and sweeps (trained weights, dataset splits)."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def save_atomically(obj: object, path: Path) -> None:
    """torch.save through a temporary file and a rename: cells running side by side never read half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)
