"""torch.compile with Inductor. One cell = one shape = one process, so compile caches never
leak between cells, and dynamic=False keeps one specialised graph per shape."""

from __future__ import annotations

import torch

from benchmark.backends import Artifact, Backend, BuildContext, UnsupportedCell
from benchmark.backends.torch_common import apply_precision

MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


class CompileBackend(Backend):
    def __init__(self, mode: str = "default", fullgraph: bool = False):
        if mode not in MODES:
            raise ValueError(f"backend.options.mode={mode!r} is not one of {', '.join(MODES)}")
        self.mode, self.fullgraph = mode, fullgraph

    def build(self, ctx: BuildContext) -> Artifact:
        from torch._dynamo.utils import counters

        module, dtype, facts = apply_precision(ctx)
        torch._dynamo.reset()  # a cache hit from an earlier build would leave no graph to count
        compiled = torch.compile(module, mode=self.mode, fullgraph=self.fullgraph, dynamic=False)
        example = tuple(t.to(dtype) if t.is_floating_point() else t for t in ctx.example)
        counters.clear()
        with torch.inference_mode():
            compiled(*example)  # compilation happens here, so build_s holds it
        graphs = counters["stats"]["unique_graphs"]
        if graphs == 0:
            raise UnsupportedCell("torch.compile produced no graph: the row would be eager")
        facts.update(mode=self.mode, graphs=graphs, graph_breaks=sum(counters["graph_break"].values()))
        return Artifact(run=compiled, input_dtype=dtype, facts=facts)
