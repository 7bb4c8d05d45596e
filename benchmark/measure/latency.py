"""The timed loop and its statistics. The loop holds nothing but the call, the sync the
measurement needs, and the clock: inputs are prepared and on the device before it starts."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TimingBudget:
    warmup_iters: int = 10
    warmup_s: float = 1.0
    min_iters: int = 50
    min_s: float = 2.0
    max_s: float = 60.0


def _loop(step: Callable[[], None], min_iters: int, min_s: float, max_s: float) -> list[float]:
    """Call `step` until both min_iters and min_s are reached (or max_s passes); ms per call."""
    samples_ns: list[int] = []
    start = time.perf_counter_ns()
    min_ns, max_ns = min_s * 1e9, max_s * 1e9
    while True:
        t0 = time.perf_counter_ns()
        step()
        t1 = time.perf_counter_ns()
        samples_ns.append(t1 - t0)
        elapsed = t1 - start
        if (len(samples_ns) >= min_iters and elapsed >= min_ns) or elapsed >= max_ns:
            return [ns / 1e6 for ns in samples_ns]


def time_calls(step: Callable[[], None], budget: TimingBudget) -> tuple[list[float], list[float]]:
    """Warm up, then time. `step` must run one inference and wait for it to finish.
    Returns (warm-up ms per call, timed ms per call)."""
    warmup = _loop(step, budget.warmup_iters, budget.warmup_s, max(budget.max_s, budget.warmup_s))
    timed = _loop(step, budget.min_iters, budget.min_s, budget.max_s)
    return warmup, timed


@dataclass(frozen=True)
class LatencyStats:
    latency_ms_per_sample: float  # mean batch latency / batch size: the study's headline
    latency_mean_ms: float  # per batch, as are the rest
    latency_std_ms: float
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    latency_min_ms: float
    throughput_samples_per_s: float
    iterations: int
    timed_s: float

    @classmethod
    def from_samples(cls, samples_ms: list[float], batch_size: int) -> LatencyStats:
        if not samples_ms:
            raise ValueError("no timed iterations")
        a = np.asarray(samples_ms, dtype=np.float64)
        mean = float(a.mean())
        p50, p90, p99 = (float(v) for v in np.percentile(a, [50, 90, 99]))
        return cls(
            latency_ms_per_sample=mean / batch_size,
            latency_mean_ms=mean,
            latency_std_ms=float(a.std(ddof=1)) if a.size > 1 else 0.0,
            latency_p50_ms=p50,
            latency_p90_ms=p90,
            latency_p99_ms=p99,
            latency_min_ms=float(a.min()),
            throughput_samples_per_s=batch_size * 1e3 / mean,
            iterations=int(a.size),
            timed_s=float(a.sum()) / 1e3,
        )

    def as_metrics(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def cuda_graph_launches(step: Callable[[], None], calls: int = 3) -> float | str:
    """CUDA graphs replayed per call of `step`, read from the CUDA runtime calls the profiler
    records (`cudaGraphLaunch`): positive evidence that a row said to use graphs replays them.
    Called after the timed loop, on the same callable in the same state. Where the profiler
    cannot run, says why instead of a number (no proof either way)."""
    from torch.profiler import ProfilerActivity, profile

    try:
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(calls):
                step()
        launches = sum(e.count for e in prof.key_averages() if e.key.startswith("cudaGraphLaunch"))
    except Exception as exc:  # CUPTI refused (another profiler, permissions): the row is not proven
        return f"not measured ({type(exc).__name__}: {str(exc)[:120]})"
    return launches / calls


BUSY_HOST_CORES = 0.5  # other work above this many cores during timing is said on the row


class OtherCpuWork:
    """How many of this process's cores other processes kept busy during a window (another
    sweep, a compile, anything): the busy time /proc/stat counts on the cores this process may
    run on, minus this process's own CPU time, over the window's wall time. None off Linux."""

    def __enter__(self) -> OtherCpuWork:
        self.cores = os.sched_getaffinity(0)
        self.start = (_busy_seconds(self.cores), time.process_time(), time.perf_counter())
        self.other_cores: float | None = None
        return self

    def __exit__(self, *exc) -> None:
        busy, own, wall = _busy_seconds(self.cores), time.process_time(), time.perf_counter()
        if busy is not None and self.start[0] is not None and wall > self.start[2]:
            other = (busy - self.start[0]) - (own - self.start[1])
            self.other_cores = max(0.0, other / (wall - self.start[2]))


def _busy_seconds(cores: set[int]) -> float | None:
    """CPU seconds spent not idle on `cores` since boot (the kernel's per-core counters)."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    ticks = 0
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
            values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
            ticks += sum(values) - values[3] - values[4]
    return ticks / os.sysconf("SC_CLK_TCK")
