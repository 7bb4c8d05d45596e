import time

import numpy as np
import pytest

from benchmark.measure.latency import LatencyStats, TimingBudget, time_calls


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


def test_stats_refuse_empty():
    with pytest.raises(ValueError):
        LatencyStats.from_samples([], 1)


def test_loop_meets_both_minimums_and_keeps_every_iteration():
    calls = []
    budget = TimingBudget(warmup_iters=3, warmup_s=0.01, min_iters=7, min_s=0.05, max_s=5)
    warmup, timed = time_calls(lambda: (calls.append(1), time.sleep(0.002)), budget)
    assert len(warmup) >= 3 and sum(warmup) >= 10 * 0.9
    assert len(timed) >= 7 and sum(timed) >= 50 * 0.9
    assert len(calls) == len(warmup) + len(timed)
    assert all(t >= 2.0 * 0.9 for t in timed)  # each sample is one 2 ms call, in ms


def test_max_s_stops_a_slow_loop():
    budget = TimingBudget(warmup_iters=1, warmup_s=0.001, min_iters=10_000, min_s=0.001, max_s=0.05)
    _, timed = time_calls(lambda: time.sleep(0.01), budget)
    assert 2 <= len(timed) < 50


def test_memory_sampler_keeps_a_peak_per_phase(tmp_path):
    from benchmark.measure.memory import PhasePeakSampler

    phase_file = tmp_path / "phase"
    values = iter([100, 300, 200, 50, 80])
    sampler = PhasePeakSampler(
        pid=0, phase_file=phase_file, probes={"vram": lambda pid: next(values) * 2**20}
    )
    for phase in ("build", "build", "run", "run", "run"):
        phase_file.write_text(phase)
        sampler.sample()
    assert sampler.peak("vram", "build") == 300
    assert sampler.peak("vram", "run") == 200  # the build's 300 MB never leaks into the run's figure
    assert sampler.peak("rss", "run") is None
