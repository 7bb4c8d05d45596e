"""Typed schemas for the Hydra config. Registered in the ConfigStore and merged first by
conf/config.yaml, so a misspelt key or a wrongly typed value fails when the config is composed."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

DEVICES = ("auto", "cpu", "cuda")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")


@dataclass
class ModelConfig:
    name: str = MISSING
    family: str = MISSING  # loader in benchmark.models: custom | torchvision | hf | t5 | causal_lm
    arch: str = MISSING  # architecture inside the family
    dataset: str = "digits"  # default dataset of this model
    pretrained: bool = True  # false: random weights from the architecture's config, no download
    quantization: str = "dynamic"  # ORT int8 scheme that suits the architecture: dynamic | static
    input_kind: str = "image"  # image | text
    image_size: Optional[int] = None  # images the model expects (None: whatever the dataset gives)
    max_length: int = 128  # text: tokens per sequence (fixed padding, so one shape per cell)
    prompt: str = ""  # text: prepended to every example before tokenization (T5's task prefix)
    vocab_size: Optional[int] = None  # text: for synthetic token ids
    num_classes: Optional[int] = None  # None: from the dataset
    factory: Optional[str] = None  # family `module`: package.module:function returning an nn.Module
    input_shape: Optional[list[int]] = None  # one sample, synthetic inputs (default: 3 x image_size^2)
    path: Optional[str] = None  # family `onnx`: the user's ONNX file
    only_backends: dict[str, str] = field(default_factory=dict)  # backend name -> why no other runs it
    unsupported_precisions: dict[str, str] = field(default_factory=dict)  # precision name -> reason
    options: dict[str, Any] = field(default_factory=dict)  # keyword arguments of the architecture


@dataclass
class BackendConfig:
    name: str = MISSING
    _target_: str = MISSING  # the Backend class
    precisions: dict[str, list[str]] = field(default_factory=dict)  # device -> precisions it can run
    unsupported_models: dict[str, str] = field(default_factory=dict)  # model name -> reason
    requires: dict[str, str] = field(default_factory=dict)  # python module -> how to install it
    options: dict[str, Any] = field(default_factory=dict)  # keyword arguments of the Backend class


@dataclass
class PrecisionConfig:
    name: str = MISSING
    dtype: str = "float32"  # dtype of weights and floating inputs
    quantized: bool = False
    min_compute_capability: Optional[float] = None  # CUDA: the oldest GPU generation that has it


@dataclass
class TimingConfig:
    warmup_iters: int = 10
    warmup_s: float = 1.0
    min_iters: int = 50
    min_s: float = 2.0
    max_s: float = 60.0  # stop the timed loop past this even if min_iters is not reached


@dataclass
class PhaseTimeouts:
    """Seconds each phase of a cell may take before its worker is killed (status `timeout`)."""

    load: float = 600.0  # imports, data, weights
    reference: float = 900.0  # the FP32 eager pass over the eval inputs
    build: float = 1800.0  # export, quantization, compilation (max-autotune takes minutes)
    eval: float = 900.0  # scoring the artifact on the eval inputs
    timing: float = 600.0  # warm-up and timed loop (timing.max_s bounds the loop itself)


def _per_precision(fp: float, quantized: float) -> dict[str, float]:
    return {"fp32": fp, "fp16": fp, "bf16": fp, "int8": quantized, "fp8": quantized}


@dataclass
class QualityGateConfig:
    """A row below these is measured but `invalid`: never fastest, never a target. MLPerf's rule
    (at least 99% of FP32 quality), a looser stated bound for int8 and fp8. Keys: precisions."""

    # trained or pretrained weights only (random networks' near-tied logits flip with any rounding)
    min_top1_agreement: dict[str, float] = field(default_factory=lambda: _per_precision(0.99, 0.95))
    min_f1_ratio: dict[str, float] = field(
        default_factory=lambda: _per_precision(0.99, 0.98)
    )  # labelled data
    # every row: a faithful cast stays well under these; all-zero outputs are 1.0, TF32 "fp32" ~1e-4
    max_rel_error: dict[str, float] = field(
        default_factory=lambda: {
            "fp32": 1e-4,
            "tf32": 1e-2,
            "fp16": 0.05,
            "bf16": 0.2,
            "int8": 0.5,
            "fp8": 0.5,
        }
    )


@dataclass
class BenchmarkConfig:
    model: ModelConfig = MISSING
    backend: BackendConfig = MISSING
    precision: PrecisionConfig = MISSING
    batch_size: int = 1
    device: str = "auto"
    seed: int = 0
    dataset: Optional[str] = None
    data_dir: str = "data"
    eval_samples: Optional[int] = None
    threads: Optional[int] = None
    tf32: bool = False  # TF32 for fp32 arithmetic; fp16/bf16 rows run with the switches on (tf32_in_force)
    cudnn_benchmark: bool = True  # cuDNN times its convolution algorithms per shape (CUDA), in the first call
    memory_format: str = (
        "auto"  # auto | channels_last | contiguous: the layout of a conv net's weights and images
    )
    timing: TimingConfig = field(default_factory=TimingConfig)
    timeout_s: PhaseTimeouts = field(default_factory=PhaseTimeouts)
    quality_gate: QualityGateConfig = field(default_factory=QualityGateConfig)
    resume: bool = False  # a sweep re-run skips the cells its earlier run already recorded
    cache_dir: str = "outputs/cache"
    artifact_cache: bool = (
        True  # keep built artifacts (ONNX, AOTI packages, engines) under cache_dir/artifacts
    )
    tracking_uri: Optional[str] = None
    experiment: Optional[str] = None  # None: the sweep's name (its +sweep preset, else the models swept)
    fault: Optional[str] = None


HALF_DTYPES = ("float16", "bfloat16")


def tf32_in_force(cfg) -> bool:
    """The TF32 switches a row runs with. The `tf32` key decides for rows with fp32 arithmetic.
    A row whose float dtype is fp16 or bf16 has no fp32 matmul or convolution for TF32 to
    touch; there the switches only choose engines, and with them off cuDNN (through torch's
    cudnn.allow_tf32 and ONNX Runtime's use_tf32) keeps half convolutions off the tensor cores
    (H200, ResNet18 fp16 batch 64: ORT 0.061 -> 0.031 ms/sample, compile_cudagraphs 0.0202 ->
    0.0182; docs/results/speed). So those rows run with them on, and their records say so."""
    return bool(cfg.tf32) or cfg.precision.dtype in HALF_DTYPES


def visible_gpus() -> list[str]:
    """This host's GPUs as CUDA_VISIBLE_DEVICES entries: that variable's own list when set."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:  # "" and "-1" hide every GPU
        return [entry.strip() for entry in listed.split(",") if entry.strip() and entry.strip() != "-1"]
    try:
        import pynvml

        pynvml.nvmlInit()
        return [str(index) for index in range(pynvml.nvmlDeviceGetCount())]
    except Exception:
        return []


def gpu_count() -> int:
    """For `hydra.launcher.n_jobs: ${gpu_count:}`: one job per visible GPU (at least one)."""
    return max(1, len(visible_gpus()))


def register_configs() -> None:
    from omegaconf import OmegaConf

    ConfigStore.instance().store(name="benchmark_schema", node=BenchmarkConfig)
    # conf/hydra/launcher/gpus.yaml: one job per GPU this host shows
    OmegaConf.register_new_resolver("gpu_count", gpu_count, replace=True)
    OmegaConf.register_new_resolver("group_help", group_help, replace=True)  # `--help`


HELP_GROUPS = {
    "model": "model=<option>",
    "backend": "backend=<option>",
    "precision": "precision=<option>",
    "sweep": "+sweep=<option>  (a whole grid)",
    "hydra/launcher": "hydra/launcher=<option>  (besides basic: one cell at a time)",
}


def group_help() -> str:
    """Each config group's options, one line each, described by their YAML's first comment."""
    lines = []
    for group, usage in HELP_GROUPS.items():
        lines.append(f"{group}: {usage}")
        for path in sorted((conf_dir() / group).glob("*.yaml")):
            comments = [
                line.lstrip("# ").strip() for line in path.read_text().splitlines() if line.startswith("#")
            ]
            about = next((c for c in comments if c and not c.startswith("@package")), "")
            lines.append(f"  {path.stem:<20} {textwrap.shorten(about, 100, placeholder=' ...')}")
        lines.append("")
    return "\n".join(lines)


def conf_dir() -> Path:
    """conf/ of a checkout, else the copy an installed wheel carries inside the package."""
    checkout = Path(__file__).resolve().parent.parent / "conf"
    return checkout if checkout.is_dir() else Path(__file__).resolve().parent / "conf"


def compose_config(overrides: list[str]):
    """One cell's config as `python -m benchmark <overrides>` composes it (Hydra's struct config,
    interpolations left as they are)."""
    from hydra import compose, initialize_config_dir

    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def compose_cell(overrides: list[str]):
    """compose_config, resolved into a plain config (for the scripts that build a cell outside
    the runner: bare_loop, ort_probe, compile_probe)."""
    from omegaconf import OmegaConf

    return OmegaConf.create(OmegaConf.to_container(compose_config(overrides), resolve=True))
