"""Each backend builds on a small trained digits model and matches eager FP32 on the same
inputs: FP32 rows within float rounding, INT8 rows within a quantization tolerance."""

import contextlib
import copy
import gc
import sys
import weakref
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from benchmark.backends import BuildContext, UnsupportedCell, create_backend
from benchmark.backends.torch_common import cast_inputs, memory_format_of, wants_channels_last
from benchmark.data import batches
from benchmark.models import load_model
from tests.conftest import compose_cell

FP32_REL_ERROR = 1e-4  # reordered float arithmetic only
INT8_REL_ERROR, INT8_AGREEMENT = 0.25, 0.95  # 8-bit weights on a 10-class digits model


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return {
        name: load_model(compose_cell(f"model={name}").model, digits, cache).module
        for name in ("fcn", "cnn", "lstm")
    }


def build(
    backend: str, model: nn.Module, model_name: str, precision: str, digits, workdir, channels_last=False
):
    cfg = compose_cell(f"model={model_name}", f"backend={backend}", f"precision={precision}")
    batch = next(batches(digits.eval, 64))
    ctx = BuildContext(
        model=copy.deepcopy(model),
        example=batch.inputs,
        precision=cfg.precision,
        device=torch.device("cpu"),
        calibration=lambda: (b.inputs for b in batches(digits.train, 64)),
        quantization=cfg.model.quantization,
        workdir=workdir,
        threads=2,
        channels_last=channels_last,
    )
    artifact = create_backend(cfg.backend).build(ctx)
    with torch.inference_mode():
        reference = model(*batch.inputs)
        inputs = cast_inputs(batch.inputs, artifact.input_dtype, artifact.channels_last_inputs)
        outputs = artifact.run(*inputs).float()
    rel_error = float((outputs - reference).norm() / reference.norm())
    agreement = float((outputs.argmax(1) == reference.argmax(1)).float().mean())
    return artifact, rel_error, agreement


FP32_CASES = [(b, m) for b in ("eager", "torchscript", "onnxruntime") for m in ("fcn", "cnn", "lstm")] + [
    ("compile", "fcn"),
    ("compile", "lstm"),
]


@pytest.mark.parametrize(("backend", "model_name"), FP32_CASES)
def test_fp32_backend_matches_eager(backend, model_name, trained, digits, tmp_path):
    _, rel_error, agreement = build(backend, trained[model_name], model_name, "fp32", digits, tmp_path)
    assert rel_error < FP32_REL_ERROR
    assert agreement == 1.0


INT8_CASES = [("eager", m) for m in ("fcn", "cnn", "lstm")] + [
    ("torchscript", "fcn"),
    ("onnxruntime", "fcn"),
    ("onnxruntime", "cnn"),
    ("onnxruntime", "lstm"),
]


@pytest.mark.parametrize(("backend", "model_name"), INT8_CASES)
def test_int8_backend_is_int8_and_close_to_fp32(backend, model_name, trained, digits, tmp_path):
    artifact, rel_error, agreement = build(backend, trained[model_name], model_name, "int8", digits, tmp_path)
    assert rel_error < INT8_REL_ERROR and rel_error > 0  # > 0: something really changed
    assert agreement >= INT8_AGREEMENT
    proof = artifact.facts.get("int8_layers", artifact.facts.get("int8_ops", 0))
    assert proof > 0


def test_eager_int8_counts_the_convolutions_it_leaves_in_fp32(trained, digits, tmp_path):
    artifact, *_ = build("eager", trained["cnn"], "cnn", "int8", digits, tmp_path)
    assert artifact.facts["int8_layers"] == 1  # the linear head
    assert artifact.facts["float_compute_layers"] == 3  # Conv2d: dynamic quantization ignores them


