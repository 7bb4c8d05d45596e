"""Every CUDA path of the benchmark on tiny models: each check here once caught, or would have
caught, a GPU row that was not what its label said (ONNX Runtime "fp32" running TF32, fp16
outputs that underflowed to zeros, CUDA graphs assumed rather than seen, memory that torch's
allocator cannot see). Run with `make test-gpu` on a GPU machine."""

from __future__ import annotations

import gc
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from benchmark.backends import BuildContext
from benchmark.backends.compile import CompileBackend
from benchmark.backends.eager import EagerBackend
from benchmark.backends.torch_common import cast_inputs
from benchmark.backends.torchscript import TorchScriptBackend
from benchmark.config import QualityGateConfig
from benchmark.measure.environment import pin_tf32
from benchmark.measure.latency import cuda_graph_launches
from benchmark.measure.quality import FidelityMeter, GatedRow, gate_failure
from tests.conftest import FAST_TIMING, fcn_prepare, run_benchmark


def ort_cuda_available() -> bool:
    if importlib.util.find_spec("onnxruntime") is None:
        return False
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


NO_GPU = "no CUDA GPU visible: the GPU suite runs on a GPU machine with `make test-gpu`"
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)
needs_ort_cuda = pytest.mark.skipif(
    not ort_cuda_available(), reason="onnxruntime-gpu (CUDAExecutionProvider) is not installed here"
)
needs_torchao = pytest.mark.skipif(
    importlib.util.find_spec("torchao") is None, reason="torchao is not installed here"
)
pytestmark = [pytest.mark.gpu, needs_gpu]

CUDA = torch.device("cuda")
PRECISIONS = {
    name: OmegaConf.create({"name": name, "dtype": dtype, "quantized": quantized})
    for name, dtype, quantized in (
        ("fp32", "float32", False),
        ("fp16", "float16", False),
        ("bf16", "bfloat16", False),
        ("int8", "float32", True),
        ("fp8", "bfloat16", True),
    )
}


@pytest.fixture(autouse=True)
def tf32_off():
    pin_tf32(False)
    yield
    pin_tf32(False)


def mlp(width: int = 512, classes: int = 16) -> nn.Module:
    """Wide enough that TF32 matmuls differ from FP32 ones by far more than 1e-5."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, classes)
    ).eval()


def context(model: nn.Module, precision: str, tmp_path: Path, batch: int = 32, tf32: bool = False):
    torch.manual_seed(1)
    example = (torch.randn(batch, model[0].in_features, device=CUDA),)
    return BuildContext(
        model=model.to(CUDA), example=example, precision=PRECISIONS[precision], device=CUDA,
        calibration=lambda: iter(()), quantization="dynamic", workdir=tmp_path, threads=4, tf32=tf32,
    )  # fmt: skip


def relative_error(out: torch.Tensor, reference: torch.Tensor) -> float:
    return float((out.float() - reference).norm() / reference.norm())


@torch.inference_mode()
def fp32_reference(model: nn.Module, example) -> torch.Tensor:
    return model(*example).float().clone()


def conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    ).eval()  # fmt: skip


def channels_last_fp16_conv(tmp_path: Path):
    """A small convolution network's fp16 channels_last build context, its batch and FP32 output."""
    model = conv_net().to(CUDA)
    example = (torch.randn(16, 3, 32, 32, device=CUDA),)
    reference = fp32_reference(model, example)
    ctx = BuildContext(
        model=model, example=example, precision=PRECISIONS["fp16"], device=CUDA, calibration=lambda: iter(()),
        quantization="dynamic", workdir=tmp_path, threads=4, channels_last=True,
        tf32=True,  # as the worker builds an fp16 row (config.tf32_in_force)
    )  # fmt: skip
    return ctx, example, reference


@pytest.mark.parametrize("backend", [EagerBackend(), TorchScriptBackend(), CompileBackend("reduce-overhead")])
def test_channels_last_on_cuda_lays_out_weights_and_inputs(tmp_path, backend):
    ctx, example, reference = channels_last_fp16_conv(tmp_path)
    artifact = (
        backend.build(ctx)
        if not hasattr(backend, "export")
        else backend.load(ctx, tmp_path, backend.export(ctx, tmp_path))
    )
    inputs = cast_inputs(example, artifact.input_dtype, artifact.channels_last_inputs)
    assert artifact.facts["memory_format"] == "channels_last"
    assert inputs[0].is_contiguous(memory_format=torch.channels_last) and not inputs[0].is_contiguous()
    with torch.inference_mode():
        out = artifact.run(*inputs)
    assert relative_error(out, reference) < 2e-2


