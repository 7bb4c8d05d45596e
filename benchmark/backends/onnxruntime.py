"""ONNX Runtime: torch.onnx export (dynamo exporter, dynamic batch axis), ORT's contrib-op
fusions (attention, skip layer norm) for float rows, optional INT8 quantization by ORT's own
tools, then an InferenceSession on the requested provider.
The facts come from the session itself: active providers, the provider options in force (TF32
and the other precision switches), where each node ran (read from ORT's profile of the first call),
and the INT8 ops left in the graph ORT actually optimised and runs."""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch

from benchmark.backends import Artifact, BuildContext, FileBackend, LabelMismatch, UnsupportedCell
from benchmark.backends.torch_common import DTYPES, cast_inputs, cast_module

CALIBRATION_SAMPLES = 512
FP32_OR_HALF, INT8 = "model.onnx", "model.int8.onnx"  # the file the session of each precision reads
# Ops that compute in INT8 (ONNX standard and ORT's com.microsoft contrib ops).
INT8_OPS = {
    "QLinearConv", "QLinearMatMul", "MatMulInteger", "ConvInteger", "QGemm", "QAttention",
    "DynamicQuantizeLSTM", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QLinearAdd",
}  # fmt: skip
FLOAT_COMPUTE_OPS = {
    "Conv",
    "MatMul",
    "Gemm",
    "LSTM",
    "GRU",
    "FusedConv",
    "FusedMatMul",
    "FusedGemm",
    "Attention",
    "MultiHeadAttention",
}
Provider = Literal["auto", "tensorrt"]  # auto: CUDA or CPU, as the cell's device says
NHWC_DOMAIN = "com.ms.internal.nhwc"  # where ORT's layout transformer puts the NHWC kernels it chose


def export_onnx(
    model: torch.nn.Module, example: tuple[torch.Tensor, ...], path: Path, opset: int
) -> list[str]:
    """Export with a dynamic batch axis on every input; returns the input names."""
    names = [f"input_{i}" for i in range(len(example))]
    batch = torch.export.Dim("batch")
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress
        torch.onnx.export(
            model, example, str(path), dynamo=True, opset_version=opset, input_names=names,
            output_names=["logits"], dynamic_shapes=tuple({0: batch} for _ in example), external_data=False,
        )  # fmt: skip
    return names


def fuse_for_ort(path: Path) -> dict[str, int]:
    """Rewrites the file with ORT's contrib ops (Attention, SkipLayerNormalization, ...) where
    the graph allows; returns the fusions made. The dynamo exporter's attention (SDPA decomposed,
    with its NaN guards) is a pattern ORT's own session optimizer does not find, so without this a
    transformer runs unfused MatMul-Softmax-MatMul on ORT while eager runs fused attention. These
    are the rewrite rules ORT's developers point to for dynamo exports (onnxscript's ort_fusions)."""
    import onnx_ir as ir
    from onnxscript.rewriter import ort_fusions

    model = ir.load(str(path))
    half_gelu = half_erf_gelu_rules().apply_to_model(model)  # first: bias_gelu then fuses its Add
    fused, counts = ort_fusions.optimize_for_ort(model)
    ir.save(fused, str(path))
    return {name: n for name, n in {**counts, "erf_gelu_half": half_gelu}.items() if n}