def test_onnxruntime_proves_provider_and_int8_kernels(trained, digits, tmp_path):
    artifact, *_ = build("onnxruntime", trained["cnn"], "cnn", "int8", digits, tmp_path)
    assert artifact.facts["providers"][0] == "CPUExecutionProvider"
    assert artifact.facts["int8_ops"] >= 3  # the 3 convolutions run as QLinearConv
    assert "static" in artifact.facts["scheme"]


def test_onnx_int8_ignores_the_exporters_shapes_of_weights(tmp_path):
    # torch's exporter writes a value_info for every weight; ORT 1.30's dynamic quantizer
    # transposes a Gemm's weight and then fails on that entry (the GPU image's FCN and LSTM
    # int8 cells). Here the entry is stale from the start, as that quantizer leaves it.
    import onnx
    from onnx import TensorProto, helper

    from benchmark.backends.onnxruntime import export_onnx, quantize_int8

    fcn = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).eval()
    exported = tmp_path / "model.onnx"
    export_onnx(fcn, (torch.randn(2, 64),), exported, 18)
    model = onnx.load(str(exported))
    first_gemm = next(node for node in model.graph.node if node.op_type == "Gemm")
    weight = first_gemm.input[1]  # [256, 64]; stale: [64, 256]
    model.graph.value_info.append(helper.make_tensor_value_info(weight, TensorProto.FLOAT, [64, 256]))
    onnx.save_model(model, str(exported))

    scheme = quantize_int8(
        exported, tmp_path / "int8.onnx", SimpleNamespace(quantization="dynamic"), ["input_0"]
    )
    int8_ops = [node.op_type for node in onnx.load(str(tmp_path / "int8.onnx")).graph.node]
    assert "dynamic" in scheme and int8_ops.count("MatMulInteger") == 2