@pytest.mark.parametrize("precision, dtype", [("fp16", torch.float16), ("bf16", torch.bfloat16)])
def test_half_precisions_really_cast_weights_and_outputs(tmp_path, precision, dtype):
    model = mlp()
    ctx = context(model, precision, tmp_path)
    reference = fp32_reference(model, ctx.example)
    artifact = EagerBackend().build(ctx)
    with torch.inference_mode():
        out = artifact.run(*(t.to(artifact.input_dtype) for t in ctx.example))
    assert artifact.facts["param_dtypes"] == [str(dtype)] and out.dtype == dtype
    assert 1e-5 < relative_error(out, reference) < 2e-2  # reduced precision, not a collapse


def test_torchscript_runs_on_the_gpu_and_matches_fp32(tmp_path):
    model = mlp()
    ctx = context(model, "fp32", tmp_path)
    reference = fp32_reference(model, ctx.example)
    artifact = TorchScriptBackend().build(ctx)
    with torch.inference_mode():
        out = artifact.run(*ctx.example)
    assert out.device.type == "cuda"
    assert relative_error(out, reference) < 1e-5


def test_aoti_on_cuda_runs_or_says_its_loader_crashes(tmp_path):
    # torch 2.11+cu130's package loader died with SIGSEGV on every CUDA package on the lent
    # machines, which ended the whole process; the backend's probe (a child process) turns that
    # into a skip with the reason, before the build. Where the loader works, the package runs.
    from benchmark.backends import UnsupportedCell
    from benchmark.backends.aoti import AotInductorBackend
    from benchmark.sweep.refusals import UNSUPPORTED_ON_THIS_MACHINE

    model = mlp(width=64)
    ctx = context(model, "fp32", tmp_path)
    reference = fp32_reference(model, ctx.example)
    try:
        artifact = AotInductorBackend().build(ctx)
    except UnsupportedCell as refusal:
        assert "died with SIG" in str(refusal) and not (tmp_path / "model.pt2").exists()
        # by this name the sweep skips the machine's other aoti cells without a worker each
        assert type(refusal).__name__ == UNSUPPORTED_ON_THIS_MACHINE
        pytest.skip(str(refusal))
    with torch.inference_mode():
        out = artifact.run(*ctx.example)
    assert out.device.type == "cuda" and relative_error(out, reference) < 1e-5


@pytest.mark.parametrize("mode, graphs", [("default", False), ("reduce-overhead", True)])
def test_compile_modes_and_cuda_graph_evidence(tmp_path, mode, graphs):
    ctx = context(mlp(), "fp16", tmp_path)
    artifact = CompileBackend(mode=mode).build(ctx)
    x = tuple(t.to(torch.float16) for t in ctx.example)

    def step():
        artifact.run(*x)
        torch.cuda.synchronize()

    with torch.inference_mode():
        for _ in range(3):  # CUDA graph trees record on the second or third call
            step()
        launches = cuda_graph_launches(step)
    assert artifact.facts["graphs"] >= 1
    assert artifact.expects_cuda_graphs is graphs
    assert (launches >= 1) if graphs else (launches == 0)


def test_whole_call_capture_replays_one_graph_per_call_on_the_new_inputs(tmp_path):
    """graph_capture=whole_call: one CUDA graph around the compiled call (Inductor compiled without
    its own graphs). Each call must replay it once, on the inputs it was given, in their layout."""
    ctx, example, reference = channels_last_fp16_conv(tmp_path)
    artifact = CompileBackend(mode="reduce-overhead", graph_capture="whole_call").build(ctx)
    assert artifact.facts["inductor_mode"] == "default" and artifact.facts["graph_capture"] == "whole_call"
    assert artifact.expects_cuda_graphs
    # as the worker does after a build: only the artifact may keep the weights alive (a graph
    # that held none replayed on freed memory: an illegal memory access, fifth measurement)
    del ctx
    gc.collect()
    torch.cuda.empty_cache()
    x = cast_inputs(example, torch.float16, channels_last=True)
    other = cast_inputs((torch.randn_like(example[0]),), torch.float16, channels_last=True)
    with torch.inference_mode():
        out = artifact.run(*x).float().clone()
        launches = cuda_graph_launches(lambda: (artifact.run(*x), torch.cuda.synchronize()))
        moved = artifact.run(*other).float().clone()
        again = artifact.run(*x).float().clone()
    assert launches == 1  # one replay a call, nothing else
    assert relative_error(out, reference) < 0.05  # fp16 against the FP32 model
    assert not torch.equal(moved, out)  # the graph read the new inputs, not the captured ones
    assert torch.allclose(again, out, rtol=1e-3, atol=1e-3)  # and back again


