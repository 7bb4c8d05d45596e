"""What the PyTorch-based backends share: applying a precision to a module, and proving it."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from benchmark.backends import BuildContext, Inputs, UnsupportedCell

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
COMPUTE_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.LSTM, nn.GRU)


def cast_inputs(inputs: Inputs, dtype: torch.dtype) -> Inputs:
    """Floating inputs to `dtype`; token ids and masks stay integers."""
    return tuple(t.to(dtype) if t.is_floating_point() else t for t in inputs)


def cast_module(module: nn.Module, dtype: torch.dtype, device: torch.device) -> nn.Module:
    """The module in `dtype` on `device`, cast on the host when it must change dtype: cast on
    the GPU, the new weights land in the caching allocator's segments between the freed FP32
    ones, which then cannot be released (BERT-base fp16: ~200 MB held for nothing)."""
    if all(p.dtype == dtype for p in module.parameters()):
        return module
    module = module.to("cpu").to(dtype).to(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return module


def apply_precision(ctx: BuildContext) -> tuple[nn.Module, torch.dtype, dict[str, Any]]:
    """The module in the cell's precision, the dtype its floating inputs need, and the proof."""
    if ctx.precision.quantized:
        module, facts = quantize_dynamic_int8(ctx.model, ctx.device)
        return module, torch.float32, facts
    dtype = DTYPES[ctx.precision.dtype]
    module = cast_module(ctx.model, dtype, ctx.device)  # truly half/bf16 weights, not autocast
    facts = {"param_dtypes": sorted({str(p.dtype) for p in module.parameters()})}
    if facts["param_dtypes"] != [str(dtype)]:
        raise UnsupportedCell(f"parameters stayed {facts['param_dtypes']} after casting to {dtype}")
    return module, dtype, facts


def _is_dynamic_int8(module: nn.Module) -> bool:
    # The swapped classes keep the names Linear/LSTM; their home module tells them apart.
    return ".quantized.dynamic." in type(module).__module__


def quantize_dynamic_int8(model: nn.Module, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    """PyTorch dynamic quantization: INT8 weights, activations quantized on the fly.
    It swaps Linear and LSTM only (never Conv2d), so the facts count what stayed float."""
    if device.type != "cpu":
        raise UnsupportedCell("PyTorch dynamic quantization runs on CPU only")
    from torch.ao.quantization import quantize_dynamic

    quantized = quantize_dynamic(model, {nn.Linear, nn.LSTM}, dtype=torch.qint8)
    int8_layers = sum(1 for m in quantized.modules() if _is_dynamic_int8(m))
    float_layers = sum(
        1 for m in quantized.modules() if isinstance(m, COMPUTE_LAYERS) and not _is_dynamic_int8(m)
    )
    if int8_layers == 0:
        raise UnsupportedCell("no Linear or LSTM layer to quantize dynamically: INT8 would be FP32")
    return quantized, {
        "int8_layers": int8_layers,
        "float_compute_layers": float_layers,
        "scheme": "dynamic int8 (torch.ao)",
    }