def test_aoti_refuses_in_seconds_where_its_package_loader_crashes(trained, digits, tmp_path, monkeypatch):
    # As on the GPU image (torch 2.11+cu130), where every CUDA package's load died with SIGSEGV
    # after minutes of build: here the host's probe is made to crash the same way.
    from benchmark.backends import aoti
    from benchmark.sweep.refusals import UNSUPPORTED_ON_THIS_MACHINE

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    monkeypatch.setattr(aoti, "PROBED_DEVICES", ("cpu",))
    monkeypatch.setattr(aoti, "PROBE", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    with pytest.raises(
        UnsupportedCell, match="probe package of one Linear layer died with SIGSEGV"
    ) as refused:
        build("aoti", trained["fcn"], "fcn", "fp32", digits, tmp_path / "cell")
    # by this name the sweep skips the other aoti cells here without a worker each
    assert type(refused.value).__name__ == UNSUPPORTED_ON_THIS_MACHINE
    assert not (tmp_path / "cell" / aoti.PACKAGE).exists()  # refused before the build
    # one probe a machine and torch build: the next cell reads its answer
    monkeypatch.setattr(aoti, "PROBE", "pass")
    assert "SIGSEGV" in aoti.loader_crash(torch.device("cpu"))
    # a probe that raises is no crash: the cell builds, and says its own error if it has one
    assert (
        aoti.loader_crash(torch.device("cpu"), probe=[sys.executable, "-c", "raise SystemExit(1)"])
        is not None
    )
    (tmp_path / "inductor").rename(tmp_path / "answered")
    assert aoti.loader_crash(torch.device("cpu"), probe=[sys.executable, "-c", "raise SystemExit(1)"]) is None


def test_int8_without_quantizable_layers_is_unsupported_not_fp32(digits, tmp_path):
    conv_only = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    with pytest.raises(UnsupportedCell, match="INT8 would be FP32"):
        build("eager", conv_only, "cnn", "int8", digits, tmp_path)


def test_compile_reports_its_graph(trained, digits, tmp_path):
    artifact, *_ = build("compile", trained["fcn"], "fcn", "fp32", digits, tmp_path)
    assert artifact.facts["graphs"] >= 1 and artifact.facts["mode"] == "default"


def test_compile_freezing_folds_the_weights_and_still_matches_fp32(trained, digits, tmp_path):
    cfg = compose_cell("model=cnn", "backend=compile")
    cfg.backend.options.freezing = True
    batch = next(batches(digits.eval, 64))
    ctx = BuildContext(
        model=copy.deepcopy(trained["cnn"]), example=batch.inputs, precision=cfg.precision,
        device=torch.device("cpu"), calibration=lambda: iter(()), quantization="static",
        workdir=tmp_path, threads=2,
    )  # fmt: skip
    artifact = create_backend(cfg.backend).build(ctx)
    with torch.inference_mode():
        reference, outputs = trained["cnn"](*batch.inputs), artifact.run(*batch.inputs)
    assert artifact.facts["freezing"] is True and artifact.facts["graphs"] >= 1
    assert float((outputs - reference).norm() / reference.norm()) < FP32_REL_ERROR


def test_inductor_cache_fact_says_whether_the_disk_cache_gave_the_kernels():
    from collections import Counter

    from benchmark.backends.compile import inductor_cache

    assert inductor_cache(Counter(fxgraph_cache_hit=2)) == "hit"
    assert inductor_cache(Counter(fxgraph_cache_miss=1)) == "miss"
    assert inductor_cache(Counter(fxgraph_cache_hit=1, fxgraph_cache_miss=1)) == "1 hit / 1 miss"
    assert inductor_cache(Counter()) == "not used"


def test_max_autotune_is_an_opt_in_cuda_row():
    cfg = compose_cell("backend=compile_max_autotune")
    assert cfg.backend.options.mode == "max-autotune" and list(cfg.backend.precisions) == ["cuda"]
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from benchmark.config import conf_dir

    backends = sorted(p.stem for p in (conf_dir() / "backend").glob("*.yaml"))
    swept = {}
    for preset in (conf_dir() / "sweep").glob("*.yaml"):
        value = OmegaConf.load(preset).hydra.sweeper.params.get("backend")
        if value is not None:  # Hydra's own reading of the preset: lists and glob(..., exclude=...)
            parsed = OverridesParser.create().parse_overrides([f"backend={value}"])[0].value()
            swept[preset.stem] = parsed.filter(backends) if hasattr(parsed, "filter") else str(parsed)
    assert "compile_max_autotune" in backends and "eager" in swept["study"]
    assert not any("compile_max_autotune" in str(s) for s in swept.values())  # minutes per shape: opt-in


class FakeGraph:
    """torch.cuda's CUDAGraph as WholeCallGraph uses it, on a machine without CUDA: the function
    called while it captures records its computation, and replay() reruns it on the buffers the
    capture saw, writing into the outputs the capture returned (what a real replay does)."""

    capturing: "FakeGraph | None" = None

    def __init__(self):
        self.recorded, self.replays = [], 0

    def replay(self):
        self.replays += 1
        for compute, args, out in self.recorded:
            out.copy_(compute(*args))


class FakeCuda:
    def __init__(self):
        self.graphs: list[FakeGraph] = []

    @staticmethod
    def Stream():
        return SimpleNamespace(wait_stream=lambda other: None)

    current_stream = Stream

    @staticmethod
    @contextlib.contextmanager
    def stream(_):
        yield

    def CUDAGraph(self):
        self.graphs.append(FakeGraph())
        return self.graphs[-1]

    @staticmethod
    @contextlib.contextmanager
    def graph(g):
        FakeGraph.capturing = g
        yield
        FakeGraph.capturing = None


def test_whole_call_graph_copies_each_call_s_inputs_into_the_captured_ones_and_replays_once():
    from benchmark.backends.compile import WholeCallGraph

    calls = []

    def doubled(x):  # the compiled model: runs eagerly in warm-up, records itself in capture
        calls.append("capture" if FakeGraph.capturing else "warm-up")
        out = x * 2
        if FakeGraph.capturing:
            FakeGraph.capturing.recorded.append((lambda t: t * 2, (x,), out))
        return out

    cuda = FakeCuda()
    example = torch.randn(2, 3, 4, 4).contiguous(memory_format=torch.channels_last)
    graphed = WholeCallGraph(doubled, (example,), cuda=cuda, warmup_calls=2)
    assert calls == ["warm-up", "warm-up", "capture"] and len(cuda.graphs) == 1
    assert graphed.inputs[0].is_contiguous(memory_format=torch.channels_last)  # the layout is kept
    first, second = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    out = graphed(first)
    assert torch.equal(out, first * 2) and cuda.graphs[0].replays == 1
    assert graphed(second) is out and torch.equal(out, second * 2)  # the captured buffer, refilled
    assert cuda.graphs[0].replays == 2 and len(calls) == 3  # replays only: the model never runs again
    with pytest.raises(ValueError, match=r"shape \(1, 3, 4, 4\): the graph was captured for \(2, 3, 4, 4\)"):
        graphed(torch.randn(1, 3, 4, 4))  # would broadcast into the buffer without the check
    # the graph replays on the compiled module's weights: it must keep that module alive (the
    # worker drops every other reference after the build)
    compiled = weakref.ref(doubled)
    del doubled
    gc.collect()
    assert compiled() is not None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"graph_capture": "always"}, "graph_capture='always' is not one of trees, whole_call"),
        ({"mode": "default", "graph_capture": "whole_call"}, "needs a CUDA-graph mode"),
    ],
)
def test_graph_capture_is_checked(options, message):
    from benchmark.backends.compile import CompileBackend

    with pytest.raises(ValueError, match=message):
        CompileBackend(**options)


