"""Progress while a sweep runs: a bar of the sweep's cells (done / total, elapsed, ETA) after
each cell's line, and, on a terminal, a live line with the running cell, its phase and how far
its long loops (evaluation pass, calibration) have got.

The worker writes its phase and progress into the job's `phase` file ("eval 12/64 batches",
benchmark/worker/phases.py);
the job process, which polls that file anyway for memory peaks and timeouts, shows it. The
sweep's count comes from files too (one per finished job in <sweep>/.progress/), so jobs that
run in several processes (hydra/launcher=gpus, cpus, submitit) count into one bar."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from benchmark.config import conf_dir

DONE_DIR = ".progress"


def sweep_size(overrides: list[str], sweeper_params: dict | None) -> int | None:
    """How many jobs Hydra's basic sweeper makes of these overrides (and a +sweep preset's
    params): the product of each swept key's values; None if it cannot tell."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import Glob

    params = [f"{key}={value}" for key, value in (sweeper_params or {}).items()]
    try:
        parsed = OverridesParser.create().parse_overrides(params + list(overrides))
    except Exception:
        return None
    counts: dict[str, int] = {}
    for override in parsed:
        if not override.is_sweep_override():
            counts.pop(override.key_or_group, None)  # a plain value on the command line wins
            continue
        value = override.value()
        if isinstance(value, Glob):
            options = sorted(p.stem for p in (conf_dir() / override.key_or_group).glob("*.yaml"))
            counts[override.key_or_group] = len(value.filter(options))
        else:
            counts[override.key_or_group] = len(list(override.sweep_string_iterator()))
    return math.prod(counts.values())


class SweepProgress:
    """The sweep's bar, printed under each finished cell's line."""

    def __init__(self, sweep_dir: Path, total: int | None):
        self.sweep_dir, self.total = sweep_dir, total

    def finished(self, job_num: int) -> str:
        """Count this job as done; the bar as it stands now."""
        from tqdm import tqdm

        done_dir = self.sweep_dir / DONE_DIR
        done_dir.mkdir(exist_ok=True)
        (done_dir / str(job_num)).touch()
        done = sum(1 for _ in done_dir.iterdir())
        started = (self.sweep_dir / "multirun.yaml").stat().st_mtime
        total = max(self.total or done, done)
        return tqdm.format_meter(done, total, time.time() - started, ncols=90, prefix="sweep", unit="cell")


class LiveStatus:
    """One line, rewritten in place, for the cell that is running: only on a terminal and when
    cells run one at a time (side-by-side cells would fight over the line)."""

    def __init__(self, cell: str, alone_on_host: bool, min_interval_s: float = 0.5):
        self.cell, self.min_interval_s = cell, min_interval_s
        self.enabled = alone_on_host and sys.stdout.isatty()
        self.started = self.last = time.monotonic()
        self.shown = False

    def show(self, phase_text: str) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < self.min_interval_s:
            return
        self.last, self.shown = now, True
        line = f"  running {self.cell}: {phase_text or 'starting'} ({now - self.started:.0f} s)"
        sys.stdout.write("\r" + line[:119].ljust(119))
        sys.stdout.flush()

    def clear(self) -> None:
        if self.shown:
            sys.stdout.write("\r" + " " * 119 + "\r")
            sys.stdout.flush()
