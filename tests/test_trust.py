"""Rows that prove their label, checked on the CPU: the quality gate, ORT node placement read
from its profile, BatchNorm statistics of random weights, the FP32 model gone before a
file-backed artifact is scored and timed, and the report's spread and invalid marks."""

import gc
import json
import weakref
from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from benchmark.backends import LabelMismatch
from benchmark.backends.onnxruntime import OnnxRuntimeBackend, node_placement
from benchmark.config import QualityGateConfig, tf32_in_force
from benchmark.measure.quality import GatedRow, gate_failure
from benchmark.models.vision import fit_class_mean_head, settle_batchnorm
from benchmark.results.records import CellRecord
from benchmark.results.report import TABLES, cell_text, findings, model_sections, with_spread
from benchmark.sweep.job import apply_quality_gate
from tests.conftest import compose_cell, fcn_prepare

GATE = OmegaConf.structured(QualityGateConfig)


def test_default_gate_passes_a_faithful_fp16_row():
    assert gate_failure({"top1_agreement": 1.0, "rel_error": 2e-3}, GatedRow("fp16"), GATE) is None


def test_gate_fails_a_collapsed_fp16_row_with_both_reasons():
    failure = gate_failure({"top1_agreement": 0.0, "rel_error": 1.0}, GatedRow("fp16"), GATE)
    assert failure == "top-1 agreement with FP32 0.000 < 0.99; relative error vs FP32 1 > 0.05"


def test_random_weights_are_gated_on_their_error_not_on_near_tied_argmaxes():
    faithful = {"top1_agreement": 0.984, "rel_error": 0.0075}  # MobileNetV3-L fp16, random, H100
    assert gate_failure(faithful, GatedRow("fp16", near_tied=True), GATE) is None
    assert gate_failure(faithful, GatedRow("fp16"), GATE) is not None  # trained weights: agreement counts
    collapsed = {"top1_agreement": 0.0, "rel_error": 1.0}
    assert (
        gate_failure(collapsed, GatedRow("fp16", near_tied=True), GATE) == "relative error vs FP32 1 > 0.05"
    )


def test_tf32_in_an_fp32_row_fails_unless_tf32_was_asked_for():
    ort_default = {"top1_agreement": 1.0, "rel_error": 4e-4}  # ONNX Runtime's CUDA provider with use_tf32 on
    assert gate_failure(ort_default, GatedRow("fp32"), GATE) == "relative error vs FP32 0.0004 > 0.0001"
    assert gate_failure(ort_default, GatedRow("fp32", tf32=True), GATE) is None


def test_a_row_that_ran_with_tf32_unasked_fails_whatever_its_error():
    faithful = {"top1_agreement": 1.0, "rel_error": 0.004}  # an int8 row: TF32 hides in its bound
    assert gate_failure(faithful, GatedRow("int8", tf32_seen=True), GATE) == (
        "TF32 was on while it ran, though tf32=false"
    )
    assert gate_failure(faithful, GatedRow("int8", tf32=True, tf32_seen=True), GATE) is None


def test_int8_has_its_own_looser_stated_bound():
    assert gate_failure({"top1_agreement": 0.96, "rel_error": 0.05}, GatedRow("int8"), GATE) is None
    assert gate_failure({"top1_agreement": 0.96, "rel_error": 0.05}, GatedRow("bf16"), GATE) is not None


def test_gate_keeps_99_percent_of_fp32_f1_where_labels_exist():
    metrics = {"top1_agreement": 0.995, "rel_error": 0.01, "f1_macro": 0.95, "f1_macro_fp32": 0.98}
    assert gate_failure(metrics, GatedRow("fp16"), GATE) == "F1 0.9500 < 0.99 x FP32's 0.9800"
    assert gate_failure({**metrics, "f1_macro": 0.975}, GatedRow("fp16"), GATE) is None


def test_gate_thresholds_are_config_keys():
    cfg = compose_cell("quality_gate.min_top1_agreement.fp16=0.5", "quality_gate.max_rel_error.fp16=2")
    assert gate_failure({"top1_agreement": 0.6, "rel_error": 1.0}, GatedRow("fp16"), cfg.quality_gate) is None


