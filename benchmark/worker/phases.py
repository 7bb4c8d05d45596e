"""How far the worker has got, for the parent's live line (benchmark/sweep/progress.py): the
phase and its progress are written to the job's `phase` file by the worker's set_phase."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class PhaseProgress:
    """In the worker: `tick(n)` reports "n/total unit" for `phase` through `report` (the worker's
    set_phase), at most twice a second, so a long loop shows how far it has got without slowing
    down."""

    report: Callable[[str, str], None]
    phase: str
    total: int | None
    unit: str
    every_s: float = 0.5
    last: float = 0.0

    def tick(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last < self.every_s and done != self.total:
            return
        self.last = now
        of = f"/{self.total}" if self.total else ""
        self.report(self.phase, f"{done}{of} {self.unit}")
