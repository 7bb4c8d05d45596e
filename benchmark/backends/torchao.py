"""torchao on CUDA: int8 (dynamic per-token activations, per-channel int8 weights) or fp8
(e4m3, row-wise scales, sm_89+) on Linear layers, then torch.compile. The model runs in
bf16 elsewhere. Layers torchao cannot take (dims not multiples of 16, tiny heads) stay in
bf16 and are counted, as are convolutions (torchao quantizes Linear layers only)."""

from __future__ import annotations

import torch
from torch import nn

from benchmark.backends import Artifact, Backend, BuildContext, LabelMismatch, UnsupportedCell
from benchmark.backends.compile import compile_module
from benchmark.backends.torch_common import COMPUTE_LAYERS, cast_inputs

ALIGN = 16


def quantizable(module: nn.Module, _fqn: str = "") -> bool:
    return (
        isinstance(module, nn.Linear) and module.in_features % ALIGN == 0 and module.out_features % ALIGN == 0
    )


def quant_config(precision: str):
    from torchao.quantization import (
        Float8DynamicActivationFloat8WeightConfig,
        Int8DynamicActivationInt8WeightConfig,
        PerRow,
    )

    if precision == "int8":
        return Int8DynamicActivationInt8WeightConfig()
    return Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())


class TorchAoBackend(Backend):
    def __init__(self, compile_mode: str = "default"):
        self.compile_mode = compile_mode

    def build(self, ctx: BuildContext) -> Artifact:
        try:
            from torchao.quantization import quantize_
        except ImportError:
            raise UnsupportedCell("torchao is not installed (pip install '.[gpu]')") from None
        if ctx.device.type != "cuda":
            raise UnsupportedCell("the torchao rows here are CUDA rows")
        module = ctx.model.to(torch.bfloat16)
        config = quant_config(ctx.precision.name)
        quantize_(module, config, filter_fn=quantizable)
        facts = self.count_layers(module)
        if facts["quantized_linear"] == 0:
            raise UnsupportedCell(
                f"no Linear layer with dims that are multiples of {ALIGN}: {ctx.precision.name} would be bf16"
            )
        try:
            compiled, compile_facts = compile_module(
                module, cast_inputs(ctx.example, torch.bfloat16), self.compile_mode
            )
        except RuntimeError as exc:
            if "needs to be greater than 16" not in str(exc):
                raise
            # int8 matmuls run torch._int_mm, whose CUDA kernel wants more than 16 rows
            raise UnsupportedCell(
                f"torchao int8 needs more than 16 rows per matmul (torch._int_mm); "
                f"batch {ctx.example[0].shape[0]} gives a Linear layer 16 or fewer"
            ) from None
        facts.update(
            compile_facts,
            float_dtype="bfloat16",
            scheme=f"torchao {type(config).__name__}",
        )
        return Artifact(run=compiled, input_dtype=torch.bfloat16, facts=facts)

    @staticmethod
    def count_layers(module: nn.Module) -> dict[str, int]:
        """Quantized weights are tensor subclasses; a plain Parameter means the layer stayed bf16."""
        linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
        quantized = sum(1 for m in linears if type(m.weight).__name__ not in ("Parameter", "Tensor"))
        others = sum(
            1 for m in module.modules() if isinstance(m, COMPUTE_LAYERS) and not isinstance(m, nn.Linear)
        )
        if quantized > sum(quantizable(m) for m in linears):
            raise LabelMismatch("torchao quantized layers the filter excluded")
        return {
            "quantized_linear": quantized,
            "bf16_linear": len(linears) - quantized,
            "bf16_other_compute_layers": others,
        }
