"""Why does the sweep's compile_cudagraphs row trail the hand-written recipe on a convolution
network? Times, each in a fresh process (so no torch switch or compile cache carries over),
the harness's row built by the worker's own `prepare`, and the recipe of scripts/bare_loop.py
with one of the harness's differences added at a time (TF32 switches with cuDNN's
benchmark_limit, Inductor freezing), and lists the kernels with the most device time.
Random weights, synthetic inputs, fp16.

    python scripts/compile_probe.py --out $OUT/compile_probe.md [--models mobilenet,resnet] [--batch 64]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

ARCH = {"resnet": "resnet18", "mobilenet": "mobilenet_v3_large"}
HARNESS = {
    "harness (sweep's row)": [],
    "harness freezing": ["backend.options.freezing=true"],
}
RECIPE = {
    "recipe": {},
    "recipe + both (the harness's switches)": {"tf32": True, "limit0": True},
    "recipe + freezing": {"freezing": True},
}


def harness_call(model: str, batch: int, extra: list[str]):
    from bare_loop import ArtifactCall

    from benchmark.config import compose_cell

    overrides = [
        f"model={model}", "model.pretrained=false", "dataset=synthetic", "eval_samples=128",
        "backend=compile_cudagraphs", "precision=fp16", f"batch_size={batch}", "device=cuda",
        f"cache_dir={tempfile.mkdtemp()}", *extra,
    ]  # fmt: skip
    return ArtifactCall(compose_cell(overrides), Path(tempfile.mkdtemp()))


def recipe_variant(model: str, batch: int, change: dict):
    """bare_loop's recipe with one of the harness's differences added."""
    from bare_loop import recipe_call

    if change.get("tf32"):
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    if change.get("limit0"):
        torch.backends.cudnn.benchmark_limit = 0
    with torch._inductor.config.patch(freezing=bool(change.get("freezing"))):
        call = recipe_call(ARCH[model], batch, seq_len=0)  # images: no sequence length
        with torch.inference_mode():
            call()  # Inductor compiles here, under the patch
    return call


def one(kind: str, name: str, model: str, batch: int) -> None:
    from bare_loop import event_loop
    from ort_probe import top_kernels

    call = (
        harness_call(model, batch, HARNESS[name])
        if kind == "harness"
        else recipe_variant(model, batch, RECIPE[name])
    )
    times = event_loop(call)
    with torch.inference_mode():
        kernels = top_kernels(call, top=8)
    switches = {
        "matmul_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_tf32": torch.backends.cudnn.allow_tf32,
        "benchmark": torch.backends.cudnn.benchmark,
        "limit": torch.backends.cudnn.benchmark_limit,
    }
    result = {"p50": statistics.median(times) / batch, "mean": statistics.fmean(times) / batch}
    print("RESULT " + json.dumps({**result, "switches": switches, "kernels": kernels}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--models", default="mobilenet")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--one", nargs=2, metavar=("KIND", "NAME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(*args.one, args.models, args.batch)
        return
    lines = [
        f"torch {torch.__version__}, {torch.cuda.get_device_name()}, fp16, batch {args.batch}, random weights, "
        "synthetic inputs; each variant in a fresh process (ms/sample over 1000 calls)",
        "",
        "| model | variant | p50 | mean | switches |",
        "|---|---|---|---|---|",
    ]
    kernels = ["", "Kernels with the most device time per call (µs):", ""]
    for model in args.models.split(","):
        for kind, names in (("harness", HARNESS), ("recipe", RECIPE)):
            for name in names:
                run = subprocess.run(
                    [sys.executable, __file__, "--one", kind, name, "--models", model, "--batch", str(args.batch)],
                    capture_output=True, text=True,
                )  # fmt: skip
                found = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
                if not found:
                    lines.append(f"| {model} | {name} | failed: {run.stderr.strip().splitlines()[-1:]} | | |")
                else:
                    r = json.loads(found[0][7:])
                    lines.append(f"| {model} | {name} | {r['p50']:.4f} | {r['mean']:.4f} | {r['switches']} |")
                    kernels.append(f"- **{model}, {name}**: {r['kernels']}")
                print(lines[-1], flush=True)
                if args.out:
                    args.out.write_text("\n".join(lines + kernels) + "\n")
    print("\n".join(lines + kernels))


if __name__ == "__main__":
    main()
