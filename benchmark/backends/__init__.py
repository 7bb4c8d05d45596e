"""Backends: one module + one YAML each (conf/backend/<name>.yaml names the class in
`_target_` and declares the devices and precisions it runs). The job runner never changes
to add one: it builds whatever class the YAML names through `create_backend`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

Inputs = tuple[torch.Tensor, ...]


class UnsupportedCell(Exception):
    """The backend found, while building, that it cannot run this cell (recorded as skipped)."""


class LabelMismatch(RuntimeError):
    """The artifact is not what its row says (e.g. an INT8 build with no INT8 op): the cell fails."""


@dataclass
class BuildContext:
    model: nn.Module  # float32, eval, on `device`; the backend owns it and may change it in place
    example: Inputs  # one batch of the cell's shape, float32, on `device`
    precision: DictConfig  # conf/precision/<name>.yaml
    device: torch.device
    calibration: Callable[[], Iterator[Inputs]]  # train-split batches on the host, never eval data
    quantization: str  # the model's preferred int8 scheme: dynamic | static
    workdir: Path  # where the backend may write its files (ONNX, packages, engines)
    threads: int
    tf32: bool = False  # the config's TF32 switch: every runtime's own TF32 option follows it
    cudnn_benchmark: bool = False  # the config's cuDNN autotuning: runtimes with their own search follow it
    channels_last: bool = False  # the `memory_format` key, resolved for this model and device


@dataclass
class Artifact:
    run: Callable[..., torch.Tensor]  # inputs (already cast to input_dtype, on device) -> logits
    input_dtype: torch.dtype = torch.float32  # floating inputs are cast to this outside the timed loop
    channels_last_inputs: bool = False  # images are laid out NHWC outside the timed loop, like the weights
    facts: dict[str, Any] = field(default_factory=dict)  # evidence that the artifact is what its row says
    synchronize: Callable[[], None] | None = None  # waits for the stream the artifact really uses
    eager_module: nn.Module | None = None  # the plain module run, where the backend runs one eagerly
    expects_cuda_graphs: bool = False  # the row's label says CUDA graphs: the worker checks they replay
    # Evidence only the first call can give (ORT: where its nodes ran, from the profile of that
    # call). Read after it, so that what the call allocates is not counted as the artifact's.
    first_call_evidence: Callable[[], dict[str, Any]] | None = None

    def read_first_call_evidence(self) -> None:
        """After the first call: add its evidence to the facts (may raise LabelMismatch)."""
        if self.first_call_evidence is not None:
            evidence, self.first_call_evidence = self.first_call_evidence, None
            self.facts.update(evidence())


class Backend(ABC):
    """Turns a float32 model into a callable that runs it the backend's way."""

    @abstractmethod
    def build(self, ctx: BuildContext) -> Artifact: ...


class FileBackend(Backend):
    """A backend whose artifact is files: `export` writes them (export, quantize, compile) into a
    folder, `load` turns that folder into the artifact the cell runs. The worker keeps the
    folder in the artifact cache (backends/artifact_cache.py), so repeating a cell loads the
    files instead of building them again."""

    @abstractmethod
    def export(self, ctx: BuildContext, folder: Path) -> dict[str, Any]:
        """Write the artifact's files into `folder`; return facts about them worth keeping."""

    @abstractmethod
    def load(self, ctx: BuildContext, folder: Path, facts: dict[str, Any]) -> Artifact:
        """The runnable artifact from the files in `folder` (read only: scratch goes to ctx.workdir)."""

    def build(self, ctx: BuildContext) -> Artifact:
        return self.load(ctx, ctx.workdir, self.export(ctx, ctx.workdir))


def create_backend(backend_cfg: DictConfig) -> Backend:
    from hydra.utils import get_class

    return get_class(backend_cfg._target_)(**backend_cfg.options)
