"""What this machine is, without importing torch (the sweep's parent process stays light): the
names a record's environment keeps for the CPU and the GPU it ran on."""

from __future__ import annotations

import platform
from functools import lru_cache


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@lru_cache(maxsize=1)
def gpu_model() -> str | None:
    """The first GPU's name as NVML gives it (as torch's device properties do: "NVIDIA H200");
    None without a GPU or NVML. One host's lent GPUs are of one kind."""
    try:
        import pynvml

        pynvml.nvmlInit()
        name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(0))
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:
        return None
