"""Why is ONNX Runtime's CUDA provider slower than eager on a convolution network? Times the
sweep's cached fp16 ResNet18 ONNX file (cache_dir/artifacts) in ORT sessions that differ in one
option each, with IOBinding on device buffers and CUDA events, median of 100 calls.

    python scripts/ort_probe.py /tmp/bench_cache 64
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import onnx
import onnxruntime as ort
import torch

BASE = {
    "device_id": "0",
    "use_tf32": "0",
    "cudnn_conv_algo_search": "EXHAUSTIVE",
    "prefer_nhwc": "1",
}
VARIANTS = {
    "as the sweep (NHWC, exhaustive, torch's stream)": {"user_compute_stream": True},
    "own stream": {},
    "prefer_nhwc=0": {"user_compute_stream": True, "prefer_nhwc": "0"},
    "algo search HEURISTIC": {"user_compute_stream": True, "cudnn_conv_algo_search": "HEURISTIC"},
    "algo search DEFAULT": {"user_compute_stream": True, "cudnn_conv_algo_search": "DEFAULT"},
    "max workspace 0": {"user_compute_stream": True, "cudnn_conv_use_max_workspace": "0"},
}


def fp16_convnet(cache: Path, convs: int) -> Path:
    for path in sorted(cache.glob("artifacts/*/model.onnx")):
        graph = onnx.load(str(path), load_external_data=False).graph
        image_input = len(graph.input[0].type.tensor_type.shape.dim) == 4
        half = graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
        if image_input and half and sum(n.op_type == "Conv" for n in graph.node) == convs:
            return path
    raise SystemExit(f"no fp16 ONNX file with {convs} convolutions under {cache}/artifacts")


def time_session(path: Path, options: dict, batch: int, stream: bool) -> float:
    provider = dict(BASE, **{k: v for k, v in options.items() if k != "user_compute_stream"})
    if stream:
        provider["user_compute_stream"] = str(torch.cuda.current_stream().cuda_stream)
    session = ort.InferenceSession(str(path), providers=[("CUDAExecutionProvider", provider)])
    x = torch.randn(batch, 3, 224, 224, device="cuda", dtype=torch.float16)
    out = torch.empty(batch, 1000, device="cuda", dtype=torch.float16)
    binding = session.io_binding()
    binding.bind_input(session.get_inputs()[0].name, "cuda", 0, "float16", tuple(x.shape), x.data_ptr())
    binding.bind_output(session.get_outputs()[0].name, "cuda", 0, "float16", tuple(out.shape), out.data_ptr())
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(20):
        session.run_with_iobinding(binding)
    torch.cuda.synchronize()
    times = []
    for _ in range(100):
        start.record()
        session.run_with_iobinding(binding)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times) / batch


def main(cache: str, batch: str) -> None:
    path = fp16_convnet(Path(cache), convs=20)
    print(
        f"| ORT {ort.__version__} session, {path.parent.name} | ms/sample (p50, batch {batch}) |\n|---|---|"
    )
    for name, options in VARIANTS.items():
        ms = time_session(path, options, int(batch), "user_compute_stream" in options)
        print(f"| {name} | {ms:.4f} |", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