def test_a_failing_row_is_recorded_invalid_with_its_figures_kept():
    record = CellRecord("s", "mobilenet_v3_large", "eager", "fp16", 64, "cuda")
    record.metrics = {"latency_ms_per_sample": 0.03, "top1_agreement": 0.0, "rel_error": 1.0}
    apply_quality_gate(record, compose_cell())
    assert record.status == "invalid" and record.error_type == "QualityGate"
    assert record.message.startswith("failed its quality gate: top-1 agreement")
    assert record.metrics["latency_ms_per_sample"] == 0.03 and record.facts["quality_gate"] == "fail"


@pytest.mark.parametrize("random_head, status", [(None, "ok"), ("class means", "invalid")])
def test_a_random_model_is_held_to_the_agreement_rule_once_its_head_decides_clearly(random_head, status):
    record = CellRecord("s", "mobilenet_v3_large", "eager", "fp16", 64, "cuda")
    record.metrics = {"top1_agreement": 0.98, "rel_error": 0.01}
    record.facts = {"weights": "random", **({"random_head": random_head} if random_head else {})}
    apply_quality_gate(record, compose_cell())
    assert record.status == status


@pytest.mark.parametrize(
    "precision, tf32, in_force",
    [("fp32", "false", False), ("fp32", "true", True), ("int8", "false", False),  # fp32 arithmetic: the key
     ("fp16", "false", True), ("bf16", "false", True), ("fp8", "false", True)],  # half rows: on
)  # fmt: skip
def test_tf32_switches_follow_the_key_for_fp32_arithmetic_and_are_on_for_half_rows(precision, tf32, in_force):
    assert tf32_in_force(compose_cell(f"precision={precision}", f"tf32={tf32}")) is in_force


@pytest.mark.parametrize("precision, status", [("fp16", "ok"), ("int8", "invalid")])
def test_tf32_seen_in_a_half_row_is_its_setting_but_unasked_in_an_fp32_arithmetic_row(precision, status):
    record = CellRecord("s", "resnet18", "eager", precision, 64, "cuda")
    record.metrics = {"top1_agreement": 1.0, "rel_error": 0.004}
    record.environment = {"tf32_matmul": True, "tf32_cudnn": True}
    apply_quality_gate(record, compose_cell(f"precision={precision}"))
    assert record.status == status


def profile_file(tmp_path: Path, nodes: list[tuple[str, str, str]]) -> Path:
    events = [
        {"cat": "Session", "name": "model_run", "args": {}},
        *(
            {"cat": "Node", "name": f"{name}_kernel_time", "args": {"op_name": op, "provider": provider,
             "output_type_shape": [{"int64" if op == "Shape" else "float": [4, 8]}]}}
            for name, op, provider in nodes
        ),
    ]  # fmt: skip
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(events))
    return path


def test_node_placement_counts_providers_and_host_float_work(tmp_path):
    path = profile_file(
        tmp_path,
        [("conv", "Conv", "CUDAExecutionProvider"), ("shape", "Shape", "CPUExecutionProvider"),
         ("gemm", "Gemm", "CPUExecutionProvider")],
    )  # fmt: skip
    placement = node_placement(path)
    assert placement["nodes_by_provider"] == {"CUDAExecutionProvider": 1, "CPUExecutionProvider": 2}
    assert placement["host_float_nodes"] == ["Gemm:gemm"]  # int64 shape arithmetic is ORT's own choice


class ProfiledSession:
    def __init__(self, path: Path):
        self.path = path

    def end_profiling(self) -> str:
        return str(self.path)


def test_a_cuda_row_with_a_node_on_the_cpu_is_refused(tmp_path):
    path = profile_file(
        tmp_path, [("conv", "Conv", "CUDAExecutionProvider"), ("gemm", "Gemm", "CPUExecutionProvider")]
    )
    with pytest.raises(LabelMismatch, match="1 node\\(s\\) fell back to the CPU: Gemm:gemm"):
        OnnxRuntimeBackend.placement(ProfiledSession(path), "CUDAExecutionProvider")
    assert not path.exists()  # the profile is read, then removed


def test_onnxruntime_cpu_record_lists_its_node_placement(tmp_path):
    from tests.conftest import FAST_TIMING, run_benchmark

    done = run_benchmark(
        tmp_path, "model=fcn", "backend=onnxruntime", "device=cpu", "eval_samples=50", *FAST_TIMING
    )
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(next(tmp_path.glob("outputs/runs/*/record.json")).read_text())
    assert record["facts"]["ort_nodes_by_provider"]["CPUExecutionProvider"] >= 3
    assert record["facts"]["precision_switches"]["torch.backends.cuda.matmul.allow_tf32"] is False
    assert record["environment"]["cudnn_benchmark"] is True  # the default, logged in every record
    assert record["facts"]["quality_gate"] == "pass"
    assert record["metrics"]["f1_macro_fp32"] == pytest.approx(record["metrics"]["f1_macro"], abs=0.01)


