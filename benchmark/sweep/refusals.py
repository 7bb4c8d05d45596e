"""Skips that hold for a whole machine: a backend that found, in a worker, that it cannot run
here at all (AOTInductor's package loader dies on the GPU image's torch build) says so once, and
the sweep skips that backend's later cells on this device without starting a worker for each
(on a GPU machine about 12 s of start-up a cell, for a skip). The answer is kept in the sweep's
cache_dir with the processor model and torch version it holds for; another machine or torch build
asks again.

A backend says so by raising an UnsupportedCell subclass of this name (the worker records an
exception's class name as the record's error_type; the name, not a flag in the shared worker
code, so that adding this did not change every cell's code digest)."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from omegaconf import DictConfig

from benchmark.measure.hardware import cpu_model, gpu_model

UNSUPPORTED_ON_THIS_MACHINE = "UnsupportedOnThisMachine"
REMEMBERED_FROM = " (an earlier cell found this for the machine: "  # + the answer's file + ")"


def refusal_file(cfg: DictConfig, device: str) -> Path:
    return Path(cfg.cache_dir).resolve() / "refusals" / f"{cfg.backend.name}_{device}.json"


def machine_key(device: str) -> dict[str, str | None]:
    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        torch_version = None
    return {"processor": gpu_model() if device == "cuda" else cpu_model(), "torch": torch_version}


def remember_refusal(cfg: DictConfig, device: str, reason: str) -> None:
    path = refusal_file(cfg, device)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"reason": reason, **machine_key(device)}))


def remembered_refusal(cfg: DictConfig, device: str) -> str | None:
    """The reason an earlier cell of this backend gave for the whole machine, if it holds here."""
    path = refusal_file(cfg, device)
    try:
        answer = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if {key: answer.get(key) for key in ("processor", "torch")} != machine_key(device):
        return None
    return f"{answer['reason']}{REMEMBERED_FROM}{path})"
