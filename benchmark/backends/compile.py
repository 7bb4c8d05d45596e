"""torch.compile with Inductor. One cell = one shape = one process, so compile caches never
leak between cells, and dynamic=False keeps one specialised graph per shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, get_args

import torch
from torch import nn

from benchmark.backends import Artifact, Backend, BuildContext, Inputs, LabelMismatch, UnsupportedCell
from benchmark.backends.torch_common import apply_precision, cast_inputs

Mode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]
MODES = get_args(Mode)  # the command line's check reads the Literal (sweep/cell.py class_option_choices)
# How a CUDA-graph mode replays: Inductor's CUDA-graph trees (each call passes Dynamo's guards and
# the trees' checks first), or one CUDA graph captured around the whole compiled call (each call
# copies its inputs and replays: a launch, no Python checks)
GraphCapture = Literal["trees", "whole_call"]
GRAPH_CAPTURES = get_args(GraphCapture)
WITHOUT_GRAPHS = {"reduce-overhead": "default", "max-autotune": "max-autotune-no-cudagraphs"}


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


class WholeCallGraph:
    """One CUDA graph captured around a whole call of `fn` on `example` (PyTorch's whole-network
    capture, torch.cuda.graph): each call copies its inputs into the captured input buffers and
    replays. What it saves is the per-call Python of Dynamo's guards and the CUDA-graph trees'
    checks (about 0.3 ms a call in PyTorch's own breakdown, pytorch/pytorch#150488). Outputs
    live in the graph's buffers, overwritten by the next call, as the trees' are.
    `cuda` is torch.cuda (a stand-in in the CPU tests)."""

    def __init__(self, fn: Callable, example: Inputs, cuda=torch.cuda, warmup_calls: int = 3):
        # The graph reads the weights where they lay at capture, and only `fn` (the compiled
        # module) keeps them there: dropped, the worker's clean-up after the build frees them
        # and the first replay reads freed memory (an illegal memory access on the H200).
        self.fn = fn
        with torch.inference_mode():
            self.inputs = tuple(t.clone() for t in example)  # keeps each input's memory format
            side = cuda.Stream()  # warm-up off the capturing stream, as torch.cuda.graph asks
            side.wait_stream(cuda.current_stream())
            with cuda.stream(side):
                for _ in range(warmup_calls):  # cuDNN's search and lazy inits happen here, not in capture
                    fn(*self.inputs)
            cuda.current_stream().wait_stream(side)
            self.graph = cuda.CUDAGraph()
            with cuda.graph(self.graph):
                self.outputs = fn(*self.inputs)

    def __call__(self, *inputs: torch.Tensor):
        with torch.inference_mode():
            for buffer, value in zip(self.inputs, inputs, strict=True):
                if value.shape != buffer.shape:  # copy_ would broadcast a smaller batch in silently
                    raise ValueError(
                        f"input of shape {tuple(value.shape)}: the graph was captured for {tuple(buffer.shape)}"
                    )
                buffer.copy_(value)
            self.graph.replay()
        return self.outputs


class CompileBackend(Backend):
    def __init__(
        self,
        mode: Mode = "default",
        fullgraph: bool = False,
        freezing: bool = False,
        graph_capture: GraphCapture = "trees",
    ):
        if mode not in MODES:
            raise ValueError(f"backend.options.mode={mode!r} is not one of {', '.join(MODES)}")
        if graph_capture not in GRAPH_CAPTURES:
            raise ValueError(
                f"backend.options.graph_capture={graph_capture!r} is not one of {', '.join(GRAPH_CAPTURES)}"
            )
        if graph_capture == "whole_call" and mode not in WITHOUT_GRAPHS:
            raise ValueError(
                f"backend.options.graph_capture=whole_call needs a CUDA-graph mode "
                f"({', '.join(WITHOUT_GRAPHS)}), not mode={mode}"
            )
        self.mode, self.fullgraph, self.freezing = mode, fullgraph, freezing
        self.graph_capture = graph_capture

    def build(self, ctx: BuildContext) -> Artifact:
        module, dtype, facts = apply_precision(ctx)
        graphs = uses_cuda_graphs(self.mode)
        if graphs and ctx.device.type != "cuda":
            raise UnsupportedCell(f"{self.mode} (CUDA graphs) needs a CUDA device")
        example = cast_inputs(ctx.example, dtype, ctx.channels_last)
        whole_call = graphs and self.graph_capture == "whole_call"
        # whole_call: Inductor compiles without its own graphs; one graph is captured around the call
        mode = WITHOUT_GRAPHS[self.mode] if whole_call else self.mode
        compiled, compile_facts = compile_module(module, example, mode, self.fullgraph, self.freezing)
        if graphs:
            compile_facts.update(mode=self.mode, inductor_mode=mode, graph_capture=self.graph_capture)
        return Artifact(
            run=WholeCallGraph(compiled, example) if whole_call else compiled,
            input_dtype=dtype,
            channels_last_inputs=ctx.channels_last,
            facts={**facts, **compile_facts},
            expects_cuda_graphs=graphs,
        )


def uses_cuda_graphs(mode: str) -> bool:
    """torch.compile's modes that wrap the compiled graph in CUDA graphs."""
    return mode in WITHOUT_GRAPHS