def test_onnxruntime_placement_is_read_from_the_first_call_not_from_a_call_of_its_own(tmp_path, monkeypatch):
    """The worker takes its "artifact before its first call" VRAM mark after the build: a build
    that ran the model (to profile it) would count one call's arena growth as the artifact's."""
    calls = []
    real_runner = OnnxRuntimeBackend.host_runner

    def counted_runner(session, names):
        run = real_runner(session, names)
        return lambda *inputs: calls.append(1) or run(*inputs)

    monkeypatch.setattr(OnnxRuntimeBackend, "host_runner", staticmethod(counted_runner))
    prepared = fcn_prepare(tmp_path, "backend=onnxruntime")
    assert not calls and "ort_nodes_by_provider" not in prepared.artifact.facts
    prepared.first_call(prepared.inputs(prepared.eval_batches[0]))
    assert len(calls) == 1
    assert prepared.artifact.facts["ort_nodes_by_provider"]["CPUExecutionProvider"] >= 3
    assert prepared.artifact.first_call_evidence is None  # read once: later calls are not profiled


class Shrinking(nn.Module):
    """Conv + BatchNorm blocks whose random init shrinks activations (as MobileNetV3's does)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.blocks = nn.Sequential(
            *(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)) for _ in range(6))
        )
        for block in self.blocks:
            block[0].weight.data.mul_(0.05)

    def forward(self, x):
        return self.blocks(x)


class Images(torch.utils.data.Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, index):
        return (torch.randn(8, 6, 6, generator=torch.Generator().manual_seed(index)),), -1


def test_settled_batchnorm_keeps_activations_in_range():
    model, x = Shrinking().eval(), torch.randn(4, 8, 6, 6)
    with torch.no_grad():
        before = model(x).abs().mean()
        assert settle_batchnorm(model, Images()) == 64
        after = model(x).abs().mean()
    assert before < 1e-4 and 0.3 < after < 3
    assert not model.training and all(
        m.momentum == 0.1 for m in model.modules() if isinstance(m, nn.BatchNorm2d)
    )


def test_a_model_without_batchnorm_is_left_alone():
    model = nn.Linear(4, 2)
    weight = model.weight.detach().clone()
    assert settle_batchnorm(model, Images()) == 0 and torch.equal(model.weight, weight)


def synthetic_images(classes: int, size: int = 64):
    from benchmark.data.synthetic import RandomImages

    return RandomImages((3, 8, 8), size, seed=5, template_seed=99, classes=classes)


def test_synthetic_images_come_in_classes_shared_by_both_splits():
    eval_split, train = synthetic_images(4), synthetic_images(4)
    train.seed = 1_000_005
    (a,), label_a = eval_split[1]
    (b,), label_b = train[5]
    (c,), label_c = eval_split[2]
    assert (label_a, label_b, label_c) == (1, 1, 2) and not torch.equal(a, b)
    assert (a - b).norm() < 0.3 * (a - c).norm()  # same class: noise apart; other class: far


def test_class_mean_head_gives_a_random_model_clear_decisions():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)
    )
    data = synthetic_images(4)
    inputs = torch.stack([data[i][0][0] for i in range(len(data))])
    labels = torch.tensor([data[i][1] for i in range(len(data))])
    with torch.no_grad():
        assert (model(inputs).argmax(1) == labels).float().mean() < 0.9  # random head: chance
        assert fit_class_mean_head(model, data) == 4
        logits = model(inputs)
    assert torch.equal(logits.argmax(1), labels)
    assert torch.all(model[-1].weight[4:] == 0)  # classes the split never showed
    top2 = logits.topk(2).values
    assert (top2[:, 0] - top2[:, 1]).min() > 0.5  # far from a near-tie


def test_class_mean_head_needs_labels():
    model = nn.Sequential(nn.Flatten(), nn.Linear(8 * 6 * 6, 3))
    weight = model[-1].weight.detach().clone()
    assert fit_class_mean_head(model, Images()) == 0 and torch.equal(model[-1].weight, weight)


@pytest.mark.parametrize(
    ("backend", "source_alive"), [("torchscript", False), ("onnxruntime", False), ("eager", True)]
)
def test_a_file_backed_artifact_runs_without_the_torch_model(backend, source_alive, tmp_path, monkeypatch):
    """Whatever the artifact does not hold is freed before scoring and timing: a TorchScript or
    ONNX artifact holds no torch module, so the FP32 model's memory is not in its figures."""
    from benchmark import models

    loaded_modules = []
    real_load = models.load_model

    def spy(*args, **kwargs):
        loaded = real_load(*args, **kwargs)
        loaded_modules.append(weakref.ref(loaded.module))
        return loaded

    monkeypatch.setattr(models, "load_model", spy)
    prepared = fcn_prepare(tmp_path, f"backend={backend}")
    gc.collect()
    assert prepared.loaded.module is None
    assert (loaded_modules[0]() is not None) is source_alive
    assert prepared.fp32_file.is_file()
    references = prepared.reference_summaries()  # the FP32 reference comes back from disk, after timing
    assert len(references) == len(prepared.eval_batches) and not prepared.fp32_file.exists()


