"""Does the harness cost anything it shouldn't? Times one cell twice: by the harness
(`python -m benchmark`) and in a bare loop over the same artifact with CUDA events and no
harness, one request at a time as the harness does (event, call, event, wait). Prints both
and their gap; a third column gives the pipelined figure (N calls back to back, one wait),
which hides the host's launch time behind the GPU's work and so is not the same quantity.

    python scripts/bare_loop.py model=resnet model.pretrained=false dataset=synthetic \\
        backend=eager precision=fp16 batch_size=64 device=cuda
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmark.config import conf_dir, register_configs  # noqa: E402
from benchmark.worker.run import prepare  # noqa: E402

WARMUP, ITERATIONS, REPEATS = 50, 200, 5


def harness_mean_ms(overrides: list[str]) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "benchmark", *overrides], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    record_file = next(
        line.split("record: ", 1)[1] for line in out.splitlines() if line.startswith("record: ")
    )
    record = json.loads(Path(record_file).read_text())
    if record["status"] != "ok":
        raise SystemExit(f"harness cell ended {record['status']}: {record['message']}")
    return record["metrics"]["latency_mean_ms"]


def bare_mean_ms(overrides: list[str]) -> tuple[float, float]:
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    with tempfile.TemporaryDirectory() as workdir:
        p = prepare(cfg, Path(workdir))
        x = p.inputs(p.eval_batches[0])
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        per_call, pipelined = [], []
        with torch.inference_mode():
            p.first_call(x)  # as the harness does: TF32 back to the config's before any timed call
            for _ in range(WARMUP):
                p.artifact.run(*x)
            torch.cuda.synchronize()
            for _ in range(ITERATIONS * REPEATS):
                start.record()
                p.artifact.run(*x)
                end.record()
                end.synchronize()
                per_call.append(start.elapsed_time(end))
            for _ in range(REPEATS):
                start.record()
                for _ in range(ITERATIONS):
                    p.artifact.run(*x)
                end.record()
                end.synchronize()
                pipelined.append(start.elapsed_time(end) / ITERATIONS)
    return statistics.fmean(per_call), statistics.median(pipelined)


def main(overrides: list[str]) -> None:
    harness = harness_mean_ms(overrides)
    bare, pipelined = bare_mean_ms(overrides)
    gap = (harness - bare) / bare * 100
    print(
        f"| {' '.join(overrides)} | {harness:.4f} | {bare:.4f} | {gap:+.1f}% | {pipelined:.4f} |", flush=True
    )


if __name__ == "__main__":
    main(sys.argv[1:])
