"""TorchScript: trace + freeze, the study's JIT rows (deprecated upstream, kept as a legacy baseline)."""

from __future__ import annotations

import warnings

import torch

from benchmark.backends import Artifact, Backend, BuildContext
from benchmark.backends.torch_common import apply_precision, cast_inputs


class TorchScriptBackend(Backend):
    def __init__(self, freeze: bool = True):
        self.freeze = freeze

    def build(self, ctx: BuildContext) -> Artifact:
        module, dtype, facts = apply_precision(ctx)
        example = cast_inputs(ctx.example, dtype)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", FutureWarning)  # "torch.jit is deprecated": known, see YAML
            scripted = torch.jit.trace(module, example)
            if self.freeze:
                scripted = torch.jit.freeze(scripted.eval())
        facts["frozen"] = self.freeze
        facts["graph_nodes"] = sum(1 for _ in scripted.inlined_graph.nodes())
        return Artifact(run=scripted, input_dtype=dtype, facts=facts)
