"""TorchScript: trace + freeze, the study's JIT rows (deprecated upstream, kept as a legacy
baseline), saved with torch.jit.save and loaded back for the run."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from benchmark.backends import Artifact, BuildContext, FileBackend
from benchmark.backends.torch_common import DTYPES, apply_precision, cast_inputs

SCRIPT = "model.ts"


class TorchScriptBackend(FileBackend):
    def __init__(self, freeze: bool = True):
        self.freeze = freeze

    def export(self, ctx: BuildContext, folder: Path) -> dict[str, Any]:
        module, dtype, facts = apply_precision(ctx)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", FutureWarning)  # "torch.jit is deprecated": known, see YAML
            scripted = torch.jit.trace(module, cast_inputs(ctx.example, dtype, ctx.channels_last))
            if self.freeze:
                scripted = torch.jit.freeze(scripted.eval())
        torch.jit.save(scripted, str(folder / SCRIPT))
        facts = {
            **facts,
            "frozen": self.freeze,
            "graph_nodes": sum(1 for _ in scripted.inlined_graph.nodes()),
        }
        # A frozen graph's weight constants stay registered in the JIT's global class registry
        # after the module is gone (measured: BERT-base fp16, ~190 MB of VRAM while the loaded
        # artifact ran). The worker builds one artifact per process and loads it from the file.
        del scripted
        torch._C._jit_clear_class_registry()
        return facts

    def load(self, ctx: BuildContext, folder: Path, facts: dict[str, Any]) -> Artifact:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            scripted = torch.jit.load(str(folder / SCRIPT), map_location=ctx.device)
        return Artifact(
            run=scripted,
            input_dtype=DTYPES[ctx.precision.dtype],
            channels_last_inputs=ctx.channels_last,
            facts=facts,
        )
