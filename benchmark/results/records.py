"""The record one cell leaves behind: what ran, how it ended, what it measured."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# How a cell can end. `ok` and `invalid` carry measurements; `invalid` = measured, but its
# quality fell below the quality gate (message: why), so its speed is no result.
STATUSES = ("ok", "invalid", "skipped", "error", "oom", "crashed", "timeout")


# A record keeps at most this many of its timed calls' latencies, evenly spaced in time order.
# A fast cell times tens of thousands of calls (FCN on an H200: 47,000 in 1.2 s, a 1.1 MB
# record); its figures (metrics) come from all of them, and the study's archive must stay small.
KEPT_LATENCIES = 2000


def kept_latencies(latencies_ms: list[float], at_most: int = KEPT_LATENCIES) -> list[float]:
    """Every latency, or `at_most` of them evenly spaced (first and last included), to 0.1 µs."""
    if len(latencies_ms) > at_most:
        last = len(latencies_ms) - 1
        latencies_ms = [latencies_ms[round(i * last / (at_most - 1))] for i in range(at_most)]
    return [round(ms, 4) for ms in latencies_ms]


@dataclass
class CellRecord:
    sweep_id: str
    model: str
    backend: str
    precision: str
    batch_size: int
    device: str
    status: str = "ok"
    message: str = ""  # reason of a skip, or the error's message
    error_type: str = ""  # exception type name, or the signal that killed the worker
    metrics: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)  # what the artifact proved about itself
    environment: dict[str, Any] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)  # per timed call, whole batch (kept_latencies)
    config: dict[str, Any] = field(default_factory=dict)  # the resolved config of the cell
    job_dir: str = ""
    wall_s: float = 0.0
    queued_s: float = 0.0  # part of wall_s spent waiting for a free GPU or core share
    cell_id: str = ""  # same config and code digest -> same id, across sweeps
    code_digest: str = ""  # of the source that can change this cell's figures (code_digest.py)

    @property
    def name(self) -> str:
        return f"{self.model}/{self.backend}/{self.device}/{self.precision}/bs{self.batch_size}"

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1, default=str))

    @classmethod
    def load(cls, path: Path) -> CellRecord:
        return cls(**json.loads(path.read_text()))


def stored_records(roots: list[Path]) -> Iterator[tuple[CellRecord, float]]:
    """Every record.json under each folder, or inside each .tgz archive of one (as results are
    committed), with its modification time (the later of two records of one cell wins). A
    folder's own .tgz archives count too: docs/results/study/ is its records.tgz."""
    import tarfile

    for root in map(Path, roots):
        if root.is_dir():
            for path in sorted(root.rglob("record.json")):
                yield CellRecord.load(path), path.stat().st_mtime
            yield from stored_records(sorted(root.glob("*.tgz")))
            continue
        with tarfile.open(root) as archive:
            for member in sorted(archive.getmembers(), key=lambda m: m.name):
                if member.name.endswith("record.json"):
                    yield CellRecord(**json.loads(archive.extractfile(member).read())), member.mtime


# Keys that change where things go or how long to wait, not what is measured.
NOT_IN_CELL_ID = (
    "tracking_uri",
    "experiment",
    "cache_dir",
    "artifact_cache",
    "data_dir",
    "timeout_s",
    "resume",
)


def cell_id_of(resolved_config: dict[str, Any], code_digest: str) -> str:
    measured = {k: v for k, v in resolved_config.items() if k not in NOT_IN_CELL_ID}
    blob = json.dumps([measured, code_digest], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def status_label(status: str, error_type: str = "", message: str = "") -> str:
    """What a report shows in place of a number, in the study's words."""
    if status == "skipped":
        return message if error_type == "BadInput" else f"unsupported: {message}"
    if status == "oom":
        return "OutOfMemory"
    if status == "crashed":
        return f"crashed ({error_type})" if error_type else "crashed"
    if status == "timeout":
        return "timeout"
    if status == "invalid":
        return f"invalid: {message}"
    if status == "error":
        return error_type or "error"
    return status
