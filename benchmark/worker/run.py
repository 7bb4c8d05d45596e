"""The child process that measures one cell: `python -m benchmark.worker <job_dir>`.

It reads <job_dir>/cell.yaml (the resolved config, device already decided by the parent),
and writes <job_dir>/result.json. Phases are announced in <job_dir>/phase for the parent's
memory sampler and its per-phase timeouts: load -> build -> eval -> timing -> reference."""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


def set_phase(job_dir: Path, phase: str, detail: str = "") -> None:
    (job_dir / "phase").write_text(f"{phase} {detail}".strip())


def on_device(inputs, device, dtype=None):
    """Inputs on the device; floating ones cast to `dtype` (token ids stay integers)."""
    return tuple(
        t.to(device, dtype=dtype if (dtype is not None and t.is_floating_point()) else None) for t in inputs
    )


def cuda_context_mb(device) -> float:
    """What the CUDA context alone costs this process (NVML), before any model is loaded."""
    import torch

    from benchmark.measure.memory import MB, own_gpu_bytes

    torch.zeros(1, device=device)
    torch.cuda.synchronize(device)
    used = own_gpu_bytes(device)
    return (used or 0) / MB


FP32_COPY = "fp32_reference.pt"  # the FP32 model, kept on disk while the artifact runs


@dataclass
class Prepared:
    """Everything the run phase needs: the built artifact and the eval batches. The FP32
    model is not resident: it waits on disk (`reference_summaries` loads it after timing), so
    the memory measured while the artifact is scored and timed is the artifact's alone."""

    device: Any
    splits: Any
    loaded: Any  # the LoadedModel, without its module (the artifact owns what it needs)
    eval_batches: list
    meter: Any  # measure.quality: FidelityMeter (classifiers) or NextTokenMeter (language models)
    fp32_file: Path
    artifact: Any
    metrics: dict[str, float]
    tf32: bool

    @property
    def sync(self):
        import torch

        cuda = self.device.type == "cuda"
        return self.artifact.synchronize or (torch.cuda.synchronize if cuda else (lambda: None))

    def inputs(self, batch) -> tuple:
        """A batch as the artifact takes it, made as normal tensors even inside inference mode:
        the build's example was made outside it, and Dynamo guards on the dispatch keys that tell
        the two kinds apart, so inference tensors would make a compiled row's first call compile
        again (a minute and more for torchao's subclasses, whose graphs Inductor cannot cache)."""
        import torch

        from benchmark.backends.torch_common import to_channels_last

        with torch.inference_mode(False):
            inputs = on_device(batch.inputs, self.device, self.artifact.input_dtype)
            return to_channels_last(inputs) if self.artifact.channels_last_inputs else inputs

    def first_call(self, inputs: tuple) -> float:
        """The artifact's first call, in ms (lazy compilers finish here). Then TF32 is set back to
        the config's: a backend's library may flip it while it builds or compiles, and every
        scored or timed call, the harness's or a bare loop's, runs as configured. A compiled graph
        is guarded on TF32, so a backend undoes such a flip before it compiles (torchao 0.17's
        quantize_: backends/torchao.py), or this pin would cost one more compile."""
        from benchmark.measure import environment

        t0 = time.perf_counter()
        self.artifact.run(*inputs)
        self.sync()
        elapsed_ms = (time.perf_counter() - t0) * 1e3
        self.artifact.read_first_call_evidence()
        environment.pin_tf32(self.tf32)
        return elapsed_ms

    def reference_summaries(self) -> list:
        """The FP32 eager model's outputs on the eval inputs, summarised by the meter (on the
        host), from the copy saved before the build; the copy is deleted afterwards."""
        import torch

        model = torch.load(self.fp32_file, map_location=self.device, weights_only=False)
        with torch.inference_mode():
            summaries = [
                self.meter.summarize(model(*on_device(b.inputs, self.device)), b) for b in self.eval_batches
            ]
        self.fp32_file.unlink(missing_ok=True)
        return summaries


