"""The GPU suite (`make test-gpu`): every CUDA path on tiny models. Its tests carry the `gpu`
marker and are skipped, with the reason shown, where no CUDA GPU is visible: the CPU suite
(`make test`) hides every GPU (tests/conftest.py) unless BENCHMARK_GPU_TESTS=1."""

from __future__ import annotations

import importlib.util

import pytest
import torch


def ort_cuda_available() -> bool:
    if importlib.util.find_spec("onnxruntime") is None:
        return False
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


NO_GPU = "no CUDA GPU visible: the GPU suite runs on a GPU machine with `make test-gpu`"
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)
needs_ort_cuda = pytest.mark.skipif(
    not ort_cuda_available(), reason="onnxruntime-gpu (CUDAExecutionProvider) is not installed here"
)
needs_torchao = pytest.mark.skipif(
    importlib.util.find_spec("torchao") is None, reason="torchao is not installed here"
)


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.gpu)
        item.add_marker(needs_gpu)


def pytest_report_header(config) -> list[str]:
    """The card, driver and library versions, at the top of the committed log."""
    from benchmark.measure.environment import collect

    if not torch.cuda.is_available():
        return [NO_GPU]
    env = collect(torch.device("cuda"))
    keys = ("gpu", "gpu_capability", "driver", "cuda", "cudnn", "sm_clock_mhz", "mem_clock_mhz")
    lines = [", ".join(f"{k}: {env.get(k)}" for k in keys)]
    lines.append(
        ", ".join(f"{k.removeprefix('version_')} {v}" for k, v in env.items() if k.startswith("version_"))
    )
    return lines
