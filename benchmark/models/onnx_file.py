"""Your own ONNX file: `model=onnx model.path=<file.onnx>` benchmarks it on the ONNX Runtime
backend (the file is the artifact; int8 rows quantize it with ORT's tools). The FP32 reference
is the file itself run by ONNX Runtime on the CPU. Inputs: synthetic, of the file's own input
shape past the batch axis (or `model.input_shape` where that shape is symbolic); float inputs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from benchmark.data import MissingAsset, Splits
from benchmark.models import LoadedModel, register


class OnnxFile(nn.Module):
    """An ONNX file as a module: forward runs it with ONNX Runtime on the CPU (the reference).
    The file's SHA-256 is a buffer, so the artifact cache tells two files apart."""

    def __init__(self, path: Path):
        super().__init__()
        self.onnx_path = str(Path(path).resolve())
        import onnx

        digest = hashlib.sha256(onnx.load(str(path)).SerializeToString()).digest()  # external data too
        self.register_buffer("file_sha256", torch.tensor(list(digest), dtype=torch.uint8))
        self._session = None

    def __getstate__(self):  # the worker keeps the FP32 model on disk: no session in the pickle
        return {**self.__dict__, "_session": None}

    def session(self):
        if self._session is None:
            import onnxruntime as ort

            self._session = ort.InferenceSession(self.onnx_path, providers=["CPUExecutionProvider"])
        return self._session

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        names = [i.name for i in self.session().get_inputs()]
        feeds = {n: t.detach().cpu().numpy() for n, t in zip(names, inputs, strict=True)}
        return torch.from_numpy(np.asarray(self.session().run(None, feeds)[0])).to(inputs[0].device)


@register("onnx")
def load_onnx_file(model_cfg: DictConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    path = Path(model_cfg.path)
    if not path.is_file():
        raise MissingAsset(f"model.path={path}: no such ONNX file")
    return LoadedModel(
        OnnxFile(path).eval(), "pretrained" if model_cfg.pretrained else "random", {"onnx_file": str(path)}
    )
