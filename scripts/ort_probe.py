"""Where does ONNX Runtime's CUDA provider lose time against eager? For each model, builds the
cells as the sweep does (the worker's `prepare`: the same export, fusions and session options),
times eager and ORT sessions that differ from the sweep's session in one provider option each
(IOBinding on device buffers, CUDA events, median of 100 calls), and lists the CUDA kernels
that take the most time in eager and in every session (torch.profiler
sees every kernel of the process, ORT's too). Random weights, synthetic inputs, fp16.

    python scripts/ort_probe.py --out $OUT/ort_probe.md [--models resnet,mobilenet,bert] [--batch 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmark.backends.onnxruntime import NUMPY_DTYPES, OnnxRuntimeBackend  # noqa: E402

CONVNETS = ("resnet", "mobilenet")
# One provider option changed against the sweep's session (ORT's CUDA provider option names).
CONV_VARIANTS = {
    "cudnn_conv_algo_search=HEURISTIC": {"cudnn_conv_algo_search": "HEURISTIC"},
    # NCHW kernels without the fused convolution, as the backend asks for memory_format=contiguous
    # (ORT 1.31's fused plan fails with NCHW kernels: "Failed to initialize CUDNN Frontend")
    "prefer_nhwc=0": {"prefer_nhwc": "0", "fuse_conv_bias": "0"},
    "HEURISTIC, prefer_nhwc=0": {
        "cudnn_conv_algo_search": "HEURISTIC",
        "prefer_nhwc": "0",
        "fuse_conv_bias": "0",
    },
    "fuse_conv_bias=0": {"fuse_conv_bias": "0"},
    "fuse_conv_bias=0, HEURISTIC": {"fuse_conv_bias": "0", "cudnn_conv_algo_search": "HEURISTIC"},
    "cudnn_conv_use_max_workspace=0": {"cudnn_conv_use_max_workspace": "0"},
    "use_tf32=0": {"use_tf32": "0"},
}
# Not a provider option: the backend's default moves the bias of convolutions with < 8 input
# channels into Add nodes of their own (OnnxRuntimeBackend.bias_apart_below_channels); this
# session keeps every bias in its Conv.
BIAS_IN_EVERY_CONV = "bias_apart_below_channels=0"
GEMM_VARIANTS = {
    "tunable_op (GEMM tuning on)": {"tunable_op_enable": "1", "tunable_op_tuning_enable": "1"},
    "sdpa_kernel=1 (flash)": {"sdpa_kernel": "1"},
    "sdpa_kernel=2 (memory-efficient)": {"sdpa_kernel": "2"},
    "sdpa_kernel=8 (cuDNN flash)": {"sdpa_kernel": "8"},
    "use_tf32=0": {"use_tf32": "0"},
}


def cell(model: str, backend: str, batch: int, cache_dir: str):
    """The sweep's cell, prepared by the worker's own code; returns (prepared, inputs)."""
    from benchmark.config import compose_cell
    from benchmark.worker.run import prepare

    overrides = [
        f"model={model}", "model.pretrained=false", "dataset=synthetic", "eval_samples=128",
        "model.max_length=256", f"backend={backend}", "precision=fp16", f"batch_size={batch}",
        "device=cuda", f"cache_dir={cache_dir}",
    ]  # fmt: skip
    p = prepare(compose_cell(overrides), Path(tempfile.mkdtemp()))
    x = p.inputs(p.eval_batches[0])
    with torch.inference_mode():
        p.first_call(x)
    return p, x


def timed_ms(call: Callable[[], object], batch: int) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(20):
        call()
    torch.cuda.synchronize()
    times = []
    for _ in range(100):
        start.record()
        call()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times) / batch


def top_kernels(call: Callable[[], object], calls: int = 20, top: int = 6) -> str:
    """The kernels with the most device time per call, as 'name: µs' (torch.profiler/CUPTI)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            call()
        torch.cuda.synchronize()
    rows = [e for e in prof.key_averages() if e.device_time_total > 0]
    rows.sort(key=lambda e: e.device_time_total, reverse=True)
    total = sum(e.device_time_total for e in rows) / calls
    parts = [f"{e.key[:70]} x{e.count // calls}: {e.device_time_total / calls:.0f}" for e in rows[:top]]
    return f"total {total:.0f} µs/call; " + "; ".join(parts)


