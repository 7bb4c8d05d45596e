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


ORT_ARENA_MB = 256
_kept_alive: list = []  # what a fault allocates stays allocated through eval and timing


def allocate_in_ort_arena(megabytes: int = ORT_ARENA_MB) -> None:
    """A `megabytes` intermediate through ONNX Runtime's own CUDA arena (an Expand the session
    keeps in its arena after the call), kept for the worker's life: NVML must see it in the
    process's VRAM while torch's allocator figures must not."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    elements = megabytes * 2**20 // 4
    graph = helper.make_graph(
        [helper.make_node("Expand", ["x", "shape"], ["big"]), helper.make_node("ReduceMax", ["big"], ["y"])],
        "arena",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
        [helper.make_tensor("shape", TensorProto.INT64, [1], [elements])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what every ORT release reads (the installed onnx may write a newer one)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CUDAExecutionProvider"])
    session.run(None, {"x": np.ones(1, np.float32)})
    _kept_alive.append(session)


def inject_after_timing(fault: str | None) -> None:
    """Called once, right after the timed loop (where post-processing such as a generation
    metric or a profiled call would grow the worker): memory that is not the timed artifact's."""
    if fault == "rss_after_timing":
        import numpy as np

        _kept_alive.append(np.ones(400 * 2**20 // 8))  # 400 MB, touched
        time.sleep(0.3)  # long enough for several of the parent's memory samples


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
    if fault == "ort_arena_256mb":
        allocate_in_ort_arena()
    if fault == "oom":
        import torch

        raise torch.OutOfMemoryError("injected: CUDA out of memory. Tried to allocate 20.00 GiB")
