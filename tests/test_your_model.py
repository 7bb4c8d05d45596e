"""Bring your own model: any importable function returning an nn.Module, or an ONNX file, with its input shape
declared in the config, benchmarks like a zoo model (offline, on CPU)."""

import json

import pytest

from tests.conftest import FAST_TIMING, run_benchmark

TINY = ("model=module", "model.factory=torch.nn:Linear", "+model.options.in_features=8",
        "+model.options.out_features=3", "model.input_shape=[8]", "model.num_classes=3")  # fmt: skip


def test_a_factory_model_is_measured_on_its_declared_input(tmp_path):
    done = run_benchmark(
        tmp_path, *TINY, "backend=onnxruntime", "batch_size=4", "eval_samples=16", "device=cpu", *FAST_TIMING
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "module/onnxruntime/cpu/fp32/bs4: ok" in done.stdout
    record = json.loads(next(tmp_path.glob("outputs/runs/*/record.json")).read_text())
    assert record["facts"]["factory"] == "torch.nn:Linear"
    assert record["facts"]["factory_options"] == {"in_features": 8, "out_features": 3}
    assert record["metrics"]["top1_agreement"] == 1.0 and record["metrics"]["rel_error"] < 1e-5


def test_a_factory_is_required_and_named_in_the_message(tmp_path):
    done = run_benchmark(tmp_path, "model=module", "device=cpu", *FAST_TIMING)
    assert done.returncode == 2
    assert done.stderr.startswith("bad input: model=module needs model.factory=package.module:function")


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    """What the README tells a user to do: export a model with a dynamic batch axis."""
    import torch

    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)).eval()
    torch.onnx.export(
        model, (torch.randn(2, 8),), str(path), dynamo=True, dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    return path


@pytest.mark.parametrize(("precision", "max_error"), [("fp32", 1e-6), ("int8", 0.2)])
def test_a_users_onnx_file_runs_on_onnx_runtime(onnx_file, tmp_path, precision, max_error):
    done = run_benchmark(
        tmp_path, "model=onnx", f"model.path={onnx_file}", "model.pretrained=false", "backend=onnxruntime",
        f"precision={precision}", "batch_size=4", "eval_samples=16", "device=cpu", *FAST_TIMING,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"onnx/onnxruntime/cpu/{precision}/bs4: ok" in done.stdout
    record = json.loads(next(tmp_path.glob("outputs/runs/*/record.json")).read_text())
    assert record["facts"]["source"] == f"user file {onnx_file}"
    assert record["metrics"]["rel_error"] <= max_error  # random weights: gated on their error alone


def test_an_onnx_file_on_another_backend_is_declared_unsupported(onnx_file, tmp_path):
    done = run_benchmark(tmp_path, "model=onnx", f"model.path={onnx_file}", "backend=eager", "device=cpu")
    assert done.returncode == 2
    assert done.stderr.startswith("cannot run here: model onnx runs on onnxruntime only")


def test_an_onnx_model_needs_its_path(tmp_path):
    done = run_benchmark(tmp_path, "model=onnx", "backend=onnxruntime", "device=cpu")
    assert done.returncode == 2 and done.stderr.startswith(
        "bad input: model=onnx needs model.path=<file.onnx>"
    )
