"""The child process: `python -m benchmark.worker <job_dir>` measures one cell (run.py: load,
build, score, time), alone in its process so that its memory and failures are its own. It reads
cell.yaml from the job folder and writes result.json and its `phase` there; nothing here imports
the sweep (the parent) or the results. This module stays light: the parent imports CORES_ENV."""

from __future__ import annotations

import os

CORES_ENV = "BENCHMARK_CPU_CORES"  # the parent's core share for the worker (comma-separated core ids)


def pin_worker_from_env() -> None:
    """In the worker: keep to the cores the job gave this cell, so its default thread count
    (one per core of its affinity) fits its share."""
    cores = os.environ.get(CORES_ENV)
    if cores:
        os.sched_setaffinity(0, {int(core) for core in cores.split(",")})
