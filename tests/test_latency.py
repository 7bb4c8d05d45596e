import time
from types import SimpleNamespace

import numpy as np
import pytest

from benchmark.measure.latency import LatencyStats, TimingBudget, time_calls, wall_metrics
from benchmark.results.records import kept_latencies


def test_stats_from_known_samples():
    samples = [1.0, 2.0, 3.0, 4.0, 10.0]
    stats = LatencyStats.from_samples(samples, batch_size=4)
    assert stats.latency_mean_ms == pytest.approx(4.0)
    assert stats.latency_ms_per_sample == pytest.approx(1.0)
    assert stats.latency_p50_ms == pytest.approx(3.0)
    assert stats.latency_p99_ms == pytest.approx(np.percentile(samples, 99))
    assert stats.latency_std_ms == pytest.approx(np.std(samples, ddof=1))
    assert stats.throughput_samples_per_s == pytest.approx(1000.0)
    assert stats.iterations == 5
    assert stats.timed_s == pytest.approx(0.02)


def test_a_record_keeps_at_most_its_share_of_latencies_evenly_spaced():
    few = [0.123456789, 2.0, 3.0]
    assert kept_latencies(few, at_most=5) == [0.1235, 2.0, 3.0]
    many = [float(i) for i in range(10_001)]  # in time order: a drift stays visible
    kept = kept_latencies(many, at_most=101)
    assert kept == [float(i) for i in range(0, 10_001, 100)]


def test_stats_refuse_empty():
    with pytest.raises(ValueError):
        LatencyStats.from_samples([], 1)


def test_loop_meets_both_minimums_and_keeps_every_iteration():
    calls, waits = [], []
    budget = TimingBudget(warmup_iters=3, warmup_s=0.01, min_iters=7, min_s=0.05, max_s=5)
    warmup, timed = time_calls(lambda: calls.append(1), lambda: (waits.append(1), time.sleep(0.002)), budget)
    assert len(warmup.ms) >= 3 and sum(warmup.ms) >= 10 * 0.9
    assert len(timed.ms) >= 7 and sum(timed.ms) >= 50 * 0.9
    assert len(calls) == len(waits) == len(warmup.ms) + len(timed.ms)
    assert all(t >= 2.0 * 0.9 for t in timed.ms)  # each sample is one call and its 2 ms wait, in ms
    assert timed.clock == "wall" and timed.wall_ms == timed.ms
    assert wall_metrics(timed) == {}  # the headline already is the host's clock: no second copy


def test_max_s_stops_a_slow_loop():
    budget = TimingBudget(warmup_iters=1, warmup_s=0.001, min_iters=10_000, min_s=0.001, max_s=0.05)
    _, timed = time_calls(lambda: time.sleep(0.01), lambda: None, budget)
    assert 2 <= len(timed.ms) < 50


class FakeEvents:
    """CUDA events as the loop uses them, on a machine without CUDA: each call 'takes' 0.5 ms
    on the device, and the order of record() calls around the inference call is kept."""

    def __init__(self, log: list[str]):
        self.start = SimpleNamespace(record=lambda: log.append("start"))
        self.end = SimpleNamespace(record=lambda: log.append("end"))

    def elapsed_ms(self) -> float:
        return 0.5


def test_with_events_the_headline_is_the_device_time_and_the_host_wait_is_kept_beside():
    from benchmark.measure.latency import _loop

    log: list[str] = []
    timed = _loop(lambda: log.append("call"), lambda: time.sleep(0.003), (4, 0.0, 5.0), FakeEvents(log))
    assert log[:6] == ["start", "call", "end"] * 2  # the events bracket the call, not the wait
    assert timed.clock == "cuda_events" and timed.ms == [0.5] * 4
    assert len(timed.wall_ms) == 4 and min(timed.wall_ms) >= 3.0 * 0.9  # the wait is in the wall figure
    wall = wall_metrics(timed)
    assert wall["latency_wall_mean_ms"] == pytest.approx(np.mean(timed.wall_ms))
    assert wall["latency_wall_p50_ms"] == pytest.approx(np.median(timed.wall_ms))


