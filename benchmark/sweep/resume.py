"""`resume=true`: re-running a sweep command continues the sweep it ran before.

The earlier sweep is the latest folder beside this one (outputs/multirun/<time>/) that Hydra
launched with the same overrides, `resume=...` aside. Its cells that left a record are done,
whatever their status (a failure is a result too: delete its folder to measure it again); a
cell interrupted by Ctrl-C left none and runs again. Cells are matched by their cell id (the
resolved config and the code version), and the new records join the earlier sweep's id, so the
report and MLflow show one sweep. A cell recorded on other hardware (another GPU model for a CUDA
cell, another CPU model for a CPU cell) runs again: the lent GPU machines vary between runs, and
one table must not mix two cards' figures."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from omegaconf import OmegaConf

from benchmark.measure.hardware import cpu_model, gpu_model


@dataclass
class EarlierSweep:
    sweep_id: str
    records: dict[str, Path] = field(default_factory=dict)  # cell id -> its record.json


def without_resume(overrides: list[str]) -> list[str]:
    return sorted(o for o in overrides if not o.lstrip("+~").startswith("resume="))


def sweep_overrides(sweep_dir: Path) -> list[str] | None:
    try:
        return list(OmegaConf.load(sweep_dir / "multirun.yaml").hydra.overrides.task)
    except Exception:  # no multirun.yaml (a single run), or an unreadable one
        return None


@lru_cache(maxsize=4)
def earlier_sweep(sweep_dir: Path) -> EarlierSweep | None:
    """The sweep that earlier runs of this command recorded cells for, and those cells. A sweep
    resumed more than once is spread over several folders that all carry the first one's id.
    The command is the sweep's own overrides (its multirun.yaml: `batch_size=1,16`, not one
    job's `batch_size=1`)."""
    wanted = without_resume(sweep_overrides(sweep_dir) or [])
    folders = [
        d for d in sorted(sweep_dir.parent.iterdir(), reverse=True)
        if d.is_dir() and d != sweep_dir and without_resume(sweep_overrides(d) or ["?"]) == wanted
    ]  # fmt: skip
    if not folders:
        return None
    recorded = {folder: read_records(folder) for folder in folders}
    latest = recorded[folders[0]]
    origin = next(iter(latest.values()))["sweep_id"] if latest else folders[0].name
    earlier = EarlierSweep(origin)
    for folder in reversed(folders):
        for path, record in recorded[folder].items():
            if record.get("sweep_id") == origin:
                earlier.records[record["cell_id"]] = path
    return earlier


def read_records(sweep_dir: Path) -> dict[Path, dict]:
    records = {}
    for path in sorted(sweep_dir.glob("*/record.json")):
        try:
            records[path] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a record cut short is not a result: the cell runs again
    return records


def measured_elsewhere(environment: dict, device: str) -> str | None:
    """The GPU (CUDA cells) or CPU model an earlier record ran on, when this machine's differs;
    None when it ran on this kind of machine, or recorded none (a cell refused before any work,
    which run_cell decides again anyway)."""
    key, here = ("gpu", gpu_model()) if device == "cuda" else ("cpu", cpu_model())
    then = environment.get(key)
    return then if then and here and then != here else None