def ort_row(tmp_path: Path, precision: str, tf32: bool, cuda_graph: bool = False):
    from benchmark.backends.onnxruntime import OnnxRuntimeBackend

    model = mlp()
    ctx = context(model, precision, tmp_path, tf32=tf32)
    reference = fp32_reference(model, ctx.example)
    artifact = OnnxRuntimeBackend(cuda_graph=cuda_graph).build(ctx)
    torch.cuda.synchronize()
    with torch.inference_mode():
        out = artifact.run(*(t.to(artifact.input_dtype) for t in ctx.example)).clone()
    torch.cuda.synchronize()
    artifact.read_first_call_evidence()  # node placement, from the profile of that call
    return artifact, relative_error(out, reference)


@needs_ort_cuda
def test_onnxruntime_cuda_fp32_is_fp32_with_tf32_off(tmp_path):
    artifact, error = ort_row(tmp_path, "fp32", tf32=False)
    switches = artifact.facts["precision_switches"]
    assert switches["onnxruntime.CUDAExecutionProvider.use_tf32"] == "0"
    assert artifact.facts["providers"][0] == "CUDAExecutionProvider"
    assert artifact.facts["ort_host_float_nodes"] == 0
    assert artifact.facts["ort_nodes_by_provider"].get("CUDAExecutionProvider", 0) >= 3
    assert error <= 1e-5, f"ORT fp32 relative error {error:.2e} against torch fp32 (TF32 off)"


@needs_ort_cuda
def test_onnxruntime_tf32_switch_really_switches(tmp_path):
    artifact, error = ort_row(tmp_path, "fp32", tf32=True)
    assert artifact.facts["precision_switches"]["onnxruntime.CUDAExecutionProvider.use_tf32"] == "1"
    assert error > 1e-5, f"tf32=true left ORT at FP32 accuracy ({error:.2e}): the switch does nothing"


@needs_ort_cuda
def test_onnxruntime_cuda_fp16_through_iobinding(tmp_path):
    artifact, error = ort_row(tmp_path, "fp16", tf32=False)
    assert artifact.input_dtype == torch.float16
    assert artifact.facts["ort_host_float_nodes"] == 0
    assert 1e-5 < error < 2e-2


@needs_ort_cuda
def test_onnxruntime_cuda_graph_is_captured_and_replayed(tmp_path):
    artifact, error = ort_row(tmp_path, "fp16", tf32=False, cuda_graph=True)
    assert artifact.expects_cuda_graphs and 1e-5 < error < 2e-2
    example = (torch.randn(32, 512, device=CUDA, dtype=torch.float16),)

    def step():
        artifact.run(*example)
        torch.cuda.synchronize()

    assert cuda_graph_launches(step) >= 1  # the worker's own proof, as for compile_cudagraphs


@needs_ort_cuda
def test_onnxruntime_channels_last_runs_nhwc_kernels(tmp_path):
    """prefer_nhwc is only a wish: the row says channels_last when ORT's optimised graph holds
    its NHWC convolutions, which this wheel has. The fused convolution is asked for, and the
    3-channel first convolution adds its bias apart (bias_apart_below_channels)."""
    from benchmark.backends.onnxruntime import OnnxRuntimeBackend

    ctx, example, reference = channels_last_fp16_conv(tmp_path)
    artifact = OnnxRuntimeBackend().build(ctx)
    with torch.inference_mode():
        out = artifact.run(*cast_inputs(example, artifact.input_dtype)).clone()
    torch.cuda.synchronize()
    artifact.read_first_call_evidence()
    assert artifact.facts["ort_prefer_nhwc"] == "1" and artifact.facts["ort_nhwc_nodes"] >= 2
    assert artifact.facts["memory_format"] == "channels_last"
    assert artifact.facts["ort_fuse_conv_bias"] == "1" and artifact.facts["ort_conv_bias_apart"] == 1
    assert relative_error(out, reference) < 2e-2