def test_whole_call_capture_is_offered_on_the_cuda_graph_rows_and_refused_on_the_cpu(
    trained, digits, tmp_path
):
    cfg = compose_cell("backend=compile_cudagraphs", "backend.options.graph_capture=whole_call")
    assert cfg.backend.options.graph_capture == "whole_call"
    assert compose_cell("backend=compile_max_autotune").backend.options.graph_capture == "trees"
    with pytest.raises(UnsupportedCell, match="needs a CUDA device"):
        create_backend(cfg.backend).build(
            BuildContext(
                model=copy.deepcopy(trained["fcn"]),
                example=next(batches(digits.eval, 8)).inputs,
                precision=cfg.precision,
                device=torch.device("cpu"),
                calibration=lambda: iter(()),
                quantization="static",
                workdir=tmp_path,
                threads=2,
            )
        )


def test_backend_options_are_checked():
    cfg = OmegaConf.merge(compose_cell("backend=compile").backend, {"options": {"mode": "fastest"}})
    with pytest.raises(ValueError, match="mode"):
        create_backend(cfg)


@pytest.mark.parametrize(("backend", "precision"), [("torchao", "int8"), ("tensorrt", "fp16")])
def test_gpu_only_backends_say_why_they_skip_here(backend, precision, trained, digits, tmp_path):
    with pytest.raises(UnsupportedCell, match="not installed|not importable|CUDA"):
        build(backend, trained["fcn"], "fcn", precision, digits, tmp_path)


