"""GPU energy per sample, from NVML's total-energy counter (millijoules since the driver loaded),
read around the warm-up and timed loop, never inside it. The counter counts the whole card, so
the figure is this cell's only when the cell has its GPU to itself (one cell per GPU, as every
launcher here places them). On the CPU, and on GPUs without the counter, it is not measured."""

from __future__ import annotations

import time
from typing import Any

MIN_WINDOW_S = 1.0  # the counter moves in steps of a few ms: a shorter window says little


def _handle(device) -> Any | None:
    try:
        from benchmark.measure.memory import nvml_handle

        return nvml_handle(device)
    except Exception:  # no NVML here, or it refused: energy is not measured
        return None


def _millijoules(handle) -> int | None:
    try:
        from benchmark.measure.memory import _nvml

        return int(_nvml().nvmlDeviceGetTotalEnergyConsumption(handle))
    except Exception:
        return None


class GpuEnergy:
    """with GpuEnergy(device) as energy: <calls>; then energy.millijoules and energy.seconds
    (None where not measured)."""

    def __init__(self, device):
        self.handle = _handle(device) if getattr(device, "type", None) == "cuda" else None
        self.millijoules: float | None = None
        self.seconds = 0.0

    def __enter__(self) -> GpuEnergy:
        self.start = (_millijoules(self.handle) if self.handle is not None else None, time.perf_counter())
        return self

    def __exit__(self, *exc) -> None:
        end, now = _millijoules(self.handle) if self.handle is not None else None, time.perf_counter()
        self.seconds = now - self.start[1]
        if None not in (end, self.start[0]) and self.seconds >= MIN_WINDOW_S:
            self.millijoules = float(end - self.start[0])

    def metrics(self, samples: int) -> dict[str, float]:
        """mJ per sample over `samples` (every call of the window), and the card's mean power."""
        if self.millijoules is None or samples <= 0:
            return {}
        return {
            "energy_mj_per_sample": self.millijoules / samples,
            "gpu_power_w": self.millijoules / 1e3 / self.seconds,
        }