@needs_ort_cuda
def test_onnxruntime_fused_attention_on_cuda_fp16_honours_padding(tmp_path):
    """ORT's fused Attention (the fusions of fuse_for_ort) on the GPU, fp16, with padded rows."""
    from transformers import AutoModelForSequenceClassification, BertConfig

    from benchmark.backends.onnxruntime import OnnxRuntimeBackend
    from benchmark.models.hf import LogitsOnly

    torch.manual_seed(0)
    config = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)
    model = LogitsOnly(AutoModelForSequenceClassification.from_config(config, attn_implementation="sdpa"))
    model = model.eval().to(CUDA)
    ids = torch.randint(5, config.vocab_size, (8, 32), device=CUDA)
    mask = torch.ones_like(ids)
    mask[::2, 20:] = 0  # every other row padded
    reference = fp32_reference(model, (ids, mask))
    ctx = BuildContext(
        model=model, example=(ids, mask), precision=PRECISIONS["fp16"], device=CUDA,
        calibration=lambda: iter(()), quantization="dynamic", workdir=tmp_path, threads=4,
    )  # fmt: skip
    artifact = OnnxRuntimeBackend().build(ctx)
    with torch.inference_mode():
        out = artifact.run(ids, mask).clone()
    torch.cuda.synchronize()
    artifact.read_first_call_evidence()
    assert artifact.facts["ort_fusions"]["attention"] == 2
    assert artifact.facts["ort_host_float_nodes"] == 0
    assert relative_error(out, reference) < 2e-2


@needs_torchao
@pytest.mark.parametrize("precision", ["int8", "fp8"])
def test_torchao_quantizes_every_aligned_linear(tmp_path, precision):
    from benchmark.backends.torchao import TorchAoBackend

    ctx = context(mlp(), precision, tmp_path, batch=64)
    reference = fp32_reference(ctx.model, ctx.example)
    artifact = TorchAoBackend().build(ctx)
    with torch.inference_mode():
        out = artifact.run(*(t.to(torch.bfloat16) for t in ctx.example))
    assert artifact.facts["quantized_linear"] == 3 and artifact.facts["bf16_linear"] == 0
    assert relative_error(out, reference) < 0.1


@pytest.mark.parametrize(
    "backend, precision", [("compile", "bf16"), pytest.param("torchao", "int8", marks=needs_torchao)]
)
def test_a_compiled_cuda_rows_first_call_and_eval_compile_nothing_more(tmp_path, backend, precision):
    """Dynamo guards on what differed between a row's build and its scored calls until session 12:
    the worker's CUDA batches are copies made inside inference mode (the build's example was
    made outside it), and torchao 0.17 turned TF32 on in the build, which the worker sets back
    after the first call. A compiled row compiled again in its first call, a torchao row once
    more on its first scored batch: the eval phase of T5's torchao int8 at batch 16 and 32 ran
    past the study's 300 s. FCN at batch 32: torchao quantizes its two aligned Linear layers."""
    from torch._dynamo.utils import counters

    overrides = ("eval_samples=64", "batch_size=32", f"backend={backend}", f"precision={precision}")
    prepared = fcn_prepare(tmp_path, *overrides, device="cuda")
    built = counters["stats"]["unique_graphs"]
    with torch.inference_mode():
        prepared.first_call(prepared.inputs(prepared.eval_batches[0]))
        for batch in prepared.eval_batches:
            prepared.artifact.run(*prepared.inputs(batch))
    assert built >= 1 and counters["stats"]["unique_graphs"] == built


def test_quality_gate_fires_on_an_output_that_underflows_in_fp16(tmp_path):
    """MobileNetV3's failure in small: activations of about 1e-9 are exactly zero in fp16."""
    model = mlp()
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, nn.Linear):
                layer.weight.mul_(1e-3)
                layer.bias.zero_()
    ctx = context(model, "fp16", tmp_path)
    reference = fp32_reference(model, ctx.example)
    artifact = EagerBackend().build(ctx)
    meter = FidelityMeter()
    batch = type("Batch", (), {"valid": ctx.example[0].shape[0]})()
    with torch.inference_mode():
        out = artifact.run(*(t.to(torch.float16) for t in ctx.example))
    assert reference.abs().max() < 1e-6 and out.abs().max() == 0
    meter.compare(meter.summarize(out, batch), meter.summarize(reference, batch))
    gate = OmegaConf.structured(QualityGateConfig)
    failure = gate_failure(meter.compute(), GatedRow("fp16", near_tied=True), gate)
    assert failure == "relative error vs FP32 1 > 0.05"


CELL = ("model=fcn", "device=cuda", "eval_samples=200", "batch_size=64", *FAST_TIMING)


