"""Where a number came from: hardware, drivers, library versions, thread and TF32 settings."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

import torch

from benchmark.measure.hardware import cpu_model

LIBRARIES = (
    "torch",
    "torchvision",
    "onnx",
    "onnxruntime",
    "onnxruntime-gpu",
    "transformers",
    "torchao",
    "torch-tensorrt",
    "tensorrt",
    "nvidia-modelopt",
    "onnxscript",
)


CORE_LIBRARIES = ("torch", "torchvision", "transformers")  # every artifact is built from their code


def library_versions(names=LIBRARIES) -> dict[str, str]:
    """Installed versions of these distributions (those not installed are left out)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def versions_for_modules(modules) -> dict[str, str]:
    """The core libraries' versions and those of the distributions that provide `modules` (a
    backend's `requires`): onnxruntime's module may come from onnxruntime or onnxruntime-gpu."""
    providers = metadata.packages_distributions()
    names = list(CORE_LIBRARIES)
    for module in modules:
        names += providers.get(module, [module])
    return library_versions(sorted(set(names)))


def configure_runtime(threads: int | None, tf32: bool, seed: int, cudnn_benchmark: bool = False) -> int:
    """Pin what changes the numbers, before anything runs; returns the thread count. cuDNN's
    autotuning searches once per input shape, in the artifact's first call (every eval and timed
    batch has the cell's one shape), so its cost lands in first_call_ms, never in the timing."""
    threads = threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    pin_tf32(tf32)
    torch.backends.cudnn.benchmark = cudnn_benchmark
    # torch's default times only cuDNN's 10 best-ranked engines; 0 times every one (the first
    # call takes longer; the timed calls run the fastest found)
    torch.backends.cudnn.benchmark_limit = 0 if cudnn_benchmark else 10
    torch.manual_seed(seed)
    return threads


def pin_tf32(tf32: bool) -> None:
    """Also called again after the artifact's first call: a backend's library may flip it."""
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def precision_switches(runtime_switches: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every switch that silently changes a row's arithmetic, as it stood while the row ran:
    torch's TF32 flags, and the runtime's own (ONNX Runtime's CUDA provider options,
    TensorRT's), which a backend reports under facts["precision_switches"]."""
    return {
        "torch.backends.cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "torch.backends.cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
        **(runtime_switches or {}),
    }


def collect(device: torch.device) -> dict[str, Any]:
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_benchmark_limit": torch.backends.cudnn.benchmark_limit,  # 0: every engine timed
        **{f"version_{k}": v for k, v in library_versions().items()},
    }
    if device.type == "cuda":
        env.update(gpu_environment(device))
    return env


def sm_clock_mhz(device: torch.device) -> int | None:
    """The GPU's SM clock now (NVML); None without NVML. Read as the timed loop ends, while the
    card is still at its working clock: a row timed on a throttled card shows it."""
    try:
        from benchmark.measure.memory import _nvml, nvml_handle

        nvml = _nvml()
        return int(nvml.nvmlDeviceGetClockInfo(nvml_handle(device), nvml.NVML_CLOCK_SM))
    except Exception:
        return None


def gpu_environment(device: torch.device) -> dict[str, Any]:
    props = torch.cuda.get_device_properties(device)
    env: dict[str, Any] = {
        "gpu": props.name,
        "gpu_memory_mb": props.total_memory // (1024 * 1024),
        "gpu_capability": f"{props.major}.{props.minor}",
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
    }
    env["gpu_uuid"] = f"GPU-{props.uuid}"
    try:
        from benchmark.measure.memory import _nvml, nvml_handle

        handle = nvml_handle(device)
        pynvml = _nvml()
        env["driver"] = pynvml.nvmlSystemGetDriverVersion()
        env["sm_clock_mhz"] = sm_clock_mhz(device)
        env["mem_clock_mhz"] = pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_MEM)
    except Exception as exc:  # NVML missing or refused: the torch facts above still stand
        env["nvml_error"] = str(exc)
    return env
