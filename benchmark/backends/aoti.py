"""torch.export + AOTInductor: an ahead-of-time compiled package written to disk, then
loaded back from that file for the run (what a deployment would ship)."""

from __future__ import annotations

import torch

from benchmark.backends import Artifact, Backend, BuildContext
from benchmark.backends.torch_common import apply_precision, cast_inputs


class AotInductorBackend(Backend):
    def build(self, ctx: BuildContext) -> Artifact:
        module, dtype, facts = apply_precision(ctx)
        example = cast_inputs(ctx.example, dtype)
        with torch.inference_mode():
            exported = torch.export.export(module, example)
        package = ctx.workdir / "model.pt2"
        torch._inductor.aoti_compile_and_package(exported, package_path=str(package))
        del exported, module  # the run uses the package on disk, nothing else
        loaded = torch._inductor.aoti_load_package(str(package))
        facts.update(package=str(package), package_mb=round(package.stat().st_size / 2**20, 2))
        return Artifact(run=loaded, input_dtype=dtype, facts=facts)