def ort_call(onnx_file: Path, disabled: list[str], options: dict[str, str], x: tuple, out: torch.Tensor):
    import onnxruntime as ort

    session = ort.InferenceSession(
        str(onnx_file), providers=[("CUDAExecutionProvider", options)], disabled_optimizers=list(disabled)
    )
    binding = session.io_binding()
    for meta, t in zip(session.get_inputs(), x, strict=True):
        binding.bind_input(
            meta.name, "cuda", 0, NUMPY_DTYPES[t.dtype], tuple(t.shape), t.contiguous().data_ptr()
        )
    name = session.get_outputs()[0].name
    binding.bind_output(name, "cuda", 0, NUMPY_DTYPES[out.dtype], tuple(out.shape), out.data_ptr())
    return lambda: session.run_with_iobinding(binding)


def probe(model: str, batch: int, base_changes: dict[str, str]) -> tuple[list[str], list[str]]:
    """Table rows (eager, then each ORT session) and the kernel lists of one model."""
    cache = tempfile.mkdtemp()
    eager, x = cell(model, "eager", batch, cache)
    eager_call = lambda: eager.artifact.run(*x)  # noqa: E731
    eager_ms = timed_ms(eager_call, batch)
    lines = [f"| {model} | eager (the sweep's) | {eager_ms:.4f} | 1.00 |"]
    kernels = {"eager": top_kernels(eager_call)}
    sweep, x = cell(model, "onnxruntime", batch, cache)
    out = sweep.artifact.run(*x).clone()
    onnx_file = max(Path(cache).rglob("model.onnx"), key=lambda f: f.stat().st_mtime)
    ctx = SimpleNamespace(  # as the worker builds an fp16 cell: TF32 switches on (config.tf32_in_force)
        device=torch.device("cuda", 0), tf32=True, cudnn_benchmark=True, channels_last=model in CONVNETS
    )
    backend = OnnxRuntimeBackend()
    base = {**backend.provider_for(ctx)[1], **base_changes}
    timings = {}
    for name, change in {
        "as the sweep": {},
        **(CONV_VARIANTS if model in CONVNETS else GEMM_VARIANTS),
        **({BIAS_IN_EVERY_CONV: {}} if model in CONVNETS else {}),
    }.items():
        try:
            options = {**base, **change}
            # the model file and optimizers off that the backend's session takes with these options
            chooser = (
                OnnxRuntimeBackend(bias_apart_below_channels=0) if name == BIAS_IN_EVERY_CONV else backend
            )
            graph = chooser.session_graph(onnx_file, options, onnx_file.parent)[:2]
            call = ort_call(*graph, options, x, out)
            timings[name] = (timed_ms(call, batch), call)
            lines.append(
                f"| {model} | ORT {name} | {timings[name][0]:.4f} | {timings[name][0] / eager_ms:.2f} |"
            )
        except Exception as exc:  # an option this ORT build refuses is a finding too
            lines.append(f"| {model} | ORT {name} | refused: {str(exc).splitlines()[0][:120]} | |")
        print(lines[-1], flush=True)
    fastest = min(timings, key=lambda n: timings[n][0])
    for name, (_, call) in timings.items():  # every session's: did an option change the kernels?
        kernels[f"ORT {name}" + (" (fastest)" if name == fastest else "")] = top_kernels(call)
    return lines, [f"- **{model}, {name}**: {text}" for name, text in kernels.items()]


def main() -> None:
    import onnxruntime as ort

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--models", default="resnet,mobilenet,bert")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--base", nargs="*", default=[], metavar="OPTION=VALUE", help="change the sweep's session first"
    )
    args = parser.parse_args()
    header = [
        f"ORT {ort.__version__}, torch {torch.__version__}, {torch.cuda.get_device_name()}, fp16, batch {args.batch}, "
        f"the sweep's session changed by {args.base or 'nothing'}, "
        "random weights, synthetic inputs (ms/sample, p50 of 100 calls)",
        "",
        "| model | session | ms/sample | / eager |",
        "|---|---|---|---|",
    ]
    rows, kernels = [], ["", "Kernels with the most device time per call (µs):", ""]
    for model in args.models.split(","):
        model_rows, model_kernels = probe(model, args.batch, dict(o.split("=", 1) for o in args.base))
        rows, kernels = rows + model_rows, kernels + model_kernels
        args.out.write_text(
            "\n".join(header + rows + kernels) + "\n"
        )  # what finished, if a later model fails
        torch.cuda.empty_cache()
    print("\n".join(header + rows + kernels))


if __name__ == "__main__":
    main()