def conv_bias_apart(source: Path, target: Path, below_channels: int) -> int:
    """Writes `source` to `target` with the bias of each convolution that has fewer input
    channels per group (its weight's second dimension) than `below_channels` added by an Add
    node of its own; returns how many."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    constants = {init.name: init for init in graph.initializer}
    nodes, moved = [], 0
    for node in graph.node:
        weight = constants.get(node.input[1]) if node.op_type == "Conv" else None
        bias = constants.get(node.input[2]) if weight is not None and len(node.input) == 3 else None
        if bias is None or weight.dims[1] >= below_channels:
            nodes.append(node)
            continue
        # [1, C, 1, ...] with one 1 per spatial axis (1-D, 2-D or 3-D convolutions): broadcast
        # over batch and space, as the Conv's own bias is
        spatial = [1] * (len(weight.dims) - 2)
        shaped = numpy_helper.from_array(
            numpy_helper.to_array(bias).reshape(1, -1, *spatial), f"{bias.name}_apart"
        )
        graph.initializer.append(shaped)
        add = helper.make_node("Add", [f"{node.output[0]}_unbiased", shaped.name], [node.output[0]])
        del node.input[2]
        node.output[0] = add.input[0]
        nodes += [node, add]
        moved += 1
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(target))
    return moved


def half_erf_gelu_rules():
    """GELU written out by the exporter, x * (0.5 * (1 + erf(x / sqrt(2)))), as ORT's Gelu op.
    onnxscript's erf_gelu rule matches its constants within 1e-5, and an fp16 export rounds
    sqrt(2) to 1.4140625: unmatched, BERT fp16 ran GELU and its bias as five element-wise kernels
    per layer (ORT 1.59x eager on an H200, docs/results/speed/ort_probe.md). The same rule,
    with the constants matched to fp16's precision and either operand order."""
    import math

    from onnxscript.rewriter import pattern

    def near(value: float):
        return pattern.Constant(value, rel_tol=1e-3)  # fp16 keeps ~3 decimal digits

    def erf_gelu(op, x):
        one_plus_erf = op.Add(op.Erf(op.Div(x, near(math.sqrt(2)))), near(1.0))
        return op.Mul(x, op.Mul(near(0.5), one_plus_erf))

    def gelu(op, x):
        return op.Gelu(x, _domain="com.microsoft")

    return pattern.RewriteRuleSet([pattern.RewriteRule(erf_gelu, gelu)], commute=True)


class _CalibrationReader:
    """Feeds ORT's static quantizer train-split batches (never the eval split)."""

    def __init__(self, ctx: BuildContext, names: list[str]):
        self._batches = self._take(ctx, names)

    @staticmethod
    def _take(ctx: BuildContext, names: list[str]):
        seen = 0
        for inputs in ctx.calibration():
            if seen >= CALIBRATION_SAMPLES:
                return
            seen += inputs[0].shape[0]
            yield {n: t.cpu().numpy() for n, t in zip(names, inputs, strict=True)}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def without_initializer_shapes(source: Path, target: Path) -> Path:
    """Writes `source` to `target` without the value_info entries that name initializers.
    torch's exporter annotates every weight so; the entries say nothing an initializer does not,
    and go stale when a quantizer rewrites a weight: ORT 1.30's dynamic quantizer turns a Gemm's
    weight [out, in] into MatMulInteger's [in, out], then its shape inference rejects the model
    ("Inferred shape and existing shape differ"; the GPU image's FCN and LSTM int8 cells)."""
    import onnx

    model = onnx.load(str(source))
    weights = {init.name for init in model.graph.initializer}
    kept = [info for info in model.graph.value_info if info.name not in weights]
    del model.graph.value_info[:]
    model.graph.value_info.extend(kept)
    onnx.save_model(model, str(target))
    return target


