"""torch.compile with Inductor. One cell = one shape = one process, so compile caches never
leak between cells, and dynamic=False keeps one specialised graph per shape."""

from __future__ import annotations

from typing import Any, Literal, get_args

import torch
from torch import nn

from benchmark.backends import Artifact, Backend, BuildContext, Inputs, LabelMismatch, UnsupportedCell
from benchmark.backends.torch_common import apply_precision, cast_inputs

Mode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]
MODES = get_args(Mode)  # the command line's check reads the Literal (sweep/cell.py class_option_choices)


def compile_module(
    module: nn.Module, example: Inputs, mode: str, fullgraph: bool = False, freezing: bool = False
) -> tuple[nn.Module, dict[str, Any]]:
    """Compile and run once (compilation happens there, so build_s holds it); prove a graph exists.
    `freezing`: Inductor treats the weights as constants (folds BatchNorm into convolutions,
    picks their layouts); it needs inference mode, which every call here runs in."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()  # a cache hit from an earlier build would leave no graph to count
    counters.clear()
    with torch._inductor.config.patch(freezing=freezing):
        compiled = torch.compile(module, mode=mode, fullgraph=fullgraph, dynamic=False)
        with torch.inference_mode():
            compiled(*example)
    graphs = counters["stats"]["unique_graphs"]
    if graphs == 0:
        raise UnsupportedCell("torch.compile produced no graph: the row would be eager")
    # Inductor may quietly decline CUDA graphs (it bumps this counter): that row would not be what it says.
    cudagraph_skips = counters["inductor"]["cudagraph_skips"]
    if uses_cuda_graphs(mode) and cudagraph_skips:
        raise LabelMismatch(
            f"Inductor skipped CUDA graphs {cudagraph_skips} time(s): the row would run without them"
        )
    facts = {
        "mode": mode,
        "freezing": freezing,
        "graphs": graphs,
        "graph_breaks": sum(counters["graph_break"].values()),
        "inductor_cache": inductor_cache(counters["inductor"]),
    }
    return compiled, facts


def inductor_cache(inductor_counters) -> str:
    """Whether Inductor's on-disk FX-graph cache (under cache_dir) gave this build its kernels."""
    hits, misses = inductor_counters["fxgraph_cache_hit"], inductor_counters["fxgraph_cache_miss"]
    if not hits and not misses:
        return "not used"
    if hits and misses:
        return f"{hits} hit / {misses} miss"
    return "hit" if hits else "miss"


class CompileBackend(Backend):
    def __init__(self, mode: Mode = "default", fullgraph: bool = False, freezing: bool = False):
        if mode not in MODES:
            raise ValueError(f"backend.options.mode={mode!r} is not one of {', '.join(MODES)}")
        self.mode, self.fullgraph, self.freezing = mode, fullgraph, freezing

    def build(self, ctx: BuildContext) -> Artifact:
        module, dtype, facts = apply_precision(ctx)
        if uses_cuda_graphs(self.mode) and ctx.device.type != "cuda":
            raise UnsupportedCell(f"{self.mode} (CUDA graphs) needs a CUDA device")
        example = cast_inputs(ctx.example, dtype, ctx.channels_last)
        compiled, compile_facts = compile_module(module, example, self.mode, self.fullgraph, self.freezing)
        return Artifact(
            run=compiled,
            input_dtype=dtype,
            channels_last_inputs=ctx.channels_last,
            facts={**facts, **compile_facts},
            expects_cuda_graphs=uses_cuda_graphs(self.mode),
        )


def uses_cuda_graphs(mode: str) -> bool:
    """torch.compile's modes that wrap the compiled graph in CUDA graphs."""
    return mode in ("reduce-overhead", "max-autotune")
