"""torch.export + AOTInductor: an ahead-of-time compiled package written to disk, then
loaded back from that file for the run (what a deployment would ship)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from benchmark.backends import Artifact, BuildContext, FileBackend
from benchmark.backends.torch_common import DTYPES, apply_precision, cast_inputs

PACKAGE = "model.pt2"


class AotInductorBackend(FileBackend):
    def export(self, ctx: BuildContext, folder: Path) -> dict[str, Any]:
        module, dtype, facts = apply_precision(ctx)
        with torch.inference_mode():
            exported = torch.export.export(module, cast_inputs(ctx.example, dtype, ctx.channels_last))
        package = folder / PACKAGE
        torch._inductor.aoti_compile_and_package(exported, package_path=str(package))
        return {**facts, "package_mb": round(package.stat().st_size / 2**20, 2)}

    def load(self, ctx: BuildContext, folder: Path, facts: dict[str, Any]) -> Artifact:
        # the run uses the package on disk, nothing else
        loaded = torch._inductor.aoti_load_package(str(folder / PACKAGE))
        return Artifact(
            run=loaded,
            input_dtype=DTYPES[ctx.precision.dtype],
            channels_last_inputs=ctx.channels_last,
            facts=facts,
        )