def runs_frame() -> pd.DataFrame:
    base = {"model": "m", "device": "cuda", "precision": "fp16", "batch_size": 64, "error_type": "",
            "message": "", "sweep_id": "s", "start_time": 0, "top1_agreement": 1.0}  # fmt: skip
    rows = [
        {**base, "backend": "eager", "precision": "fp32", "status": "ok", "latency_p50_ms": 6.4,
         "latency_mean_ms": 6.4, "latency_std_ms": 0.064, "latency_ms_per_sample": 0.1, "cell_id": "a"},
        {**base, "backend": "compile", "status": "ok", "latency_p50_ms": 1.28, "latency_mean_ms": 1.3,
         "latency_std_ms": 0.13, "latency_ms_per_sample": 0.02, "cell_id": "b"},
        {**base, "backend": "onnxruntime", "status": "ok", "latency_p50_ms": 1.34, "latency_mean_ms": 1.34,
         "latency_std_ms": 0.0134, "latency_ms_per_sample": 0.021, "cell_id": "c"},
        {**base, "backend": "torchscript", "status": "invalid", "latency_p50_ms": 0.64, "latency_mean_ms": 0.64,
         "latency_std_ms": 0.0064, "latency_ms_per_sample": 0.01, "cell_id": "d", "error_type": "QualityGate",
         "message": "failed its quality gate: top-1 agreement with FP32 0.000 < 0.99", "top1_agreement": 0.0},
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_findings_never_name_an_invalid_row_and_do_not_rank_ties():
    lines = findings(runs_frame())
    fastest = next(line for line in lines if line.startswith("Fastest at batch 64"))
    assert fastest.startswith(
        "Fastest at batch 64: compile cuda fp16 (0.02 ms/sample median, ±10%, 5.0x eager FP32)"
    )
    assert "within its spread, so not told apart: onnxruntime cuda fp16 (0.02094)" in fastest
    assert "torchscript" not in " ".join(lines)


def test_tables_show_the_median_with_its_spread_and_mark_invalid_rows():
    section = model_sections(runs_frame(), with_figures=False)[0]
    tables = dict(section.tables)
    median = next(grid for title, grid in tables.items() if title.startswith("Inference time, median"))
    assert median.loc["compile cuda fp16", "batch size 64"] == "0.0200 ±10%"
    assert tables["Inference time [ms/sample]"].loc["torchscript cuda fp16", "batch size 64"] == "0.0100 ✗"
    assert any(
        note.startswith("✗ = failed its quality gate") and "torchscript cuda fp16 bs64" in note
        for note in section.notes
    )


def test_a_row_without_latency_spread_still_shows_its_value():
    run = with_spread(runs_frame()).iloc[1].drop(["latency_cv"])
    table = next(t for t in TABLES if t.spread)
    assert cell_text(run, table) == "0.0200"


def test_a_torchscript_export_leaves_no_frozen_copy_of_the_weights(tmp_path):
    """torch.jit.freeze's constants outlive the module in the JIT's class registry unless it is
    cleared: on a GPU that is a second copy of the weights in the artifact's VRAM."""
    import psutil

    from benchmark.backends import BuildContext
    from benchmark.backends.torchscript import TorchScriptBackend

    def rss_mb() -> float:
        gc.collect()
        return psutil.Process().memory_info().rss / 2**20

    before = rss_mb()
    model = nn.Sequential(nn.Linear(8192, 8192), nn.ReLU()).eval()  # 256 MB of weights
    ctx = BuildContext(
        model=model, example=(torch.randn(2, 8192),), precision=compose_cell().precision,
        device=torch.device("cpu"), calibration=lambda: iter(()), quantization="dynamic",
        workdir=tmp_path, threads=2,
    )  # fmt: skip
    TorchScriptBackend().export(ctx, tmp_path)
    del ctx, model
    assert rss_mb() - before < 150  # without clearing the registry: about 316 MB stay


def test_report_notes_only_rows_that_really_shared_their_host():
    from benchmark.results.report import quality_and_host_notes

    def shared_notes(runs):
        return [n for n in quality_and_host_notes(runs) if "shared their host" in n]

    runs = runs_frame()
    runs["fact.placement"] = ["gpu 0, whole host", "gpu 0, cores 0-7", "gpu 1, cores 8-15", ""]
    assert len(shared_notes(runs)) == 1 and shared_notes(runs)[0].startswith("2 of these cells")
    runs["fact.placement"] = "gpu 0, whole host"  # one GPU: the gpus launcher ran one cell at a time
    assert not shared_notes(runs)
    runs["host_other_busy_cores"] = [1.4, 0.1, 0.0, 0.0]  # another sweep's parent busy beside the first
    assert shared_notes(runs)[0].startswith("1 of these cells")


def test_other_cpu_work_during_a_window_is_measured():
    """The window counts at least the CPU time a spinning process beside it took (read from that
    process itself), whatever else the host runs: a busy CI machine adds, never hides."""
    import multiprocessing
    import time

    import psutil

    from benchmark.measure.latency import OtherCpuWork

    def spin(seconds):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass

    def cpu_seconds(process):
        times = process.cpu_times()
        return times.user + times.system

    other = multiprocessing.get_context("fork").Process(target=spin, args=(3.0,))
    other.start()
    spinner = psutil.Process(other.pid)
    time.sleep(0.3)  # the fork's own start-up is not part of the window
    before, started = cpu_seconds(spinner), time.perf_counter()
    with OtherCpuWork() as busy:
        time.sleep(1.0)
    spun = (cpu_seconds(spinner) - before) / (time.perf_counter() - started)
    other.join()
    assert spun > 0.2  # it did run beside the window
    assert busy.other_cores >= 0.8 * spun


def test_a_torchao_row_says_how_many_layers_it_quantized_at_its_batch_sizes():
    """torchao's facts count quantized Linear layers and the compute layers left in bf16 (the
    convolutions of an image model, a Linear that sees too few rows for int8): T5's decoder
    layers stay bf16 at batch 1 and 16, so the row's share grows with the batch; a whole row
    says nothing, and another model's row its own count."""
    from benchmark.results.report import row_labels

    base = {"backend": "torchao", "device": "cuda", "precision": "int8", "model": "t5"}
    counts = [(48, 49, 0), (48, 49, 0), (97, 0, 0), (97, 0, 0), (72, 1, 0), (4, 0, 62), (24, 0, 0)]
    models = ["t5"] * 4 + ["gptneo", "mobilenet", "bert"]
    runs = pd.DataFrame(
        [{**base, "model": model, "fact.quantized_linear": str(q), "fact.bf16_linear": str(b),
          "fact.bf16_other_compute_layers": str(o)} for model, (q, b, o) in zip(models, counts, strict=True)]
    )  # fmt: skip
    assert list(row_labels(runs)) == ["torchao cuda int8 (48-97/97 layers)"] * 4 + [
        "torchao cuda int8 (72/73 layers)",
        "torchao cuda int8 (4/66 layers)",
        "torchao cuda int8",
    ]

    # a cell skipped before its build (too few rows) has no facts: it stands in its row all the same
    runs.loc[5, "fact.memory_format"] = "channels_last"
    skipped = pd.DataFrame([{**base, "model": "mobilenet"}])
    labels = list(row_labels(pd.concat([runs, skipped], ignore_index=True)))
    assert labels[5] == labels[7] == "torchao cuda int8 (4/66 layers) channels_last"


def test_partly_quantized_rows_say_how_much_and_repeated_failures_are_one_finding():
    from benchmark.results.report import row_labels

    runs = runs_frame()
    runs["fact.int8_layers"] = [None, None, 1, None]
    runs["fact.float_compute_layers"] = [None, None, 3, None]
    assert list(row_labels(runs))[2] == "onnxruntime cuda fp16 (1/4 layers)"
    assert list(row_labels(runs))[0] == "eager cuda fp32"

    runs["params.backend.options.freezing"] = ["False", "True", None, "False"]
    runs["params.tf32"] = ["False"] * 4
    labels = list(row_labels(runs))
    assert labels[0] == "eager cuda fp32"  # nothing varies within its row

    both = pd.concat([runs.iloc[[0]], runs.iloc[[0]].assign(**{"params.backend.options.freezing": "True"})])
    assert list(row_labels(both)) == ["eager cuda fp32 freezing=False", "eager cuda fp32 freezing=True"]

    missing = "ImageNet-mini not found: run `make data`"
    failed = pd.DataFrame(
        [{**runs.iloc[0].to_dict(), "status": "error", "error_type": "MissingAsset", "message": missing,
          "batch_size": size, "cell_id": f"f{size}"} for size in (1, 16, 32, 64)]
    )  # fmt: skip
    lines = [line for line in findings(pd.concat([runs, failed])) if line.startswith("Failed")]
    assert lines == [
        f"Failed: 4 cells (eager cuda fp32 bs1, eager cuda fp32 bs16, eager cuda fp32 bs32, ...): "
        f"MissingAsset ({missing})"
    ]


@pytest.mark.parametrize("on", [True, False])
def test_cudnn_benchmark_key_is_pinned_before_anything_runs_and_logged(on):
    from benchmark.measure import environment

    before = torch.backends.cudnn.benchmark, torch.backends.cudnn.benchmark_limit
    try:
        environment.configure_runtime(1, tf32=False, seed=0, cudnn_benchmark=on)
        assert torch.backends.cudnn.benchmark is on
        env = environment.collect(torch.device("cpu"))
        assert env["cudnn_benchmark"] is on
        assert env["cudnn_benchmark_limit"] == (0 if on else 10)  # on: every engine timed, not torch's top 10
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.benchmark_limit = before


class FakeEnergyNvml:
    def __init__(self, readings):
        self.readings = iter(readings)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        return next(self.readings)


def test_gpu_energy_is_read_around_the_window_and_divided_per_sample(monkeypatch):
    from benchmark.measure import energy

    monkeypatch.setattr(energy, "_handle", lambda device: "card")
    nvml = FakeEnergyNvml([1_000, 21_000])
    monkeypatch.setattr("benchmark.measure.memory._nvml", lambda: nvml)
    clock = iter([10.0, 12.0])
    monkeypatch.setattr(energy.time, "perf_counter", lambda: next(clock))
    with energy.GpuEnergy(torch.device("cuda")) as window:
        pass
    assert window.metrics(samples=400) == {"energy_mj_per_sample": 50.0, "gpu_power_w": 10.0}


def test_gpu_energy_is_not_measured_on_the_cpu_nor_over_a_short_window(monkeypatch):
    from benchmark.measure import energy

    with energy.GpuEnergy(torch.device("cpu")) as window:
        pass
    assert window.metrics(samples=10) == {}
    monkeypatch.setattr(energy, "_handle", lambda device: "card")
    nvml = FakeEnergyNvml([0, 5])
    monkeypatch.setattr("benchmark.measure.memory._nvml", lambda: nvml)
    with energy.GpuEnergy(torch.device("cuda")) as short:  # well under MIN_WINDOW_S
        pass
    assert short.metrics(samples=10) == {}


@pytest.mark.parametrize("uuid", ["d005a1e0-f0bf", "GPU-d005a1e0-f0bf"])
def test_nvml_finds_the_torch_device_by_its_uuid_whatever_cuda_visible_devices_says(uuid, monkeypatch):
    from types import SimpleNamespace

    from benchmark.measure.memory import nvml_handle

    asked = []
    nvml = SimpleNamespace(nvmlDeviceGetHandleByUUID=lambda u: asked.append(u) or f"handle {u}")
    monkeypatch.setattr("benchmark.measure.memory._nvml", lambda: nvml)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: SimpleNamespace(uuid=uuid))
    assert nvml_handle(torch.device("cuda", 0)) == "handle GPU-d005a1e0-f0bf"
    assert asked == ["GPU-d005a1e0-f0bf"]  # NVML's form, prefixed once


