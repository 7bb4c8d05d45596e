"""Tests are offline and CPU-only: the hubs' offline switches are set for the whole session,
so a test that reaches for the network fails instead of downloading. Every GPU is hidden,
except under `make test-gpu` (BENCHMARK_GPU_TESTS=1), which runs tests/gpu on a GPU machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
for key, value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "MLFLOW_ENABLE_TELEMETRY": "false",
}.items():
    os.environ[key] = value
if os.environ.get("BENCHMARK_GPU_TESTS") != "1":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""


@pytest.fixture(autouse=True)
def no_inherited_tracking_uri():
    """mlflow.set_tracking_uri() exports MLFLOW_TRACKING_URI into this process's environment,
    which the benchmark honours: one test's store must not leak into the next test's cells
    (cleared before and after each test, so module-scoped sweeps start clean too)."""
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield
    os.environ.pop("MLFLOW_TRACKING_URI", None)


# Short budgets: tests check behaviour, not speed (speed lives in docs/results/).
FAST_TIMING = ["timing.warmup_iters=2", "timing.warmup_s=0.05", "timing.min_iters=5", "timing.min_s=0.1"]


def run_benchmark(
    cwd: Path, *overrides: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`python -m benchmark` as a user runs it, in `cwd` (outputs and mlflow.db land there)."""
    return subprocess.run(
        [sys.executable, "-m", "benchmark", *overrides],
        cwd=cwd,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.fixture(scope="session")
def digits():
    from benchmark.data import load_dataset

    return load_dataset("digits", ROOT / "data")


def compose_cell(*overrides: str):
    """The composed config of one cell, as `python -m benchmark <overrides>` would build it."""
    from benchmark.config import compose_config

    return compose_config(list(overrides))


def fcn_prepare(tmp_path: Path, *overrides: str, device: str = "cpu"):
    """The worker's `prepare` (load, FP32 copy, build) of an FCN cell on the bundled digits,
    without the artifact cache: what a cell's worker holds before its first call."""
    from omegaconf import OmegaConf

    from benchmark.worker import run as worker

    cfg = compose_cell("model=fcn", f"device={device}", "eval_samples=32", "artifact_cache=false", *overrides)
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    cfg.data_dir, cfg.cache_dir = str(ROOT / "data"), str(tmp_path / "cache")
    return worker.prepare(cfg, tmp_path / "work")


WORDS = ["great", "awful", "movie", "plot", "good", "bad", "the", "was"]  # tiny tokenizers' vocabulary


def write_imdb_acl(root):
    for split in ("train", "test"):
        for label, text in (("neg", "awful bad plot"), ("pos", "great good movie")):
            folder = root / "imdb" / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i in range(6):
                (folder / f"{i}_1.txt").write_text(f"{text} {WORDS[i]}")


BACKENDS = ("eager", "torchscript", "compile", "onnxruntime")


@pytest.fixture(scope="session")
def sweep(tmp_path_factory):
    """A small CPU sweep (2 models x 4 backends x 2 batch sizes), shared by the sweep and report tests."""
    cwd = tmp_path_factory.mktemp("sweep")
    done = run_benchmark(
        cwd,
        "-m",
        "model=fcn,lstm",
        f"backend={','.join(BACKENDS)}",
        "batch_size=1,4",
        "precision=fp32",
        "device=cpu",
        "eval_samples=100",
        *FAST_TIMING,
    )
    return cwd, done


def pytest_report_header(config) -> list[str]:
    """Under `make test-gpu`: the card, driver and library versions, atop the committed log."""
    if os.environ.get("BENCHMARK_GPU_TESTS") != "1":
        return []
    import torch

    from benchmark.measure.environment import collect

    if not torch.cuda.is_available():
        return ["no CUDA GPU visible"]
    env = collect(torch.device("cuda"))
    keys = ("gpu", "gpu_capability", "driver", "cuda", "cudnn", "sm_clock_mhz", "mem_clock_mhz")
    versions = ", ".join(
        f"{k.removeprefix('version_')} {v}" for k, v in env.items() if k.startswith("version_")
    )
    return [", ".join(f"{k}: {env.get(k)}" for k in keys), versions]


# What makes a test cost more than a second or two: starting benchmark processes, or building
# artifacts (export, trace, compile, quantize) in the test itself.
COSTLY_CALLS = ("run_benchmark(", "subprocess.", "Popen(", "build(", "prepare(", ".export(")


def costly(function) -> bool:
    import inspect

    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return any(call in source for call in COSTLY_CALLS)


def pytest_collection_modifyitems(items):
    """`slow`: a test that starts benchmark processes (a cell, a sweep, a server) or builds
    artifacts, itself or through a fixture; `make test-fast` leaves them out, `make test`
    (what CI runs) runs everything."""
    for item in items:
        fixtures = [d.func for defs in item._fixtureinfo.name2fixturedefs.values() for d in defs]
        if any(costly(f) for f in [getattr(item, "function", None), *fixtures]):
            item.add_marker(pytest.mark.slow)
