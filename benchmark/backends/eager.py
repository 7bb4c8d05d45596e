"""Plain PyTorch: the baseline every other row is compared with."""

from __future__ import annotations

from benchmark.backends import Artifact, Backend, BuildContext
from benchmark.backends.torch_common import apply_precision


class EagerBackend(Backend):
    def build(self, ctx: BuildContext) -> Artifact:
        module, dtype, facts = apply_precision(ctx)
        return Artifact(
            run=module,
            input_dtype=dtype,
            channels_last_inputs=ctx.channels_last,
            facts=facts,
            eager_module=module,
        )
