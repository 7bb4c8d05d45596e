"""Test-only fault injection (`fault=...` with BENCHMARK_ALLOW_FAULTS=1): makes the worker fail
the way real cells do, so the sweep's handling of each end can be tested on a CPU."""

from __future__ import annotations

import ctypes
import os
import signal
import time


def inject(fault: str | None) -> None:
    """Called once, as the run phase starts."""
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
    if fault == "oom":
        import torch

        raise torch.OutOfMemoryError("injected: CUDA out of memory. Tried to allocate 20.00 GiB")