def test_memory_sampler_keeps_a_peak_per_phase(tmp_path):
    from benchmark.measure.memory import PhasePeakSampler, Probe

    phase_file = tmp_path / "phase"
    values = iter([100, 300, 200, 50, 80])
    sampler = PhasePeakSampler(
        pid=0, phase_file=phase_file, probes={"vram": Probe(lambda pid: next(values) * 2**20)}
    )
    for phase in ("build", "build", "run", "run", "run"):
        phase_file.write_text(phase)
        sampler.sample()
    assert sampler.peak("vram", "build") == 300
    assert sampler.peak("vram", "run") == 200  # the build's 300 MB never leaks into the run's figure
    assert sampler.peak("rss", "run") is None


def test_a_probe_keeps_quiet_in_its_quiet_phases_and_reads_at_most_every_every_s(tmp_path):
    """The GPU probe (an NVML process query, which holds the driver's lock) must never run while
    the worker times, and elsewhere only every 100 ms; the host probe reads at every tick."""
    from benchmark.measure.memory import PhasePeakSampler, Probe

    phase_file = tmp_path / "phase"
    reads = {"vram": [], "rss": []}
    sampler = PhasePeakSampler(
        pid=0,
        phase_file=phase_file,
        probes={
            "vram": Probe(
                lambda pid: reads["vram"].append(1) or 2**20, every_s=60, quiet_phases=frozenset({"timing"})
            ),
            "rss": Probe(lambda pid: reads["rss"].append(1) or 2**20),
        },
    )
    for phase in ("timing", "timing", "eval", "eval", "timing"):
        phase_file.write_text(phase)
        sampler.sample()
    assert len(reads["rss"]) == 5
    assert len(reads["vram"]) == 1  # once in eval, then not again within 60 s, never in timing
    assert sampler.peak("vram", "timing") is None and sampler.peak("vram", "eval") == 1


def test_the_gpu_probe_asks_only_the_gpu_its_process_was_found_on(monkeypatch):
    from types import SimpleNamespace

    from benchmark.measure.memory import GpuBytesOf

    asked = []
    on_gpu = {"gpu0": [], "gpu1": [], "gpu2": []}

    def running(handle):
        asked.append(handle)
        return on_gpu[handle]

    nvml = SimpleNamespace(
        nvmlDeviceGetCount=lambda: 3,
        nvmlDeviceGetHandleByIndex=lambda i: f"gpu{i}",
        nvmlDeviceGetComputeRunningProcesses=running,
    )
    monkeypatch.setattr("benchmark.measure.memory._nvml", lambda: nvml)
    probe = GpuBytesOf()
    assert probe(42) == 0 and len(asked) == 3  # before its CUDA context: every GPU, nothing found
    on_gpu["gpu1"] = [SimpleNamespace(pid=42, usedGpuMemory=500), SimpleNamespace(pid=7, usedGpuMemory=900)]
    assert probe(42) == 500 and len(asked) == 6
    asked.clear()
    on_gpu["gpu1"][0].usedGpuMemory = 800
    assert probe(42) == 800 and asked == ["gpu1"]  # found: only its GPU is asked from now on


def test_the_headline_vram_takes_the_workers_own_reading_at_the_end_of_timing(tmp_path):
    from benchmark.measure.memory import PhasePeakSampler, Probe
    from benchmark.results.records import CellRecord
    from benchmark.sweep.job import add_memory_peaks

    phase_file = tmp_path / "phase"
    values = iter([300, 200])
    sampler = PhasePeakSampler(
        pid=0, phase_file=phase_file, probes={"vram": Probe(lambda pid: next(values) * 2**20)}
    )
    for phase in ("build", "eval"):
        phase_file.write_text(phase)
        sampler.sample()
    record = CellRecord(
        sweep_id="s", model="m", backend="b", precision="fp16", batch_size=1, device="cuda", status="ok"
    )
    record.metrics = {"vram_timed_mb": 250.0}
    add_memory_peaks(record, sampler)
    assert record.metrics["peak_vram_mb"] == 250  # the build's 300 stays out; eval 200 < timed 250
    assert record.metrics["peak_vram_build_mb"] == 300
