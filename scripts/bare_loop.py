"""Does the harness cost anything it shouldn't, and is its fastest row really the fastest way?

One cell:   python scripts/bare_loop.py model=resnet model.pretrained=false dataset=synthetic \\
                backend=eager precision=fp16 batch_size=64 device=cuda [--recipe]
    times the cell by the harness (`python -m benchmark`: CUDA events, and the host's wait beside)
    and in a bare loop over the same artifact with CUDA events and no harness, one request at a
    time as the harness does (event, call, event, wait); then the same artifact by the host's
    clock around call and sync (the harness's CUDA clock before it took CUDA events); then the
    pipelined figure (N calls back to back, one wait), which hides the host's launch time behind
    the GPU's work and so is not the same quantity; then the bare loop again after the pass over
    the eval batches the harness runs before timing; with --recipe, the hand-written recipe at
    the cell's batch size. Prints ONE_CELL_HEADER's columns. The harness's worker and this
    process each build the artifact: each build is a draw of cuDNN's algorithm search, so run a
    cell several times before reading a gap (gpu_trust.sh draws).

A sweep:    python scripts/bare_loop.py --records DIR [DIR ...] --out TABLE.md [--recipe]
    for each (model, batch size) of the sweep's records, takes the fastest row that passed its
    quality gate, rebuilds its artifact from the record's own config and times it in the bare
    loop; the harness figure is the record's. --recipe also times the best-known hand-written
    recipe on the same card (torch.compile reduce-overhead, fp16, channels_last images,
    cudnn.benchmark; BERT with all-ones attention masks, as optimum-benchmark times it), with
    the same random weights and synthetic inputs a GPU machine without downloads allows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmark.sweep.job import compiler_caches  # noqa: E402
from benchmark.worker.run import prepare  # noqa: E402

WARMUP, ITERATIONS, REPEATS = 50, 200, 5


def event_loop(call: Callable[[], object]) -> list[float]:
    """ms per call, each call between two CUDA events and waited for (as the harness times)."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    with torch.inference_mode():
        for _ in range(WARMUP):
            call()
        torch.cuda.synchronize()
        times = []
        for _ in range(ITERATIONS * REPEATS):
            start.record()
            call()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    return times


def pipelined_ms(call: Callable[[], object]) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    per_call = []
    with torch.inference_mode():
        for _ in range(REPEATS):
            start.record()
            for _ in range(ITERATIONS):
                call()
            end.record()
            end.synchronize()
            per_call.append(start.elapsed_time(end) / ITERATIONS)
    return statistics.median(per_call)


class ArtifactCall:
    """The cell's artifact, built by the worker's own `prepare`, called on its first eval batch."""

    def __init__(self, cfg, workdir: Path):
        import os

        # as the worker does: a repeated build reuses kernels
        os.environ.update(compiler_caches(cfg.cache_dir))
        self.prepared = prepare(cfg, workdir)
        self.x = self.prepared.inputs(self.prepared.eval_batches[0])
        with torch.inference_mode():
            self.prepared.first_call(self.x)  # as the harness does: TF32 back to the config's first

    def __call__(self) -> object:
        return self.prepared.artifact.run(*self.x)

    def eval_pass(self) -> None:
        """What the harness runs between the first call and timing: every eval batch, each a
        fresh input tensor (a CUDA-graph row copies each into its static inputs)."""
        p = self.prepared
        with torch.inference_mode():
            for batch in p.eval_batches:
                p.artifact.run(*p.inputs(batch))
            p.sync()


def recipe_call(model: str, batch_size: int, seq_len: int) -> Callable[[], object]:
    """The best-known twenty lines, written without the project's code."""
    torch.backends.cudnn.benchmark = True
    if model == "bert":
        from transformers import AutoModelForSequenceClassification, BertConfig

        net = AutoModelForSequenceClassification.from_config(BertConfig(), attn_implementation="sdpa")
        ids = torch.randint(0, 30522, (batch_size, seq_len), device="cuda")
        args = (ids, torch.ones_like(ids))
        net = net.eval().cuda().half()
    else:
        import torchvision

        net = getattr(torchvision.models, model)().eval().cuda().half().to(memory_format=torch.channels_last)
        image = torch.randn(batch_size, 3, 224, 224, device="cuda", dtype=torch.half)
        args = (image.to(memory_format=torch.channels_last),)
    compiled = torch.compile(net, mode="reduce-overhead")
    return lambda: compiled(*args)


def best_rows(record_dirs: list[Path]) -> dict[tuple[str, int], dict]:
    """The fastest measured row per (model, batch size) that passed its quality gate."""
    best: dict[tuple[str, int], dict] = {}
    for folder in record_dirs:
        for path in folder.rglob("record.json"):
            record = json.loads(path.read_text())
            if record["status"] != "ok" or record["facts"].get("quality_gate") != "pass":
                continue
            key = (record["model"], record["batch_size"])
            ms = record["metrics"]["latency_ms_per_sample"]
            if key not in best or ms < best[key]["metrics"]["latency_ms_per_sample"]:
                best[key] = record
    return best