def cell_record(cwd: Path, *overrides: str, env: dict[str, str] | None = None) -> dict:
    cwd.mkdir(parents=True, exist_ok=True)
    keys = {o.split("=", 1)[0] for o in overrides}
    cell = [o for o in CELL if o.split("=", 1)[0] not in keys]  # an override here wins over CELL's
    done = run_benchmark(cwd, *cell, *overrides, f"tracking_uri=sqlite:///{cwd}/mlflow.db", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    path = next(
        line.split("record: ", 1)[1] for line in done.stdout.splitlines() if line.startswith("record: ")
    )
    return json.loads(Path(path).read_text())


def test_a_cuda_cell_end_to_end_logs_its_switches_memory_parts_and_graphs(tmp_path):
    # timed for longer than NVML's energy window needs (energy.MIN_WINDOW_S)
    record = cell_record(tmp_path, "backend=compile_cudagraphs", "precision=fp16", "timing.min_s=1.5")
    assert record["status"] == "ok", record["message"]
    facts, m = record["facts"], record["metrics"]
    assert facts["cuda_graph_launches_per_call"] >= 1
    # an fp16 row runs with the TF32 switches on (config.tf32_in_force), and passes its gate so
    assert facts["precision_switches"]["torch.backends.cudnn.allow_tf32"] is True
    assert facts["quality_gate"] == "pass" and m["top1_agreement"] >= 0.99
    assert m["peak_vram_mb"] >= m["vram_loaded_mb"] > m["cuda_context_mb"] > 100
    # the worker's own reading as timing ends (the parent's sampler keeps quiet while it times)
    assert m["peak_vram_mb"] >= m["vram_timed_mb"] >= m["vram_loaded_mb"]
    assert m["vram_artifact_mb"] + m["cuda_context_mb"] == pytest.approx(m["vram_loaded_mb"])
    assert (
        m["energy_mj_per_sample"] > 0 and 10 < m["gpu_power_w"] < 1500
    )  # NVML's counter, read around the loop
    assert record["environment"]["cudnn_benchmark"] is True
    # the GPU's clock times each call; the host's wait for it (wake-up included) is kept beside
    assert facts["latency_clock"] == "cuda_events"
    assert 0 < m["latency_mean_ms"] <= m["latency_wall_mean_ms"]
    assert m["latency_wall_mean_ms"] < 1.5 * m["latency_mean_ms"] + 0.2
    # the SM clock as timing ended, still the working clock, not the idle one (H100/H200: 345 MHz)
    assert m["sm_clock_timed_mhz"] > 1000


@needs_ort_cuda
def test_nvml_sees_memory_torch_cannot_an_ort_arena_of_256_mb(tmp_path):
    allowed = {"BENCHMARK_ALLOW_FAULTS": "1"}
    plain = cell_record(tmp_path / "plain", "backend=eager", env=allowed)
    arena = cell_record(tmp_path / "arena", "backend=eager", "fault=ort_arena_256mb", env=allowed)
    assert plain["status"] == arena["status"] == "ok"
    extra_nvml = arena["metrics"]["peak_vram_mb"] - plain["metrics"]["peak_vram_mb"]
    extra_torch = arena["metrics"]["torch_max_reserved_mb"] - plain["metrics"]["torch_max_reserved_mb"]
    assert extra_nvml >= 256, f"NVML saw only {extra_nvml:.0f} MB more with a 256 MB ORT arena"
    assert abs(extra_torch) < 16, f"torch's allocator moved by {extra_torch:.0f} MB"


@needs_ort_cuda
def test_an_onnxruntime_cuda_cell_end_to_end(tmp_path):
    record = cell_record(tmp_path, "backend=onnxruntime", "precision=fp32")
    assert record["status"] == "ok", record["message"]
    facts = record["facts"]
    assert facts["precision_switches"]["onnxruntime.CUDAExecutionProvider.use_tf32"] == "0"
    assert facts["ort_cudnn_conv_algo_search"] == "EXHAUSTIVE"  # cudnn_benchmark=true, read back
    assert record["environment"]["cudnn_benchmark"] is True
    assert facts["ort_host_float_nodes"] == 0
    assert record["metrics"]["rel_error"] <= 1e-5
    # ORT computes on torch's current stream, so the events around its call see all its work
    assert facts["latency_clock"] == "cuda_events"
    assert 0 < record["metrics"]["latency_mean_ms"] <= record["metrics"]["latency_wall_mean_ms"]
