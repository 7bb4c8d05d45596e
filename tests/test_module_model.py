"""Bring your own model: any importable function returning an nn.Module, with its input shape
declared in the config, benchmarks like a zoo model (offline, on CPU)."""

import json

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
    assert "model=module needs model.factory=package.module:function" in done.stdout
