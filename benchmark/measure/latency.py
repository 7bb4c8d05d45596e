"""The timed loop and its statistics. The loop holds nothing but the call, the sync the
measurement needs, and the clocks: inputs are prepared and on the device before it starts."""

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


class CudaEvents:
    """Two CUDA events around each call, on the stream the call runs on: the GPU's own clock
    from just before the call is issued to the end of its last kernel. Host time the GPU spends
    waiting for launches is inside; the host thread's wake-up after the wait is not. This is how
    hand-written GPU loops and optimum-benchmark's latency tracker time PyTorch on CUDA, so the
    harness's figure and theirs are the same quantity (scripts/bare_loop.py checks it)."""

    def __init__(self) -> None:
        import torch

        self.start = torch.cuda.Event(enable_timing=True)
        self.end = torch.cuda.Event(enable_timing=True)

    def elapsed_ms(self) -> float:
        return self.start.elapsed_time(self.end)


@dataclass
class TimedCalls:
    """Per-call ms of one loop: `ms` by its clock (CUDA events on CUDA, else the host's wall
    clock), and `wall_ms`, what the calling thread waited for the call and its sync, always."""

    ms: list[float]
    wall_ms: list[float]
    clock: str


def _loop(
    call: Callable[[], object],
    wait: Callable[[], None],
    budget: tuple[int, float, float],
    events: CudaEvents | None,
) -> TimedCalls:
    """Call until both min_iters and min_s are reached (or max_s passes)."""
    min_iters, min_s, max_s = budget
    wall_ns: list[int] = []
    device_ms: list[float] = []
    start = time.perf_counter_ns()
    min_ns, max_ns = min_s * 1e9, max_s * 1e9
    while True:
        t0 = time.perf_counter_ns()
        if events is not None:
            events.start.record()
            call()
            events.end.record()
        else:
            call()
        wait()
        t1 = time.perf_counter_ns()
        wall_ns.append(t1 - t0)
        if events is not None:  # both events are done: wait() returned
            device_ms.append(events.elapsed_ms())
        elapsed = t1 - start
        if (len(wall_ns) >= min_iters and elapsed >= min_ns) or elapsed >= max_ns:
            wall_ms = [ns / 1e6 for ns in wall_ns]
            if events is None:
                return TimedCalls(wall_ms, wall_ms, "wall")
            return TimedCalls(device_ms, wall_ms, "cuda_events")


def time_calls(
    call: Callable[[], object], wait: Callable[[], None], budget: TimingBudget, cuda_events: bool = False
) -> tuple[TimedCalls, TimedCalls]:
    """Warm up, then time. `call` runs one inference, `wait` waits for it to finish. With
    `cuda_events` (the call's work is on torch's current CUDA stream), each call is also timed
    by CUDA events, and those are the headline figures. Returns (warm-up, timed)."""
    events = CudaEvents() if cuda_events else None
    warmup_budget = (budget.warmup_iters, budget.warmup_s, max(budget.max_s, budget.warmup_s))
    warmup = _loop(call, wait, warmup_budget, events)
    timed = _loop(call, wait, (budget.min_iters, budget.min_s, budget.max_s), events)
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


def wall_metrics(timed: TimedCalls) -> dict[str, float]:
    """What the calling thread waited per batch (call and sync, host clock), beside the headline
    figures where those are CUDA events: it adds the host's wake-up after each wait. Nothing
    where the headline already is the host's clock (CPU rows)."""
    if timed.clock == "wall":
        return {}
    wall = np.asarray(timed.wall_ms, dtype=np.float64)
    return {"latency_wall_mean_ms": float(wall.mean()), "latency_wall_p50_ms": float(np.median(wall))}


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
