"""Test-only fault injection (`fault=...` with BENCHMARK_ALLOW_FAULTS=1): makes the worker fail
the way real cells do, so the sweep's handling of each end can be tested on a CPU."""

from __future__ import annotations

import ctypes
import os
import signal
import time


def exhaust_host_memory() -> None:
    """The worker's address space capped (setrlimit) a little above what it uses, then a large
    allocation: the same failure as a host out of memory, without endangering the machine."""
    import resource

    import psutil
    import torch

    used = psutil.Process().memory_info().vms
    resource.setrlimit(resource.RLIMIT_AS, (used + 256 * 2**20, resource.RLIM_INFINITY))
    torch.ones(2**31, dtype=torch.float32)  # 8 GiB


def inject(fault: str | None) -> None:
    """Called once, as the eval phase starts (the artifact is built)."""
    if fault is None:
        return
    if fault == "abort":
        os.abort()
    if fault == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
        ctypes.string_at(0)  # in case SIGSEGV is caught
    if fault == "raise":
        raise RuntimeError("injected fault")
    if fault == "hang":
        while True:
            time.sleep(1)
    if fault == "host_oom":
        exhaust_host_memory()
    if fault == "oom":
        import torch

        raise torch.OutOfMemoryError("injected: CUDA out of memory. Tried to allocate 20.00 GiB")
