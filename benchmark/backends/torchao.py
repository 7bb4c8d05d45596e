"""torchao on CUDA: int8 (dynamic per-token activations, per-channel int8 weights) or fp8
(e4m3, row-wise scales, sm_89+) on Linear layers, then torch.compile. The model runs in
bf16 elsewhere. Layers torchao cannot take (dims not multiples of 16, tiny heads) stay in
bf16 and are counted, as are convolutions (torchao quantizes Linear layers only)."""

from __future__ import annotations

import torch
from torch import nn

from benchmark.backends import Artifact, Backend, BuildContext, LabelMismatch, UnsupportedCell
from benchmark.backends.compile import compile_module
from benchmark.backends.torch_common import COMPUTE_LAYERS, apply_memory_format, cast_inputs, cast_module

ALIGN = 16
INT_MM_MIN_ROWS = 17  # torch._int_mm's CUDA kernel, which torchao's int8 matmuls run, wants > 16 rows


def quantizable(module: nn.Module, _fqn: str = "") -> bool:
    return (
        isinstance(module, nn.Linear) and module.in_features % ALIGN == 0 and module.out_features % ALIGN == 0
    )


@torch.no_grad()
def rows_per_linear(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> dict[nn.Module, int]:
    """How many rows each Linear layer multiplies for these inputs (one forward pass): BERT's
    encoder sees batch x tokens, its pooler only one row per sample."""
    rows: dict[nn.Module, int] = {}

    def record(layer: nn.Module, args: tuple) -> None:
        # a layer called more than once is as small as its smallest call
        n = args[0].numel() // max(1, args[0].shape[-1])
        rows[layer] = min(rows.get(layer, n), n)

    hooks = [m.register_forward_pre_hook(record) for m in module.modules() if isinstance(m, nn.Linear)]
    try:
        module(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return rows


def layer_filter(precision: str, rows: dict[nn.Module, int]):
    """torchao's filter_fn: aligned Linear layers, and for int8 only those with enough rows; the
    rest stay bf16 and are counted (`bf16_linear`, `int8_too_few_rows`)."""
    if precision != "int8":
        return quantizable
    return lambda m, fqn="": quantizable(m) and rows.get(m, 0) >= INT_MM_MIN_ROWS


def quant_config(precision: str):
    from torchao.quantization import (
        Float8DynamicActivationFloat8WeightConfig,
        Int8DynamicActivationInt8WeightConfig,
        PerRow,
    )

    if precision == "int8":
        return Int8DynamicActivationInt8WeightConfig()
    return Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())


def quantize_keeping_tf32(module: nn.Module, config, filter_fn) -> None:
    """torchao's quantize_, with the TF32 switches as they were before it. torchao 0.17 (the GPU
    machine's) sets its recommended Inductor options there and, with them, process-wide TF32
    (torch.set_float32_matmul_precision("high"), never set back; 0.18 dropped it). The worker pins
    TF32 back to the config's after the first call, and Dynamo guards on it: the graph compiled
    here would then be compiled again on the first scored batch (minutes for T5's int8 rows)."""
    from torchao.quantization import quantize_

    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        quantize_(module, config, filter_fn=filter_fn)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


class TorchAoBackend(Backend):
    def __init__(self, compile_mode: str = "default"):
        self.compile_mode = compile_mode

    def build(self, ctx: BuildContext) -> Artifact:
        try:
            import torchao  # noqa: F401
        except ImportError:
            raise UnsupportedCell("torchao is not installed (pip install '.[gpu]')") from None
        if ctx.device.type != "cuda":
            raise UnsupportedCell("the torchao rows here are CUDA rows")
        module, layout = apply_memory_format(cast_module(ctx.model, torch.bfloat16, ctx.device), ctx)
        inputs = cast_inputs(ctx.example, torch.bfloat16, ctx.channels_last)
        precision = ctx.precision.name
        rows = rows_per_linear(module, inputs) if precision == "int8" else {}  # fp8 has no row limit
        config = quant_config(precision)
        quantize_keeping_tf32(module, config, layer_filter(precision, rows))
        facts = self.count_layers(module)
        if facts["quantized_linear"] == 0:
            raise UnsupportedCell(no_layer_reason(precision, rows, ctx.example[0].shape[0]))
        if precision == "int8":
            facts["int8_too_few_rows"] = sum(
                1 for m, n in rows.items() if quantizable(m) and n < INT_MM_MIN_ROWS
            )
        compiled, compile_facts = compile_module(module, inputs, self.compile_mode)
        facts.update(
            compile_facts,
            **layout,
            float_dtype="bfloat16",
            scheme=f"torchao {type(config).__name__}",
        )
        return Artifact(
            run=compiled, input_dtype=torch.bfloat16, channels_last_inputs=ctx.channels_last, facts=facts
        )

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


def no_layer_reason(precision: str, rows: dict[nn.Module, int], batch: int) -> str:
    if precision == "int8" and any(quantizable(m) for m in rows):
        return (
            f"torchao int8 needs more than 16 rows per matmul (torch._int_mm); at batch {batch} "
            f"every Linear layer with dims that are multiples of {ALIGN} gets 16 rows or fewer"
        )
    return f"no Linear layer with dims that are multiples of {ALIGN}: {precision} would be bf16"