def test_a_workers_own_gpu_memory_is_asked_of_its_gpu_alone(monkeypatch):
    """Each NVML process query holds the driver's lock: the worker asks its own GPU only."""
    import os
    from types import SimpleNamespace

    from benchmark.measure.memory import own_gpu_bytes

    asked = []
    processes = [SimpleNamespace(pid=os.getpid(), usedGpuMemory=700), SimpleNamespace(pid=1, usedGpuMemory=5)]
    nvml = SimpleNamespace(
        nvmlDeviceGetHandleByUUID=lambda u: f"handle {u}",
        nvmlDeviceGetComputeRunningProcesses=lambda handle: asked.append(handle) or processes,
    )
    monkeypatch.setattr("benchmark.measure.memory._nvml", lambda: nvml)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: SimpleNamespace(uuid="GPU-7"))
    assert own_gpu_bytes(torch.device("cuda", 0)) == 700
    assert asked == ["handle GPU-7"]


def test_the_report_reads_records_from_a_committed_archive_as_from_their_folder(tmp_path):
    import tarfile

    from benchmark.results.report import load_records

    folder = tmp_path / "records" / "sweep" / "cell"
    folder.mkdir(parents=True)
    record = CellRecord("s", "resnet18", "eager", "fp16", 64, "cuda", status="ok")
    record.metrics = {"latency_ms_per_sample": 0.03}
    record.save(folder / "record.json")
    with tarfile.open(tmp_path / "records.tgz", "w:gz") as archive:
        archive.add(tmp_path / "records", arcname="records")
    from_folder, from_archive = load_records([tmp_path / "records"]), load_records([tmp_path / "records.tgz"])
    assert len(from_archive) == 1 and from_archive.iloc[0]["latency_ms_per_sample"] == 0.03
    pd.testing.assert_frame_equal(
        from_folder.drop(columns="start_time"), from_archive.drop(columns="start_time")
    )