def prepare(cfg: DictConfig, workdir: Path, on_phase=lambda phase, detail="": None) -> Prepared:
    """Load data and model, keep an FP32 copy on disk, build the artifact (timed), and free
    whatever the artifact does not hold (a file-backed artifact holds no torch model)."""
    import gc

    import torch

    from benchmark.backends import BuildContext
    from benchmark.backends.torch_common import wants_channels_last
    from benchmark.config import tf32_in_force
    from benchmark.data import batches, load_dataset
    from benchmark.measure import environment
    from benchmark.measure.quality import meter_for
    from benchmark.models import load_model

    device = torch.device(cfg.device)
    tf32 = tf32_in_force(cfg)
    threads = environment.configure_runtime(cfg.threads, tf32, cfg.seed, cfg.cudnn_benchmark)
    metrics: dict[str, float] = {}
    if device.type == "cuda":
        metrics["cuda_context_mb"] = cuda_context_mb(device)
    on_phase("load")
    t0 = time.perf_counter()
    dataset = cfg.dataset or cfg.model.dataset
    splits = load_dataset(
        dataset, Path(cfg.data_dir), cfg.seed, Path(cfg.cache_dir), cfg.model, cfg.eval_samples
    )
    loaded = load_model(cfg.model, splits, Path(cfg.cache_dir))
    metrics["load_s"] = time.perf_counter() - t0
    workdir.mkdir(parents=True, exist_ok=True)
    fp32_file = workdir / FP32_COPY
    torch.save(loaded.module, fp32_file)  # backends may cast or quantize the module in place
    model, loaded.module = loaded.module.to(device), None
    eval_batches = list(batches(splits.eval, cfg.batch_size, cfg.eval_samples))
    if eval_batches and eval_batches[0].valid < cfg.batch_size:  # said on the cell's line too
        n = eval_batches[0].valid
        loaded.facts["padded_eval"] = (
            f"batch_size={cfg.batch_size} > {n} eval samples: one batch, the {n} samples padded with "
            f"copies of the last ({1 - n / cfg.batch_size:.0%} copies); scored on the {n}, timed on the whole batch"
        )

    on_phase("build")
    channels_last = wants_channels_last(cfg.memory_format, device, model)
    ctx = BuildContext(
        model=model,
        example=on_device(eval_batches[0].inputs, device),
        precision=cfg.precision,
        device=device,
        calibration=lambda: calibration_inputs(batches(splits.train, cfg.batch_size), on_phase),
        quantization=cfg.model.quantization,
        workdir=workdir,
        threads=threads,
        tf32=tf32,
        cudnn_benchmark=cfg.cudnn_benchmark,
        channels_last=channels_last,
    )
    t0 = time.perf_counter()
    artifact = build_artifact(cfg, ctx)
    metrics["build_s"] = time.perf_counter() - t0
    if "export_s" in artifact.facts:
        metrics["export_s"] = artifact.facts.pop("export_s")
    del ctx, model  # the artifact keeps what it needs; a file-backed one no torch module at all
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    meter = meter_for(loaded.task, loaded.to_scores)
    return Prepared(device, splits, loaded, eval_batches, meter, fp32_file, artifact, metrics, tf32)


def calibration_inputs(train_batches, on_phase):
    """The train split's inputs for INT8 calibration, counted in the phase file as they go."""
    from benchmark.worker.phases import PhaseProgress

    progress = PhaseProgress(on_phase, "build", None, "calibration batches")
    for done, batch in enumerate(train_batches, 1):
        progress.tick(done)
        yield batch.inputs


def build_artifact(cfg: DictConfig, ctx):
    """Backends whose artifact is files go through the artifact cache (unless artifact_cache=false)."""
    from benchmark.backends import FileBackend, create_backend
    from benchmark.backends.artifact_cache import ArtifactCache, CacheKey, weights_digest

    backend = create_backend(cfg.backend)
    if not (cfg.artifact_cache and isinstance(backend, FileBackend)):
        return backend.build(ctx)
    calibration = f"{cfg.dataset or cfg.model.dataset} train split, seed {cfg.seed}"
    weights = weights_digest(ctx.model)  # the FP32 model, before the backend casts it
    key = CacheKey.of(ctx, weights, cfg.backend, calibration)
    return ArtifactCache(Path(cfg.cache_dir) / "artifacts").build(backend, ctx, key)


