"""Memory of the worker process, sampled from the parent so nothing runs inside the timed loop.

Host: the worker's resident set (psutil). GPU: the worker's own usage as NVML reports it
(nvmlDeviceGetComputeRunningProcesses), which counts the CUDA context, torch's allocator,
ORT arenas and TensorRT engines alike, unlike torch's allocator statistics. Peaks are kept
per phase: the worker writes its current phase (load, build, eval, timing, reference) to a file,
so the headline peaks cover the artifact scored and timed (eval, timing), without the build
before them or the FP32 reference pass after them.

NVML's process query is slow and holds the driver's global lock while it runs (4.5 ms a call
in MangoHud's measurements, github.com/flightlessmango/MangoHud/pull/2104), which stalls the
CUDA work of every process on the host. So the GPU probe asks only the GPU the worker was found
on, ten times a second, and never while a worker times: the worker reads its own figure once
as its timed loop ends (`vram_timed_mb`)."""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

MB = 1024 * 1024


@lru_cache(maxsize=1)
def _nvml():
    """NVML, initialised once per process (the sampler asks many times a cell)."""
    import pynvml

    pynvml.nvmlInit()
    return pynvml


def nvml_handle(device):
    """NVML's handle of a torch CUDA device. NVML numbers every GPU of the host, CUDA only those
    CUDA_VISIBLE_DEVICES shows, so the two meet by UUID. Raises where NVML is missing or refuses."""
    import torch

    uuid = str(torch.cuda.get_device_properties(device).uuid)
    return _nvml().nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-") else f"GPU-{uuid}")


def own_gpu_bytes(device) -> int | None:
    """GPU memory NVML attributes to this process on its torch CUDA `device` (only that GPU is
    asked: each query holds the driver's lock); None without NVML."""
    try:
        return _bytes_on(nvml_handle(device), os.getpid())
    except Exception:
        return None


def _bytes_on(handle, pid: int) -> int:
    return sum(
        p.usedGpuMemory or 0 for p in _nvml().nvmlDeviceGetComputeRunningProcesses(handle) if p.pid == pid
    )


class GpuBytesOf:
    """The sampler's GPU probe: GPU memory NVML attributes to `pid`, from every GPU until the
    process shows up on some (a cell has one), then from those only; each NVML process query
    holds the driver's lock, so a sweep over four GPUs must not ask all four every time."""

    def __init__(self) -> None:
        self.handles: list | None = None

    def __call__(self, pid: int) -> int | None:
        try:
            if self.handles is None:
                pynvml = _nvml()
                every = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
                found = [(h, _bytes_on(h, pid)) for h in every]
                if any(used for _, used in found):
                    self.handles = [h for h, used in found if used]
                return sum(used for _, used in found)
            return sum(_bytes_on(h, pid) for h in self.handles)
        except Exception:
            return None


def rss_bytes(pid: int) -> int | None:
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss
    except Exception:
        return None


@dataclass(frozen=True)
class Probe:
    """One figure the sampler reads: `read(pid)` in bytes, at most every `every_s`, and never
    while the worker is in one of `quiet_phases` (a probe that would disturb the timed loop)."""

    read: Callable[[int], int | None]
    every_s: float = 0.0
    quiet_phases: frozenset[str] = frozenset()


class PhasePeakSampler:
    """Samples `probes` every `interval_s` (each at its own pace) and keeps each one's peak per phase."""

    def __init__(
        self,
        pid: int,
        phase_file: Path,
        probes: dict[str, Probe],
        interval_s: float = 0.01,
    ):
        self.pid, self.phase_file, self.probes, self.interval_s = pid, phase_file, probes, interval_s
        self.last_read: dict[str, float] = {}
        self.peaks: dict[str, dict[str, float]] = defaultdict(dict)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> PhasePeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def phase_text(self) -> str:
        """What the worker wrote last: its phase, maybe with progress ("eval 12/64 batches")."""
        try:
            return self.phase_file.read_text().strip()
        except OSError:
            return ""

    def current_phase(self) -> str:
        return (self.phase_text().split() or ["start"])[0]

    def sample(self) -> None:
        phase, now = self.current_phase(), time.monotonic()
        for name, probe in self.probes.items():
            if phase in probe.quiet_phases or now - self.last_read.get(name, -1e9) < probe.every_s:
                continue
            self.last_read[name] = now
            value = probe.read(self.pid)
            if value is not None:
                mb = value / MB
                self.peaks[phase][name] = max(mb, self.peaks[phase].get(name, 0.0))

    def _poll(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def peak(self, name: str, *phases: str) -> float | None:
        """The highest sample of `name` over the given phases (None if never sampled there)."""
        values = [self.peaks[p][name] for p in phases if name in self.peaks.get(p, {})]
        return max(values) if values else None


def host_peak_rss_mb() -> float:
    """Peak RSS of this process over its whole life (kernel's own record, no sampling gaps)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