def quantize_int8(fp32_path: Path, out: Path, ctx: BuildContext, names: list[str]) -> str:
    """Writes the INT8 model to `out`; returns the scheme used."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    without_initializer_shapes(fp32_path, fp32_path)  # in place: no second copy in the artifact cache
    if ctx.quantization == "dynamic":
        quantize_dynamic(str(fp32_path), str(out), weight_type=QuantType.QInt8)
        return "ORT dynamic int8 (weights int8, activations quantized per call)"
    prepped = fp32_path.with_name("model.prepped.onnx")
    quant_pre_process(str(fp32_path), str(prepped))
    quantize_static(
        str(prepped), str(out), _CalibrationReader(ctx, names), quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
    )  # fmt: skip
    return f"ORT static int8 QDQ, calibrated on {CALIBRATION_SAMPLES} train-split samples"


# CUDA provider options that change a row's arithmetic, pinned to what its label says:
# TF32 follows the `tf32` key (ORT's default is on); SkipLayerNormalization keeps its
# default, non-strict kernel (strict accumulates fp16 rows in fp32: an fp16 row runs fp16).
CUDA_PRECISION_OPTIONS = ("use_tf32", "enable_skip_layer_norm_strict_mode")
HOST_FLOAT_TYPES = ("float", "float16", "bfloat16", "double")


def node_placement(profile_file: Path) -> dict[str, Any]:
    """Nodes per execution provider in ORT's profile of one call, and the nodes that computed
    floating-point tensors on the host (shape arithmetic on int64 is ORT's own choice)."""
    events = [e for e in json.loads(profile_file.read_text()) if e.get("cat") == "Node"]
    by_provider = Counter(e["args"].get("provider", "?") for e in events)
    host_float = sorted(
        {
            f"{e['args'].get('op_name', '?')}:{e['name'].removesuffix('_kernel_time')}"
            for e in events
            if e["args"].get("provider") == "CPUExecutionProvider"
            and any(t in HOST_FLOAT_TYPES for out in e["args"].get("output_type_shape", []) for t in out)
        }
    )
    return {"nodes_by_provider": dict(by_provider), "host_float_nodes": host_float}


NUMPY_DTYPES = {
    torch.float32: np.float32,
    torch.float16: np.float16,
    torch.int64: np.int64,
    torch.int32: np.int32,
}


class OnnxRuntimeBackend(FileBackend):
    def __init__(
        self,
        opset: int = 18,
        graph_optimization: Literal["all", "basic", "none"] = "all",
        provider: Provider = "auto",
        cuda_graph: bool = False,
        fusions: bool = True,
        conv_algo_search: Literal["follow_cudnn_benchmark", "EXHAUSTIVE", "HEURISTIC", "DEFAULT"] = (
            "follow_cudnn_benchmark"
        ),
        fuse_conv_bias: bool = True,
        bias_apart_below_channels: int = 8,
    ):
        if provider not in get_args(Provider):
            raise ValueError(
                f"backend.options.provider={provider!r} is not one of {', '.join(get_args(Provider))}"
            )
        self.opset, self.graph_optimization, self.provider = opset, graph_optimization, provider
        self.cuda_graph = cuda_graph  # the CUDA provider captures the session's run once and replays it
        self.fusions = fusions  # ORT's contrib-op fusions on float rows (fuse_for_ort)
        # ORT's own cuDNN algorithm choice, to sweep against the `cudnn_benchmark` key's mapping.
        # With cuDNN 9 ORT times nothing: EXHAUSTIVE and HEURISTIC pick cuDNN's first engine by
        # heuristic modes B and A (onnxruntime cuda/nn/conv.cc; onnxruntime#22705). (H200,
        # ResNet18 fp16 batch 64 with tensor cores on: EXHAUSTIVE 0.0297 ms/sample, HEURISTIC
        # 0.0320; docs/results/speed/run2/ort_probe_tf32.md)
        self.conv_algo_search = conv_algo_search
        # the CUDA provider's cuDNN-frontend fusion of a convolution with its bias (same probe:
        # MobileNetV3 0.0508 -> 0.0400 ms/sample, ResNet18 0.0297 -> 0.0304), with the NHWC
        # kernels only (provider_for). A request: where cuDNN builds no plan for the fused graph,
        # ORT falls back to the convolution plus a separate cudnnAddTensor, without a word.
        self.fuse_conv_bias = fuse_conv_bias
        # Where the fusion is asked for, a convolution with fewer input channels per group than
        # this adds its bias in an Add node of its own (0: none). cuDNN's fused plan for
        # ResNet18's 3-channel first layer took 829 of 1959 µs a call, the same layer unfused
        # 118 µs (H100, fp16, batch 64: docs/results/speed/run6/ort_probe.md); with it apart ORT
        # ResNet18 went 0.0308 -> 0.0211 ms/sample, MobileNetV3 (its first and 15 depthwise
        # convolutions) 0.0436 -> 0.0426 (H200: run7/ort_probe_split.md).
        self.bias_apart_below_channels = bias_apart_below_channels

    def export(self, ctx: BuildContext, folder: Path) -> dict[str, Any]:
        import onnx
        import onnxruntime as ort

        dtype = DTYPES[ctx.precision.dtype]
        # Exported from the host: the exporter's graph keeps references to the weights it read
        # (onnxscript's rewrite rules hold the last graph), which must not pin a GPU copy.
        cpu = torch.device("cpu")
        path = folder / FP32_OR_HALF
        user_file = getattr(ctx.model, "onnx_path", None)  # model=onnx: the user's file is the model
        if user_file:
            model = onnx.load(user_file)  # with its external data, if any: one file here
            onnx.save_model(model, str(path))
            names = [i.name for i in model.graph.input]
        else:
            module = cast_module(ctx.model.to(cpu), dtype, cpu)
            example = tuple(t.to(cpu) for t in cast_inputs(ctx.example, dtype))
            names = export_onnx(module, example, path, self.opset)
        facts: dict[str, Any] = {"opset": self.opset, "onnxruntime": ort.__version__, "inputs": names}
        if user_file:
            facts["source"] = f"user file {user_file}"
        if ctx.precision.quantized:  # ORT's quantizers read standard ops: INT8 rows stay unfused
            facts["scheme"] = quantize_int8(path, folder / INT8, ctx, names)
        elif self.fusions:
            facts["ort_fusions"] = fuse_for_ort(path) or "none found"
        return facts

    def load(self, ctx: BuildContext, folder: Path, facts: dict[str, Any]) -> Artifact:
        import onnxruntime as ort

        provider, provider_options = self.provider_for(ctx)
        if provider not in ort.get_available_providers():
            raise UnsupportedCell(
                f"onnxruntime {ort.__version__} here has no {provider} (install onnxruntime-gpu)"
            )
        path = folder / (INT8 if ctx.precision.quantized else FP32_OR_HALF)
        if self.cuda_graph and provider != "CUDAExecutionProvider":
            raise UnsupportedCell("ORT's CUDA graphs are a CUDA execution provider option")
        path, disabled, apart = self.session_graph(path, provider_options, ctx.workdir)
        if apart is not None:
            facts = {**facts, "ort_conv_bias_apart": apart}
        try:
            session = self._session(path, provider, provider_options, ctx, disabled)
        except Exception as exc:  # e.g. a node the CUDA provider leaves to the CPU: no graph can hold it
            if self.cuda_graph:
                raise UnsupportedCell(f"ORT cannot capture this model in a CUDA graph: {exc}") from None
            raise
        facts = {**facts, "providers": session.get_providers()}
        if facts["providers"][0] != provider:
            raise LabelMismatch(f"ORT session runs on {facts['providers']}, not {provider}")
        facts.update(self._verify_ops(ctx.workdir / "model.optimized.onnx", ctx.precision.quantized))
        dtype, names = DTYPES[ctx.precision.dtype], facts["inputs"]
        if ctx.device.type == "cuda":
            output_like = self.output_like(session, ctx.example)
            if self.cuda_graph:
                run = self.graph_runner(session, names, output_like, ctx.example, dtype, ctx.device)
            else:
                run = self.bound_runner(session, names, output_like, ctx.device)
            options = session.get_provider_options().get(provider, {})
            facts["precision_switches"] = {
                f"onnxruntime.{provider}.{k}": options.get(k) for k in CUDA_PRECISION_OPTIONS
            }
            facts["ort_cudnn_conv_algo_search"] = options.get("cudnn_conv_algo_search")  # read back
            facts["ort_fuse_conv_bias"] = options.get("fuse_conv_bias")
            if ctx.channels_last:  # the label says channels_last only if ORT's graph has NHWC kernels
                facts["ort_prefer_nhwc"] = options.get("prefer_nhwc")  # read back
                facts["memory_format"] = "channels_last" if facts["ort_nhwc_nodes"] else "contiguous"
        else:
            run = self.host_runner(session, names)
        return Artifact(
            run=run,
            input_dtype=dtype,
            facts=facts,
            first_call_evidence=partial(self.placement, session, provider),
            expects_cuda_graphs=self.cuda_graph,  # the worker checks that graphs replay while timed
        )

    @staticmethod
    def placement(session, provider: str) -> dict[str, Any]:
        """Where each node of the first call ran, from ORT's profile of it (profiling then stops:
        the scored and timed calls are not profiled). A device row with floating-point work on
        the host is refused."""
        profile = Path(session.end_profiling())
        try:
            placement = node_placement(profile)
        finally:
            profile.unlink(missing_ok=True)
        facts: dict[str, Any] = {"ort_nodes_by_provider": placement["nodes_by_provider"]}
        if provider == "CPUExecutionProvider":
            return facts
        if placement["host_float_nodes"]:
            raise LabelMismatch(
                f"{len(placement['host_float_nodes'])} node(s) fell back to the CPU: "
                f"{', '.join(placement['host_float_nodes'][:5])}"
            )
        return {**facts, "ort_host_float_nodes": 0}

    @staticmethod
    def output_like(session, example: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The bound output buffer: the session's output shape with the cell's batch size."""
        (output,) = session.get_outputs()
        dtype = {"tensor(float)": torch.float32, "tensor(float16)": torch.float16}[output.type]
        shape = [example[0].shape[0], *output.shape[1:]]
        if not all(isinstance(d, int) for d in shape):
            raise UnsupportedCell(
                f"ORT output {output.name} has a symbolic non-batch dimension: {output.shape}"
            )
        return torch.empty(shape, dtype=dtype, device=example[0].device)

    def provider_for(self, ctx: BuildContext) -> tuple[str, dict[str, str]]:
        if ctx.device.type == "cpu":
            return "CPUExecutionProvider", {}
        # ORT computes on torch's current stream, so the harness's torch.cuda.synchronize waits for it.
        options = {
            "device_id": str(ctx.device.index or 0),
            "user_compute_stream": str(torch.cuda.current_stream(ctx.device).cuda_stream),
            "use_tf32": "1" if ctx.tf32 else "0",
            "enable_skip_layer_norm_strict_mode": "0",
            "cudnn_conv_algo_search": self.algo_search(ctx.cudnn_benchmark),
            # the `memory_format` key: ORT's NHWC convolution kernels (inputs stay NCHW: the
            # graph's layout is ORT's own business, its inputs are bound as the ONNX file says)
            "prefer_nhwc": "1" if ctx.channels_last else "0",
            "enable_cuda_graph": "1" if self.cuda_graph else "0",
            # with NCHW kernels (memory_format=contiguous) ORT 1.31's fused convolution fails at the
            # first run ("Failed to initialize CUDNN Frontend", H200 fp16: docs/results/speed/run3).
            # With TF32 off (fp32 rows) it is not asked for: where cuDNN builds no fused plan, ORT
            # retries unfused with TF32 allowed (cuda/nn/conv.cc), which would make the row TF32.
            "fuse_conv_bias": "1" if self.fuse_conv_bias and ctx.channels_last and ctx.tf32 else "0",
        }
        if self.provider == "tensorrt":
            return "TensorrtExecutionProvider", {"device_id": options["device_id"]}
        return "CUDAExecutionProvider", options

    def session_graph(
        self, path: Path, provider_options: dict[str, str], workdir: Path
    ) -> tuple[Path, list[str], int | None]:
        """The model file the session loads, the ORT optimizers it turns off, and how many
        convolutions add their bias apart (None where the fused convolution is not asked for)."""
        if provider_options.get("fuse_conv_bias") != "1" or not self.bias_apart_below_channels:
            return path, [], None
        apart = workdir / "model.conv_bias_apart.onnx"
        moved = conv_bias_apart(path, apart, self.bias_apart_below_channels)
        if not moved:
            return path, [], 0
        return apart, ["ConvAddFusion"], moved  # ConvAddFusion would fold the Add back in

    def algo_search(self, cudnn_benchmark: bool) -> str:
        """The `cudnn_benchmark` key as ORT spells it, unless the backend option names one. ORT
        built with cuDNN 9 maps EXHAUSTIVE to cuDNN's heuristic mode B and HEURISTIC to mode A:
        a better or a cheaper guess, neither a timed search like torch's cudnn.benchmark."""
        if self.conv_algo_search != "follow_cudnn_benchmark":
            return self.conv_algo_search
        return "EXHAUSTIVE" if cudnn_benchmark else "HEURISTIC"

    @staticmethod
    def host_runner(session, names: list[str]):
        def run(*inputs: torch.Tensor) -> torch.Tensor:
            feeds = {
                n: t.numpy() for n, t in zip(names, inputs, strict=True)
            }  # zero-copy views of host tensors
            return torch.from_numpy(session.run(None, feeds)[0])

        return run

    @staticmethod
    def bound_runner(session, names: list[str], output_like: torch.Tensor, device: torch.device):
        """IOBinding on device buffers: no host copies inside the call. The output buffer is reused,
        so callers copy what they keep before the next call."""
        out = torch.empty_like(output_like)
        output_name = session.get_outputs()[0].name  # "logits" when exported here; a user file's own
        binding = session.io_binding()
        index = device.index or 0

        def run(*inputs: torch.Tensor) -> torch.Tensor:
            for name, t in zip(names, inputs, strict=True):
                binding.bind_input(
                    name, "cuda", index, NUMPY_DTYPES[t.dtype], tuple(t.shape), t.contiguous().data_ptr()
                )
            binding.bind_output(
                output_name, "cuda", index, NUMPY_DTYPES[out.dtype], tuple(out.shape), out.data_ptr()
            )
            session.run_with_iobinding(binding)
            return out

        return run

    @staticmethod
    def graph_runner(session, names, output_like, example, dtype, device: torch.device):
        """ORT's CUDA graph replays fixed device addresses: inputs and output are bound once to
        buffers of the cell's shape, and each call copies its inputs into them (a device copy,
        as torch's CUDA-graph trees do); the graph is captured in the first call."""
        static = [torch.empty_like(t.to(dtype) if t.is_floating_point() else t) for t in example]
        out = torch.empty_like(output_like)
        binding = session.io_binding()
        index = device.index or 0
        for name, t in zip(names, static, strict=True):
            binding.bind_input(name, "cuda", index, NUMPY_DTYPES[t.dtype], tuple(t.shape), t.data_ptr())
        output_name = session.get_outputs()[0].name
        binding.bind_output(
            output_name, "cuda", index, NUMPY_DTYPES[out.dtype], tuple(out.shape), out.data_ptr()
        )

        def run(*inputs: torch.Tensor) -> torch.Tensor:
            for buffer, t in zip(static, inputs, strict=True):
                buffer.copy_(t)
            session.run_with_iobinding(binding)
            return out

        return run

    def _session(
        self,
        path: Path,
        provider: str,
        provider_options: dict[str, str],
        ctx: BuildContext,
        disabled: list[str],
    ):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = ctx.threads
        options.graph_optimization_level = {
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        }[self.graph_optimization]
        # The graph ORT really runs after its fusions: the INT8 proof is read from it.
        options.optimized_model_filepath = str(ctx.workdir / "model.optimized.onnx")
        options.enable_profiling = True  # until the first call ends: where each node runs (`placement`)
        options.profile_file_prefix = str(ctx.workdir / "ort_profile")
        return ort.InferenceSession(
            str(path), options, providers=[(provider, provider_options)], disabled_optimizers=disabled
        )

    @staticmethod
    def _verify_ops(optimized: Path, quantized: bool) -> dict[str, int]:
        import onnx

        graph = onnx.load(str(optimized), load_external_data=False).graph
        ops = Counter(node.op_type for node in graph.node)
        int8_ops = sum(n for op, n in ops.items() if op in INT8_OPS)
        float_ops = sum(n for op, n in ops.items() if op in FLOAT_COMPUTE_OPS)
        if quantized and int8_ops == 0:
            raise LabelMismatch(f"the INT8 model ORT runs has no INT8 op (ops: {dict(ops)})")
        if not quantized and int8_ops:
            raise LabelMismatch(f"a float row runs {int8_ops} INT8 ops")
        nhwc = sum(node.domain == NHWC_DOMAIN for node in graph.node)
        return {"int8_ops": int8_ops, "float_compute_ops": float_ops, "ort_nhwc_nodes": nhwc}
