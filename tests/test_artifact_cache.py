"""The artifact cache: a repeated cell loads the files built before; anything the files depend
on changes the key; a corrupt entry is rebuilt, never run."""

import copy
import json

import pytest
import torch
from torch import nn

from benchmark.backends import BuildContext, create_backend
from benchmark.backends.artifact_cache import MANIFEST, ArtifactCache, CacheKey, weights_digest
from tests.conftest import compose_cell, run_benchmark


def tiny_model(seed=0):
    torch.manual_seed(seed)  # BatchNorm: a 0-dim buffer (num_batches_tracked) in the state dict
    return nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4)).eval()


def context(model, workdir, precision="fp32", batch=2):
    return BuildContext(copy.deepcopy(model), (torch.randn(batch, 8),), compose_cell(f"precision={precision}").precision,
                        torch.device("cpu"), lambda: iter(()), "dynamic", workdir, 2)  # fmt: skip


def cached_build(model, tmp_path, backend="torchscript", **ctx_args):
    ctx = context(model, tmp_path / "job", **ctx_args)
    ctx.workdir.mkdir(exist_ok=True)
    backend_cfg = compose_cell(f"backend={backend}").backend
    key = CacheKey.of(ctx, weights_digest(model), backend_cfg, "none")
    artifact = ArtifactCache(tmp_path / "artifacts").build(create_backend(backend_cfg), ctx, key)
    return artifact, tmp_path / "artifacts" / key.digest


@pytest.mark.parametrize("backend", ["torchscript", "onnxruntime", "aoti"])
def test_second_build_loads_the_stored_files(backend, tmp_path, monkeypatch):
    model = tiny_model()
    first, entry = cached_build(model, tmp_path, backend)
    assert first.facts["artifact_cache"] == "miss" and "export_s" in first.facts
    files = json.loads((entry / MANIFEST).read_text())["files"]
    assert files and all(info["bytes"] > 0 for info in files.values())

    def no_export(*args):
        raise AssertionError("a cached entry was built again")

    monkeypatch.setattr(type(create_backend(compose_cell(f"backend={backend}").backend)), "export", no_export)
    second, same_entry = cached_build(model, tmp_path, backend)
    assert same_entry == entry and second.facts["artifact_cache"] == "hit" and "export_s" not in second.facts
    x = torch.randn(2, 8)
    with torch.inference_mode():
        assert torch.allclose(second.run(x), model(x), atol=1e-5)


def test_key_follows_weights_shape_precision_and_backend(tmp_path):
    model = tiny_model()
    _, entry = cached_build(model, tmp_path)
    assert cached_build(tiny_model(seed=1), tmp_path)[1] != entry  # other weights
    assert cached_build(model, tmp_path, batch=4)[1] != entry  # other input shape
    assert cached_build(model, tmp_path, precision="int8")[1] != entry
    assert cached_build(model, tmp_path, backend="onnxruntime")[1] != entry
    assert cached_build(model, tmp_path)[1] == entry


def test_corrupt_entry_is_rebuilt(tmp_path):
    model = tiny_model()
    _, entry = cached_build(model, tmp_path)
    archive = entry / "model.ts"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(data)
    artifact, _ = cached_build(model, tmp_path)
    assert artifact.facts["artifact_cache"] == "rebuilt (model.ts does not match its checksum)"
    archive.write_bytes(b"")
    assert "truncated" in cached_build(model, tmp_path)[0].facts["artifact_cache"]
    (entry / MANIFEST).write_text("{")
    assert cached_build(model, tmp_path)[0].facts["artifact_cache"] == "rebuilt (no readable manifest)"
    assert cached_build(model, tmp_path)[0].facts["artifact_cache"] == "hit"


def test_entry_that_hashes_right_but_fails_to_load_is_rebuilt(tmp_path):
    model = tiny_model()
    _, entry = cached_build(model, tmp_path)
    (entry / "model.ts").write_bytes(b"not an archive")
    manifest = json.loads((entry / MANIFEST).read_text())
    from benchmark.backends.artifact_cache import file_sha256

    manifest["files"]["model.ts"] = {"bytes": 14, "sha256": file_sha256(entry / "model.ts")}
    (entry / MANIFEST).write_text(json.dumps(manifest))
    artifact, _ = cached_build(model, tmp_path)
    assert artifact.facts["artifact_cache"].startswith("rebuilt (loading failed")


def test_repeated_cell_is_marked_cached(tmp_path):
    cell = ("model=fcn", "backend=onnxruntime", "device=cpu", "eval_samples=64", "timing.min_iters=3",
            "timing.min_s=0.05", "timing.warmup_s=0.05")  # fmt: skip
    for _ in range(2):
        done = run_benchmark(tmp_path, *cell)
        assert done.returncode == 0, done.stderr[-2000:]
    first, second = (json.loads(p.read_text()) for p in sorted(tmp_path.glob("outputs/runs/*/record.json")))
    assert first["facts"]["artifact_cache"] == "miss" and first["metrics"]["export_s"] > 0
    assert second["facts"]["artifact_cache"] == "hit" and "export_s" not in second["metrics"]
    assert second["metrics"]["f1_macro"] == first["metrics"]["f1_macro"]
