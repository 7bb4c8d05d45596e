"""What the PyTorch-based backends share: applying a precision to a module, and proving it."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from benchmark.backends import BuildContext, Inputs, LabelMismatch, UnsupportedCell

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
COMPUTE_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.LSTM, nn.GRU)


def cast_inputs(inputs: Inputs, dtype: torch.dtype, channels_last: bool = False) -> Inputs:
    """Floating inputs to `dtype` (token ids and masks stay integers), images in channels_last
    when the artifact's weights are."""
    cast = tuple(t.to(dtype) if t.is_floating_point() else t for t in inputs)
    return to_channels_last(cast) if channels_last else cast


def to_channels_last(inputs: Inputs) -> Inputs:
    """Batches of images (4-D floating tensors) in NHWC memory order; the shape stays NCHW."""
    return tuple(
        t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 and t.is_floating_point() else t
        for t in inputs
    )


def wants_channels_last(memory_format: str, device: torch.device, model: nn.Module) -> bool:
    """The `memory_format` key for this model. channels_last (NHWC) is what convolutions on
    tensor cores want (cuDNN converts NCHW to it and back otherwise); `auto` takes it on CUDA
    for a model with 2-D convolutions, and keeps the contiguous layout elsewhere."""
    has_conv = any(isinstance(m, nn.Conv2d) for m in model.modules())
    if memory_format == "channels_last" and not has_conv:
        raise UnsupportedCell("memory_format=channels_last: the model has no 2-D convolution to lay out")
    return has_conv and (
        memory_format == "channels_last" or (memory_format == "auto" and device.type == "cuda")
    )


def memory_format_of(module: nn.Module) -> str | None:
    """The layout the module's convolution weights really have (None: no 2-D convolution).
    A 1x1 kernel or a single input channel is both layouts at once, so those do not count."""
    weights = [
        m.weight
        for m in module.modules()
        if isinstance(m, nn.Conv2d) and m.weight.shape[1] > 1 and m.weight.shape[2:].numel() > 1
    ]
    if not weights:
        return None
    nhwc = all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    return "channels_last" if nhwc and not all(w.is_contiguous() for w in weights) else "contiguous"


def apply_memory_format(module: nn.Module, ctx: BuildContext) -> tuple[nn.Module, dict[str, Any]]:
    """The module in the cell's layout, and the proof read back from its weights."""
    if ctx.channels_last:
        module = module.to(memory_format=torch.channels_last)
    layout = memory_format_of(module)
    if ctx.channels_last and layout != "channels_last":
        raise LabelMismatch(f"memory_format=channels_last, but the convolution weights are {layout}")
    return module, {"memory_format": layout} if layout else {}


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
    """The module in the cell's precision and memory format, the dtype its floating inputs
    need, and the proof of both."""
    if ctx.precision.quantized:
        module, facts = quantize_dynamic_int8(ctx.model, ctx.device)
        module, layout = apply_memory_format(module, ctx)
        return module, torch.float32, {**facts, **layout}
    dtype = DTYPES[ctx.precision.dtype]
    module = cast_module(ctx.model, dtype, ctx.device)  # truly half/bf16 weights, not autocast
    facts = {"param_dtypes": sorted({str(p.dtype) for p in module.parameters()})}
    if facts["param_dtypes"] != [str(dtype)]:
        raise UnsupportedCell(f"parameters stayed {facts['param_dtypes']} after casting to {dtype}")
    module, layout = apply_memory_format(module, ctx)
    return module, dtype, {**facts, **layout}


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
