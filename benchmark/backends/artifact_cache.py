"""The artifact cache: the files a FileBackend builds (ONNX models, AOTInductor packages,
TorchScript archives, TensorRT engines), kept under <cache_dir>/artifacts/<key>/ so that
repeating a cell loads them instead of building again.

The key is a hash of everything the files depend on: the model's weights (a hash of its state
dict, so retrained or other weights never hit a stale entry), the input shapes and dtypes, the
backend and its options, the precision, the device (and GPU model: compiled code is specific
to it), the calibration data of quantized rows, and the versions of the libraries that build
and run the files. Each entry has a manifest with every file's size and SHA-256: an entry that
does not match it, or that fails to load, is deleted and rebuilt. Entries appear atomically
(built in a temporary folder, then renamed), so cells running side by side never read half an
entry."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmark.backends import Artifact, BuildContext, FileBackend, UnsupportedCell
from benchmark.measure.environment import versions_for_modules

MANIFEST = "manifest.json"


def weights_digest(module: nn.Module) -> str:
    """SHA-256 of the module's class and state dict (names, dtypes, shapes, bytes)."""
    digest = hashlib.sha256(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        flat = tensor.detach().cpu().contiguous().reshape(-1)  # 0-dim buffers (BatchNorm's counter) too
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class CacheKey:
    """What the built files depend on; `digest` names the entry's folder."""

    parts: dict[str, Any]

    @classmethod
    def of(cls, ctx: BuildContext, weights: str, backend_cfg, calibration: str) -> CacheKey:
        device = ctx.device.type
        if device == "cuda":
            props = torch.cuda.get_device_properties(ctx.device)
            device = f"cuda:{props.name}:sm_{props.major}{props.minor}"
        return cls(
            {
                "weights": weights,
                "inputs": [[list(t.shape), str(t.dtype)] for t in ctx.example],
                "backend": backend_cfg.name,
                "backend_options": dict(backend_cfg.options),
                "precision": dict(ctx.precision),
                "quantization": ctx.quantization if ctx.precision.quantized else None,
                "calibration": calibration if ctx.precision.quantized else None,
                "device": device,
                "tf32": ctx.tf32 if device != "cpu" else None,  # TensorRT bakes it into the engine
                "channels_last": ctx.channels_last,  # traced and exported in that layout
                "libraries": versions_for_modules(backend_cfg.requires),  # core + the backend's own
            }
        )

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


class ArtifactCache:
    def __init__(self, root: Path):
        self.root = Path(root)

    def build(self, backend: FileBackend, ctx: BuildContext, key: CacheKey) -> Artifact:
        """The artifact, from the cache when a valid entry exists, else built and stored.
        Its facts say which: artifact_cache = hit | miss | rebuilt (<why>)."""
        entry = self.root / key.digest
        problem = self.check(entry)
        if problem is None:
            try:
                artifact = backend.load(ctx, entry, self.manifest(entry)["facts"])
                artifact.facts.update(artifact_cache="hit", artifact_dir=str(entry))
                return artifact
            except UnsupportedCell:
                raise
            except Exception as exc:  # a corrupt file that still hashes right (e.g. written by a bad build)
                problem = f"loading failed: {type(exc).__name__}"
        state = "miss" if problem == "absent" else f"rebuilt ({problem})"
        shutil.rmtree(entry, ignore_errors=True)
        export_s = self.store(backend, ctx, key, entry)
        artifact = backend.load(ctx, entry, self.manifest(entry)["facts"])
        artifact.facts.update(artifact_cache=state, artifact_dir=str(entry), export_s=export_s)
        return artifact

    def store(self, backend: FileBackend, ctx: BuildContext, key: CacheKey, entry: Path) -> float:
        """Build the entry; returns the seconds the export took."""
        building = entry.with_name(f"{entry.name}.building-{os.getpid()}")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        try:
            t0 = time.perf_counter()
            facts = backend.export(ctx, building)
            files = {
                p.name: {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
                for p in sorted(building.iterdir())
            }
            export_s = time.perf_counter() - t0
            manifest = {"key": key.parts, "files": files, "facts": facts,
                        "export_s": export_s, "created": time.time()}  # fmt: skip
            (building / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str))
            try:
                building.rename(entry)
            except OSError:  # another cell stored the same entry first: keep theirs
                shutil.rmtree(building, ignore_errors=True)
            return export_s
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise

    @staticmethod
    def manifest(entry: Path) -> dict[str, Any]:
        return json.loads((entry / MANIFEST).read_text())

    def check(self, entry: Path) -> str | None:
        """None if the entry is complete and intact; else what is wrong with it."""
        if not entry.is_dir():
            return "absent"
        try:
            files = self.manifest(entry)["files"]
        except (OSError, ValueError, KeyError):
            return "no readable manifest"
        for name, expected in files.items():
            path = entry / name
            if not path.is_file() or path.stat().st_size != expected["bytes"]:
                return f"{name} missing or truncated"
            if file_sha256(path) != expected["sha256"]:
                return f"{name} does not match its checksum"
        return None
