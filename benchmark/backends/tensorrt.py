"""Torch-TensorRT, dynamo path: torch.export -> torch_tensorrt.dynamo.compile -> engine saved
with torch_tensorrt.save and loaded back for the run. FP16 = model and inputs cast to half (enabled_precisions is
rejected from 2.10 on). INT8 = NVIDIA ModelOpt PTQ calibrated on the train split, exported
under ModelOpt's export mode, then compiled. TensorRT's binaries come from NVIDIA's own index
(PyPI's packages are stubs that download at install), so where they are absent the cell is
skipped with that reason: see the README's Dockerfile for a machine that has them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from benchmark.backends import Artifact, BuildContext, FileBackend, UnsupportedCell
from benchmark.backends.torch_common import DTYPES, cast_inputs, cast_module

CALIBRATION_BATCHES = 16
ENGINE = "model.ep"  # an ExportedProgram holding the serialized TensorRT engines


def import_tensorrt():
    try:
        import torch_tensorrt
    except Exception as exc:  # ImportError, or the stub package failing to find libnvinfer
        raise UnsupportedCell(
            f"torch_tensorrt is not importable here ({type(exc).__name__}): install the 'tensorrt' extra from NVIDIA's index or use the Dockerfile"
        ) from None
    return torch_tensorrt


class TensorRtBackend(FileBackend):
    def __init__(self, min_block_size: int = 5, optimization_level: int = 3):
        self.min_block_size, self.optimization_level = min_block_size, optimization_level

    def export(self, ctx: BuildContext, folder: Path) -> dict[str, Any]:
        torch_tensorrt = import_tensorrt()
        if ctx.device.type != "cuda":
            raise UnsupportedCell("TensorRT runs on CUDA only")
        dtype = DTYPES[ctx.precision.dtype]
        module = cast_module(ctx.model, dtype, ctx.device)
        example = cast_inputs(ctx.example, dtype)
        if ctx.precision.quantized:
            exported = self.export_int8(module, example, ctx)
        else:
            with torch.inference_mode():
                exported = torch.export.export(module, example)
        engine = torch_tensorrt.dynamo.compile(
            exported, arg_inputs=list(example), min_block_size=self.min_block_size,
            optimization_level=self.optimization_level, use_explicit_typing=ctx.precision.quantized,
            disable_tf32=not ctx.tf32,  # TensorRT uses TF32 for FP32 layers unless told not to
        )  # fmt: skip
        torch_tensorrt.save(engine, str(folder / ENGINE), arg_inputs=list(example))
        return {
            "torch_tensorrt": torch_tensorrt.__version__,
            "precision_switches": {"torch_tensorrt.disable_tf32": not ctx.tf32},
        }

    def load(self, ctx: BuildContext, folder: Path, facts: dict[str, Any]) -> Artifact:
        torch_tensorrt = import_tensorrt()
        engine = torch_tensorrt.load(str(folder / ENGINE)).module()
        trt_modules = sum(1 for name, _ in engine.named_children() if "_run_on_acc" in name)
        if trt_modules == 0:
            raise UnsupportedCell("TensorRT took no part of the graph: the row would be PyTorch")
        facts = {**facts, "trt_subgraphs": trt_modules}
        return Artifact(run=engine, input_dtype=DTYPES[ctx.precision.dtype], facts=facts)

    @staticmethod
    def export_int8(module, example, ctx: BuildContext):
        try:
            import modelopt.torch.quantization as mtq
            from modelopt.torch.quantization.utils import export_torch_mode
        except ImportError:
            raise UnsupportedCell("nvidia-modelopt is not installed (the 'tensorrt' extra)") from None

        def forward_loop(model):  # calibration on the train split, never eval data
            for i, inputs in enumerate(ctx.calibration()):
                if i == CALIBRATION_BATCHES:
                    break
                model(*(t.to(ctx.device) for t in inputs))

        mtq.quantize(module, mtq.INT8_DEFAULT_CFG, forward_loop)
        with torch.no_grad(), export_torch_mode():
            return torch.export.export(module, example)
