"""Where a cell's worker runs when the launcher runs several cells at once on one host
(`hydra/launcher=gpus` or `hydra/launcher=cpus`): alone on one GPU and that GPU's share of the
cores, or pinned to its own share of the cores, so that side-by-side cells never disturb each
other's timings. A file lock per GPU (or core share) in the host's temp folder holds the place
for the cell's life, so two sweeps on one host take turns too. Cluster jobs (submitit_slurm) are placed by the scheduler."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmark.config import visible_gpus
from benchmark.worker import CORES_ENV

SLOTS_DIR = Path(tempfile.gettempdir()) / "benchmark-slots"


@dataclass(frozen=True)
class Placement:
    gpu: str | None = None  # the CUDA_VISIBLE_DEVICES entry the worker sees, alone
    cores: tuple[int, ...] = ()  # CPU cores the worker is pinned to (and its thread count)
    shared: bool = False  # other places exist: cells may run beside this one on the host

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        if self.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.gpu
        if self.cores:
            env[CORES_ENV] = ",".join(map(str, self.cores))
        return env

    def describe(self) -> str:
        """For the record and the report, which notes every row whose host was shared."""
        where = [f"gpu {self.gpu}"] if self.gpu is not None else []
        if not self.shared:  # the launcher's only place: no cell ran beside this one
            return ", ".join([*where, "whole host"])
        if len(self.cores) == 1:
            where.append(f"core {self.cores[0]}")
        elif self.cores:
            where.append(f"cores {self.cores[0]}-{self.cores[-1]}")
        return ", ".join(where) or "whole host"


def host_share() -> int | None:
    """How many cells this host's launcher runs at once when it is one that shares the host
    (hydra/launcher=gpus or cpus: joblib's n_jobs); None when each cell has the host alone (the
    sequential launcher) or a scheduler places it (submitit_slurm)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    n_jobs = HydraConfig.get().launcher.get("n_jobs")
    if n_jobs is None:
        return None
    return (os.cpu_count() or 1) if n_jobs < 0 else int(n_jobs)


def core_shares(concurrent: int) -> list[tuple[int, ...]]:
    """This process's cores cut into `concurrent` equal, disjoint shares (left-over cores idle).
    Contiguous, so on the usual host (cores numbered socket by socket, GPUs 0..n/2-1 on the
    first socket) a GPU's share tends to sit on its own socket."""
    cores = sorted(os.sched_getaffinity(0))
    per_cell = max(1, len(cores) // concurrent)
    return [tuple(cores[i * per_cell : (i + 1) * per_cell]) for i in range(min(concurrent, len(cores)))]


def gpu_places(gpus: list[str]) -> list[Placement]:
    """One place per GPU, each with its own share of the cores: a launch-bound cell (eager at
    batch 1 spends its time in one Python thread) slowed by 20-80% when the cell beside it ran
    its own 64 threads or compiled on every core (docs/results/gpu-h100x4/scaleout.md). GPU i
    takes share i whatever sweep asks, so sweeps sharing the host agree on the cores too."""
    if not gpus:
        return [Placement()]
    shares = core_shares(len(gpus))
    if len(shares) < len(gpus):  # fewer cores than GPUs: no core to give each, every GPU still used
        shares = [()] * len(gpus)
    shared = len(gpus) > 1
    return [Placement(gpu=gpu, cores=cores, shared=shared) for gpu, cores in zip(gpus, shares, strict=True)]


@contextlib.contextmanager
def placement_for(device: str, share: int | None) -> Iterator[Placement]:
    """The place a cell runs in, held until the cell ends: one GPU, or one of `share` core
    shares; the whole host when the launcher does not share it (share None)."""
    if share is None:  # alone on the host: wait until no other sweep's cell runs here
        with _host_lock(fcntl.LOCK_EX):
            yield Placement()
        return
    if device == "cuda":
        places = gpu_places(visible_gpus())
    else:
        shares = core_shares(share)
        places = [Placement(cores=cores, shared=len(shares) > 1) for cores in shares]
    with _host_lock(fcntl.LOCK_SH), _first_free(places) as place:
        yield place


@contextlib.contextmanager
def _host_lock(mode: int, poll_s: float = 0.5) -> Iterator[None]:
    """Two sweeps on one host: a cell of the sequential launcher has the host to itself (an
    exclusive lock), side-by-side cells share it (a shared lock, plus their own place), so a
    second sweep's cells wait (the record's queued_s) instead of timing on the same cores."""
    SLOTS_DIR.mkdir(parents=True, exist_ok=True)
    with open(SLOTS_DIR / "host.lock", "a") as handle:
        while True:
            try:
                fcntl.flock(handle, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(poll_s)
        yield  # released when the file closes


@contextlib.contextmanager
def _first_free(places: list[Placement], poll_s: float = 0.5) -> Iterator[Placement]:
    """Lock the first free place, waiting while all are taken (more jobs than GPUs, say)."""
    SLOTS_DIR.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        while True:
            for place in places:
                handle = stack.enter_context(open(SLOTS_DIR / f"{_lock_name(place)}.lock", "a"))
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when closed
                except BlockingIOError:
                    continue
                yield place
                return
            stack.close()
            time.sleep(poll_s)


def _lock_name(place: Placement) -> str:
    return f"gpu-{place.gpu}" if place.gpu is not None else "cores-" + "-".join(map(str, place.cores))