def label(record: dict) -> str:
    """backend, precision and what else makes the row (its layout, Inductor freezing, capture)."""
    facts = record["facts"]
    suffix = " channels_last" if facts.get("memory_format") == "channels_last" else ""
    suffix += " freezing" if facts.get("freezing") else ""
    suffix += " whole_call" if facts.get("graph_capture") == "whole_call" else ""
    return f"{record['backend']} {record['precision']}{suffix}"


def sweep_table(record_dirs: list[Path], out: Path, with_recipe: bool) -> None:
    from omegaconf import OmegaConf

    header = "| model | batch | best row | harness ms/sample (mean / p50) | bare loop ms/sample (mean / p50) | harness / bare (mean) |"
    lines = [header, "|---|---|---|---|---|---|"]
    if with_recipe:
        lines = [
            header + " recipe ms/sample (p50) | best p50 / recipe |",
            "|---|---|---|---|---|---|---|---|",
        ]
    for (model, batch), record in sorted(best_rows(record_dirs).items()):
        m = record["metrics"]
        cfg = OmegaConf.create(record["config"])
        with tempfile.TemporaryDirectory() as workdir:
            try:
                times = event_loop(ArtifactCall(cfg, Path(workdir)))
            except Exception as exc:  # a row the bare loop cannot rebuild is said, not skipped
                lines.append(
                    f"| {model} | {batch} | {label(record)} | not rebuilt: {type(exc).__name__}: {exc} |"
                )
                continue
        harness_mean, harness_p50 = m["latency_mean_ms"] / batch, m["latency_p50_ms"] / batch
        bare_mean, bare_p50 = statistics.fmean(times) / batch, statistics.median(times) / batch
        row = (
            f"| {model} | {batch} | {label(record)} | {harness_mean:.4f} / {harness_p50:.4f} | "
            f"{bare_mean:.4f} / {bare_p50:.4f} | {harness_mean / bare_mean:.3f} |"
        )
        if with_recipe:
            arch = "bert" if model == "bert" else model
            recipe = statistics.median(event_loop(recipe_call(arch, batch, cfg.model.max_length))) / batch
            row += f" {recipe:.4f} | {harness_p50 / recipe:.3f} |"
        lines.append(row)
        print(row, flush=True)
        torch.cuda.empty_cache()
    out.write_text("\n".join(lines) + "\n")
    print(f"table: {out}")


def harness_metrics(overrides: list[str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmark", *overrides], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    record_file = next(
        line.split("record: ", 1)[1] for line in out.splitlines() if line.startswith("record: ")
    )
    record = json.loads(Path(record_file).read_text())
    if record["status"] != "ok":
        raise SystemExit(f"harness cell ended {record['status']}: {record['message']}")
    return record["metrics"]


def wall_loop_ms(call: Callable[[], object]) -> float:
    """The bare artifact timed as the harness timed CUDA rows before it took CUDA events: the
    host's clock around the call and torch.cuda.synchronize, with the harness's default budget."""
    from benchmark.measure.latency import TimingBudget, time_calls

    with torch.inference_mode():
        _, timed = time_calls(call, torch.cuda.synchronize, TimingBudget())
    return statistics.fmean(timed.ms)


ONE_CELL_HEADER = (
    "| cell | harness ms (CUDA events) | harness ms (host wall) | bare ms (CUDA events) | harness / bare "
    "| bare ms (host wall) | pipelined ms | bare ms after the eval pass | recipe ms (p50) |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def one_cell(overrides: list[str], with_recipe: bool) -> None:
    from benchmark.config import compose_cell

    harness = harness_metrics(overrides)
    cfg = compose_cell(overrides)
    with tempfile.TemporaryDirectory() as workdir:
        call = ArtifactCall(cfg, Path(workdir))
        bare, wall, pipelined = statistics.fmean(event_loop(call)), wall_loop_ms(call), pipelined_ms(call)
        call.eval_pass()
        after_eval = statistics.fmean(event_loop(call))
    recipe = "-"
    if with_recipe:
        arch = {"resnet": "resnet18", "mobilenet": "mobilenet_v3_large"}.get(cfg.model.name, cfg.model.name)
        recipe = (
            f"{statistics.median(event_loop(recipe_call(arch, cfg.batch_size, cfg.model.max_length))):.4f}"
        )
    events_ms = harness["latency_mean_ms"]
    print(
        f"| {' '.join(overrides)} | {events_ms:.4f} | {harness['latency_wall_mean_ms']:.4f} | {bare:.4f} "
        f"| {events_ms / bare:.3f} | {wall:.4f} | {pipelined:.4f} | {after_eval:.4f} | {recipe} |",
        flush=True,
    )


def main(argv: list[str]) -> None:
    if not argv or argv[0] != "--records":
        with_recipe = "--recipe" in argv
        one_cell([a for a in argv if a != "--recipe"], with_recipe)
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", nargs="+", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--recipe", action="store_true", help="also time the hand-written recipe")
    args = parser.parse_args(argv)
    sweep_table(args.records, args.out, args.recipe)


if __name__ == "__main__":
    main(sys.argv[1:])