class PooledEncoder(nn.Module):
    """BERT's shape in small: a Linear over every token, a pooler over the first token only,
    and a head whose dims torchao cannot take."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(32, 32)
        self.pooler = nn.Linear(32, 32)
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        return self.head(self.pooler(self.encoder(x)[:, 0]))


def test_torchao_int8_leaves_layers_with_few_rows_in_bf16():
    from benchmark.backends.torchao import layer_filter, no_layer_reason, rows_per_linear

    model = PooledEncoder()
    for batch, tokens, expected in ((16, 8, {"encoder"}), (32, 8, {"encoder", "pooler"}), (2, 4, set())):
        rows = rows_per_linear(model, (torch.randn(batch, tokens, 32),))
        assert rows[model.encoder] == batch * tokens and rows[model.pooler] == batch
        keep = layer_filter("int8", rows)
        assert {name for name, m in model.named_children() if keep(m)} == expected
    # fp8 has no row limit: every aligned layer, never the 3-class head
    assert {name for name, m in model.named_children() if layer_filter("fp8", rows)(m)} == {
        "encoder",
        "pooler",
    }
    assert "16 rows or fewer" in no_layer_reason("int8", rows, 2)
    assert not any(hook for m in model.modules() for hook in m._forward_pre_hooks.values())


def test_torchao_quantizes_exactly_the_layers_the_filter_keeps():
    pytest.importorskip("torchao")
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    from benchmark.backends.torchao import TorchAoBackend, layer_filter, rows_per_linear

    model = PooledEncoder().to(torch.bfloat16)
    inputs = (torch.randn(16, 8, 32, dtype=torch.bfloat16),)
    quantize_(
        model,
        Int8DynamicActivationInt8WeightConfig(),
        filter_fn=layer_filter("int8", rows_per_linear(model, inputs)),
    )
    assert TorchAoBackend.count_layers(model) == {
        "quantized_linear": 1,  # the encoder; the 16-row pooler and the 3-class head stay bf16
        "bf16_linear": 2,
        "bf16_other_compute_layers": 0,
    }
    assert type(model.encoder.weight).__name__ not in ("Parameter", "Tensor")
    with torch.no_grad():
        assert model(*inputs).shape == (16, 3)


def test_torchao_leaves_the_tf32_switches_as_it_found_them(monkeypatch):
    """torchao 0.17's quantize_ turned TF32 on for the whole process (its recommended Inductor
    options ended with torch.set_float32_matmul_precision("high")). Dynamo guards on TF32: a row
    built with it on and pinned off afterwards compiled its graph once more, in the eval phase."""
    torchao_utils = pytest.importorskip("torchao.quantization.utils")
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig

    from benchmark.backends.torchao import (
        TorchAoBackend,
        layer_filter,
        quantize_keeping_tf32,
        rows_per_linear,
    )
    from benchmark.measure.environment import pin_tf32

    setter_calls = []

    def torchao_017_setter() -> None:  # its TF32 line only: the Inductor options would outlive the test
        setter_calls.append(1)
        torch.set_float32_matmul_precision("high")

    monkeypatch.setattr(torchao_utils, "recommended_inductor_config_setter", torchao_017_setter)
    model = PooledEncoder().to(torch.bfloat16)
    inputs = (torch.randn(32, 8, 32, dtype=torch.bfloat16),)
    pin_tf32(False)
    try:
        config = Int8DynamicActivationInt8WeightConfig()
        quantize_keeping_tf32(model, config, layer_filter("int8", rows_per_linear(model, inputs)))
        assert setter_calls and TorchAoBackend.count_layers(model)["quantized_linear"] == 2
        assert torch.backends.cuda.matmul.allow_tf32 is False and torch.backends.cudnn.allow_tf32 is False
    finally:
        pin_tf32(False)


@pytest.mark.parametrize("backend", ["eager", "torchscript", "compile"])
def test_channels_last_lays_out_weights_and_images_and_matches_fp32(backend, trained, digits, tmp_path):
    artifact, rel_error, agreement = build(
        backend, trained["cnn"], "cnn", "fp32", digits, tmp_path, channels_last=True
    )
    assert artifact.facts["memory_format"] == "channels_last" and artifact.channels_last_inputs
    assert rel_error < FP32_REL_ERROR and agreement == 1.0


def test_contiguous_is_said_too(trained, digits, tmp_path):
    artifact, _, _ = build("eager", trained["cnn"], "cnn", "fp32", digits, tmp_path)
    assert artifact.facts["memory_format"] == "contiguous" and not artifact.channels_last_inputs


def test_memory_format_auto_picks_channels_last_for_conv_nets_on_cuda_only():
    cnn = nn.Sequential(nn.Conv2d(1, 8, 3), nn.Flatten())
    fcn = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert wants_channels_last("auto", cuda, cnn) and not wants_channels_last("auto", cpu, cnn)
    assert not wants_channels_last("auto", cuda, fcn)  # no convolution: nothing to lay out
    assert wants_channels_last("channels_last", cpu, cnn) and not wants_channels_last("contiguous", cuda, cnn)
    with pytest.raises(UnsupportedCell, match="no 2-D convolution"):
        wants_channels_last("channels_last", cpu, fcn)


def test_memory_format_reads_the_weights_not_the_wish():
    conv = nn.Sequential(nn.Conv2d(3, 8, 3))
    assert memory_format_of(conv) == "contiguous"
    assert memory_format_of(conv.to(memory_format=torch.channels_last)) == "channels_last"
    assert memory_format_of(nn.Sequential(nn.Conv2d(8, 8, 1))) is None  # 1x1: both layouts at once


def test_ort_cudnn_algorithm_search_follows_the_key_unless_the_option_names_one():
    from benchmark.backends.onnxruntime import OnnxRuntimeBackend

    assert OnnxRuntimeBackend().algo_search(cudnn_benchmark=True) == "EXHAUSTIVE"
    assert OnnxRuntimeBackend().algo_search(cudnn_benchmark=False) == "HEURISTIC"
    assert OnnxRuntimeBackend(conv_algo_search="HEURISTIC").algo_search(cudnn_benchmark=True) == "HEURISTIC"


@pytest.mark.parametrize(
    "fuse, channels_last, expected",
    [(True, True, "1"), (False, True, "0"), (True, False, "0")],  # NCHW: ORT's fused conv fails
)
def test_ort_cuda_provider_options_carry_the_keys_and_the_backend_options(fuse, channels_last, expected):
    from types import SimpleNamespace

    from benchmark.backends.onnxruntime import OnnxRuntimeBackend

    ctx = SimpleNamespace(
        device=torch.device("cuda", 1), tf32=True, cudnn_benchmark=False, channels_last=channels_last
    )
    stream = SimpleNamespace(cuda_stream=1234)  # no GPU here: torch's current stream, stood in for
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.cuda, "current_stream", lambda device: stream)
        provider, options = OnnxRuntimeBackend(fuse_conv_bias=fuse).provider_for(ctx)
    assert provider == "CUDAExecutionProvider"
    assert options == {
        "device_id": "1", "user_compute_stream": "1234", "use_tf32": "1", "enable_skip_layer_norm_strict_mode": "0",
        "cudnn_conv_algo_search": "HEURISTIC", "prefer_nhwc": "1" if channels_last else "0", "enable_cuda_graph": "0",
        "fuse_conv_bias": expected,
    }  # fmt: skip


def test_ort_asks_no_fused_convolution_of_an_fp32_row():
    """ORT's fallback for a fused plan cuDNN cannot build allows TF32 (cuda/nn/conv.cc): an fp32
    row (TF32 off) must not ask for the fusion, or it could quietly compute in TF32."""
    from types import SimpleNamespace

    from benchmark.backends.onnxruntime import OnnxRuntimeBackend

    ctx = SimpleNamespace(
        device=torch.device("cuda", 0), tf32=False, cudnn_benchmark=True, channels_last=True
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.cuda, "current_stream", lambda device: SimpleNamespace(cuda_stream=1))
        _, options = OnnxRuntimeBackend().provider_for(ctx)
    assert (options["use_tf32"], options["prefer_nhwc"], options["fuse_conv_bias"]) == ("0", "1", "0")


def test_conv_bias_apart_moves_only_small_convolutions_bias_and_ort_keeps_it_apart(tmp_path):
    """ResNet's 3-channel first layer adds its bias in an Add of its own (cuDNN's fused plan for
    it is slow); wider convolutions keep theirs; the outputs do not change; and with ORT's
    ConvAddFusion off the session really runs the Add (its optimized graph still has it)."""
    import onnx
    import onnxruntime as ort

    from benchmark.backends.onnxruntime import OnnxRuntimeBackend, conv_bias_apart, export_onnx

    net = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 8, 3)).eval()
    x = torch.randn(2, 3, 12, 12)
    source, target = tmp_path / "model.onnx", tmp_path / "apart.onnx"
    export_onnx(net, (x,), source, 18)
    assert conv_bias_apart(source, target, below_channels=8) == 1
    graph = onnx.load(str(target)).graph
    assert [(n.op_type, len(n.input)) for n in graph.node if n.op_type in ("Conv", "Add")] == [
        ("Conv", 2), ("Add", 2), ("Conv", 3)
    ]  # fmt: skip
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    session = ort.InferenceSession(str(target), options, disabled_optimizers=["ConvAddFusion"])
    (out,) = session.run(None, {"input_0": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(out), net(x).detach(), rtol=1e-4, atol=1e-5)
    assert "Add" in {n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node}
    assert conv_bias_apart(source, target, below_channels=3) == 0  # none has fewer than 3
    # the session's graph: apart only where the fused convolution is asked for (CUDA, NHWC, TF32)
    fused, unfused = {"fuse_conv_bias": "1"}, {"fuse_conv_bias": "0"}
    assert OnnxRuntimeBackend().session_graph(source, unfused, tmp_path) == (source, [], None)
    assert OnnxRuntimeBackend(bias_apart_below_channels=0).session_graph(source, fused, tmp_path) == (
        source, [], None
    )  # fmt: skip
    path, disabled, moved = OnnxRuntimeBackend().session_graph(source, fused, tmp_path)
    assert (path.name, disabled, moved) == ("model.conv_bias_apart.onnx", ["ConvAddFusion"], 1)


def test_conv_bias_apart_broadcasts_over_a_1d_convolutions_length(tmp_path):
    """The Add's bias has one axis of 1 per spatial axis: [1, C, 1] for a Conv1d, whose output
    [N, C, L] a [1, C, 1, 1] bias would not broadcast onto."""
    import onnxruntime as ort

    from benchmark.backends.onnxruntime import conv_bias_apart, export_onnx

    net = nn.Conv1d(3, 8, 3).eval()
    x = torch.randn(2, 3, 10)
    source, target = tmp_path / "model.onnx", tmp_path / "apart.onnx"
    export_onnx(net, (x,), source, 18)
    assert conv_bias_apart(source, target, below_channels=8) == 1
    session = ort.InferenceSession(str(target), disabled_optimizers=["ConvAddFusion"])
    (out,) = session.run(None, {"input_0": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(out), net(x).detach(), rtol=1e-4, atol=1e-5)


def test_ort_fusions_turn_an_fp16_exports_gelu_and_its_bias_into_one_biasgelu(tmp_path):
    """onnxscript's erf_gelu rule misses fp16's rounded sqrt(2) (1.4140625); ours must not, or
    ORT runs GELU as five element-wise kernels per layer."""
    import onnx

    from benchmark.backends.onnxruntime import export_onnx, fuse_for_ort

    mlp = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 4)).eval().half()
    path = tmp_path / "mlp.onnx"
    export_onnx(mlp, (torch.randn(2, 3, 16, dtype=torch.half),), path, 18)  # 3-D: MatMul, then its bias Add
    assert "Erf" in {node.op_type for node in onnx.load(str(path)).graph.node}
    fusions = fuse_for_ort(path)
    assert fusions["erf_gelu_half"] == 1 and fusions["bias_gelu"] == 1
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "BiasGelu" in ops and "Erf" not in ops