def measure_cell(cfg: DictConfig, job_dir: Path) -> dict[str, Any]:
    import torch

    from benchmark.backends import LabelMismatch
    from benchmark.measure import environment
    from benchmark.measure.energy import GpuEnergy
    from benchmark.measure.latency import (
        LatencyStats,
        OtherCpuWork,
        TimingBudget,
        cuda_graph_launches,
        time_calls,
        wall_metrics,
    )
    from benchmark.measure.memory import MB, host_peak_rss_mb, own_gpu_bytes
    from benchmark.worker.faults import inject, inject_after_timing
    from benchmark.worker.phases import PhaseProgress

    p = prepare(cfg, job_dir / "artifact", on_phase=partial(set_phase, job_dir))
    artifact, sync, metrics, device = p.artifact, p.sync, p.metrics, p.device
    cuda = device.type == "cuda"

    set_phase(job_dir, "eval")
    inject(cfg.fault)
    with torch.inference_mode():
        timing_inputs = p.inputs(p.eval_batches[0])
        loaded_bytes = own_gpu_bytes(device) if cuda else None
        if loaded_bytes:  # the context plus what the artifact holds before it runs (weights, engine)
            metrics["vram_loaded_mb"] = loaded_bytes / MB
        metrics["first_call_ms"] = p.first_call(timing_inputs)

        progress = PhaseProgress(partial(set_phase, job_dir), "eval", len(p.eval_batches), "batches")
        summaries = []
        for done, batch in enumerate(p.eval_batches, 1):
            summaries.append(p.meter.summarize(artifact.run(*p.inputs(batch)), batch))
            progress.tick(done)

        set_phase(job_dir, "timing")

        def call() -> None:
            artifact.run(*timing_inputs)

        # CUDA events time the calls on torch's current stream; an artifact with a stream of
        # its own (`artifact.synchronize`) is timed by the host's clock around its own wait
        cuda_events = cuda and artifact.synchronize is None
        budget = TimingBudget(**OmegaConf.to_container(cfg.timing))
        # both read around the loop, never inside it
        with OtherCpuWork() as other_work, GpuEnergy(device) as energy:
            warmup, timed = time_calls(call, sync, budget, cuda_events)
        clock = environment.sm_clock_mhz(device) if cuda else None
        if clock:
            metrics["sm_clock_timed_mhz"] = float(clock)
        if other_work.other_cores is not None:
            metrics["host_other_busy_cores"] = other_work.other_cores
        timed_bytes = own_gpu_bytes(device) if cuda else None
        if timed_bytes:  # still in the timing phase, where the parent's sampler keeps quiet
            metrics["vram_timed_mb"] = timed_bytes / MB
        # warm-up calls are the same calls as the timed ones: the window's energy is theirs too
        metrics.update(energy.metrics((len(warmup.ms) + len(timed.ms)) * cfg.batch_size))
        # Timing ends here: the headline peaks (eval and timing phases) and the whole-life peak
        # stop before any post-processing. The parent polls the phase every 10 ms: wait out two
        # polls, so no later sample is taken for the timing phase.
        metrics["peak_rss_process_mb"] = host_peak_rss_mb()
        set_phase(job_dir, "after_timing")
        time.sleep(0.02)
        inject_after_timing(cfg.fault)
        if cuda:  # after the timed loop: the proof of CUDA graphs costs a profiled call or two
            launches = cuda_graph_launches(lambda: (call(), sync()))
            artifact.facts["cuda_graph_launches_per_call"] = launches
            if artifact.expects_cuda_graphs and launches == 0:
                raise LabelMismatch(
                    "no CUDA graph was replayed in the timed calls: the row ran without graphs"
                )
    metrics.update(LatencyStats.from_samples(timed.ms, cfg.batch_size).as_metrics())
    metrics.update(wall_metrics(timed))
    metrics["warmup_iterations"] = float(len(warmup.ms))
    artifact.facts["latency_clock"] = timed.clock
    if p.loaded.extra_metrics is not None:  # the model's own, after the timed loop
        metrics.update(p.loaded.extra_metrics(artifact, timing_inputs, sync))
    if cuda:
        metrics["torch_max_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        metrics["torch_max_reserved_mb"] = torch.cuda.max_memory_reserved(device) / 2**20

    set_phase(job_dir, "reference")  # after every figure above: nothing of it is resident before
    quality = p.meter
    for summary, reference in zip(summaries, p.reference_summaries(), strict=True):
        quality.compare(summary, reference)
    metrics.update(quality.compute())
    facts = {"weights": p.loaded.weights, "dataset": p.splits.name, **p.loaded.facts, **artifact.facts}
    facts["precision_switches"] = environment.precision_switches(artifact.facts.get("precision_switches"))
    # F1 of random weights means nothing; a language model has no classes
    scored = p.splits.labelled and p.loaded.weights != "random" and quality.predictions is not None
    return {
        "metrics": metrics,
        "predictions": quality.predictions,
        "reference_predictions": quality.reference_predictions,
        "labels": [int(label) for b in p.eval_batches for label in b.labels[: b.valid]] if scored else None,
        "num_classes": p.splits.num_classes,
        "facts": facts,
        "environment": environment.collect(device),
        "latencies_ms": timed.ms,
    }


def classify_failure(exc: BaseException) -> str:
    import torch

    from benchmark.backends import UnsupportedCell

    if isinstance(exc, UnsupportedCell):
        return "skipped"
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return "oom"
    if isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc):  # torch's host allocator
        return "oom"
    return "error"


def main(job_dir: Path) -> int:
    from benchmark.worker import pin_worker_from_env

    pin_worker_from_env()
    cfg = OmegaConf.load(job_dir / "cell.yaml")
    try:
        result = {"status": "ok", **measure_cell(cfg, job_dir)}
    except Exception as exc:  # every failure becomes a record; the parent decides nothing from a traceback
        traceback.print_exc()
        result = {
            "status": classify_failure(exc),
            "error_type": type(exc).__name__,
            "message": str(exc).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__,
        }
    tmp = job_dir / "result.json.tmp"
    tmp.write_text(json.dumps(result, default=str))
    os.replace(tmp, job_dir / "result.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
