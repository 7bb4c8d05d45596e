"""scripts/two_sweeps.py: the issue-15 table of two CPU sweeps at once against the same cells alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT

from benchmark.results.records import CellRecord


def write(folder: Path, backend: str, p50: float, queued: float = 0.0, busy: float | None = 0.05) -> None:
    record = CellRecord("s", "cnn", backend, "fp32", 16, "cpu", status="ok", queued_s=queued)
    record.metrics = {"latency_p50_ms": p50, **({} if busy is None else {"host_other_busy_cores": busy})}
    (folder / backend).mkdir(parents=True)
    record.save(folder / backend / "record.json")


def test_each_together_run_is_judged_against_the_median_of_the_runs_alone(tmp_path):
    for name, eager, script in (("alone1", 1.0, 2.0), ("alone2", 1.2, 2.0), ("alone3", 1.1, 2.0)):
        write(tmp_path / name, "eager", eager)
        write(tmp_path / name, "torchscript", script)
    write(tmp_path / "A", "eager", 1.15, queued=8)
    write(tmp_path / "A", "torchscript", 2.5, busy=0.9)  # 25% over: not within 10%
    write(tmp_path / "B", "eager", 1.0)
    write(tmp_path / "B", "torchscript", 2.1, busy=None)
    alone = [str(tmp_path / n) for n in ("alone1", "alone2", "alone3")]
    out = subprocess.run(
        [sys.executable, "scripts/two_sweeps.py", "--alone", *alone, "--together", str(tmp_path / "A"), str(tmp_path / "B")],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert (
        "| cnn eager bs16 | 1 / 1.2 / 1.1 | 18.2% | 1.15 / 1 | +4.5% / -9.1% | 8 / 0 | 0.05 / 0.05 |" in out
    )
    assert (
        "| cnn torchscript bs16 | 2 / 2 / 2 | 0.0% | 2.5 / 2.1 | +25.0% / +5.0% | 0 / 0 | 0.90 / - |" in out
    )
    assert "3 of 4 together-runs within 10% of their cell's alone median." in out