def test_findings_name_rows_as_the_tables_do_settings_included():
    runs = runs_frame()
    twin = runs.iloc[[1]].assign(
        cell_id="b2", latency_p50_ms=1.30, **{"params.backend.options.freezing": "True"}
    )
    runs = pd.concat([runs.assign(**{"params.backend.options.freezing": "False"}), twin], ignore_index=True)
    section = model_sections(runs, with_figures=False)[0]
    fastest = next(line for line in section.findings if line.startswith("Fastest at batch 64"))
    assert fastest.startswith("Fastest at batch 64: compile cuda fp16 freezing=False (0.02 ms/sample")
    assert "not told apart: compile cuda fp16 freezing=True (0.02031)" in fastest
    assert {"compile cuda fp16 freezing=False", "compile cuda fp16 freezing=True"} <= set(
        section.tables[0][1].index
    )


def test_the_environment_table_names_the_clocks_and_gives_many_values_as_a_range():
    from benchmark.results.report import environment_rows

    runs = pd.DataFrame(
        {"env.gpu": ["NVIDIA H200"] * 5, "env.sm_clock_mhz": [1980, 1755, 1980, 1830, 1900],
         "env.mem_clock_mhz": [3201] * 5, "env.driver": ["580.159.04", "580.159.04", None, "", "580.159.04"]}
    )  # fmt: skip
    rows = dict(environment_rows(runs))
    assert rows["SM clock [MHz]"] == "1755-1980"  # four distinct values: a range
    assert rows["memory clock [MHz]"] == "3201" and rows["driver"] == "580.159.04"


def test_a_compiled_artifacts_first_call_runs_the_graph_its_build_compiled(tmp_path):
    """build_s holds a torch.compile row's compilation only if the timed inputs pass the guards of
    the graph the build compiled; Dynamo guards on a tensor's dispatch keys, which differ between
    tensors made inside and outside torch.inference_mode(). On CUDA every timed batch is a copy;
    here bf16 gives the same (the cast copies), where fp32 on the CPU would time the very tensors
    the build saw. The worker makes those copies inside inference mode: they must still be made
    as the build's example was (session 9 of the study found 2 graphs where the build made 1)."""
    from torch._dynamo.utils import counters

    prepared = fcn_prepare(tmp_path, "backend=compile", "precision=bf16")
    built = counters["stats"]["unique_graphs"]
    assert built >= 1
    with torch.inference_mode():
        prepared.first_call(prepared.inputs(prepared.eval_batches[0]))
    assert counters["stats"]["unique_graphs"] == built
