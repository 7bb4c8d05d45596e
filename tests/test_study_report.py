"""scripts/study_report.py: STUDY.md's verdicts on the seed's conclusions, read from records."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from benchmark.results.records import CellRecord
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
study_report = pytest.importorskip("study_report")


def write(
    folder,
    model,
    backend,
    precision,
    ms,
    vram,
    f1=None,
    status="ok",
    device="cuda",
    top1=None,
    config=None,
    facts=None,
):
    record = CellRecord(
        "s",
        model,
        backend,
        precision,
        64,
        device,
        status=status,
        cell_id=f"{model}{backend}{precision}" + ("" if device == "cuda" else device),
    )
    record.metrics = {"latency_ms_per_sample": ms, "latency_p50_ms": ms * 64, "peak_vram_mb": vram}
    if f1 is not None:
        record.metrics |= {"f1_macro": f1, "f1_macro_fp32": 0.98}
    if top1 is not None:
        record.metrics |= {"top1_agreement": top1}
    record.environment = {"gpu": "NVIDIA H200"}
    record.config = config or {}
    record.facts = {"weights": "trained" if model in ("fcn", "cnn", "lstm") else "random", **(facts or {})}
    path = folder / record.cell_id / "record.json"
    path.parent.mkdir(parents=True)
    record.save(path)


def test_study_md_answers_the_seeds_conclusions_from_the_records(tmp_path):
    write(tmp_path, "cnn", "eager", "fp32", 0.030, 900, f1=0.98)
    write(
        tmp_path, "cnn", "onnxruntime", "fp32", 0.020, 700, f1=0.98
    )  # smallest VRAM: ONNX, as the seed said
    write(tmp_path, "cnn", "onnxruntime", "int8", 0.010, 650, f1=0.95)  # fastest, and loses F1
    write(tmp_path, "fcn", "eager", "fp16", 0.004, 500, f1=0.97)
    write(tmp_path, "fcn", "onnxruntime", "fp32", 0.006, 600, f1=0.98)
    write(
        tmp_path, "fcn", "torchao", "int8", 0.002, 400, f1=0.5, status="invalid"
    )  # failed its gate: no result

    text = study_report.study_markdown(tmp_path)
    assert text.startswith("# The study on NVIDIA H200")
    assert "| GPU | NVIDIA H200 |" in text  # the environment the records ran in
    assert "**Partly supported**: ONNX Runtime has the smallest peak VRAM for 1 of 2 models." in text
    assert "| cnn | onnxruntime cuda int8 | 650 | onnxruntime cuda int8 | 650 |" in text
    assert (
        "INT8 is the fastest row at batch 64 for 1 of 1 models." in text
    )  # fcn's invalid INT8 row is no row
    assert (
        "| cnn | n/a | onnxruntime cuda int8 | 0.0100 | onnxruntime cuda fp32 | 0.0200 | yes | n/a | 0.969 | 0 of 1 |"
        in text
    )
    assert (
        "| cnn | 64 | TensorRT FP16 | 0.018 | onnxruntime cuda int8 | 0.0100 | 1.8x |" in text
    )  # beside the seed
    assert text.count("INT8 is the fastest row at batch 64") == 1  # no CPU rows: no verdict there
    differs = text.split("What differs:")[1].split("## ")[0]  # under the side-by-side table
    assert "ours on NVIDIA H200" in differs and "random for none" in differs  # cnn and fcn are trained
    zoo = tmp_path / "zoo"
    write(zoo, "resnet18", "eager", "fp16", 0.02, 900, top1=1.0)
    assert "random for resnet18:" in study_report.study_markdown(zoo)
    assert (
        "**Coverage: " in text and "CPU cells have no record yet" in text
    )  # two models of eight, one batch size
    assert "On the GPU host's CPU cores (preset `study_cpu`):" in text  # the seed's CPU rows are cells too


def test_the_int8_conclusion_is_drawn_apart_for_the_cpu_rows_and_counts_rows_below_their_gate(tmp_path):
    write(tmp_path, "bert", "onnxruntime", "fp32", 35.0, 0, device="cpu", top1=1.0)
    write(tmp_path, "bert", "onnxruntime", "int8", 21.0, 0, device="cpu", top1=0.99)  # faster, and faithful
    mobilenet = {"model": {"family": "torchvision", "arch": "mobilenet_v3_large", "num_classes": 1000}}
    write(
        tmp_path,
        "mobilenet_v3_large",
        "onnxruntime",
        "fp32",
        1.0,
        0,
        device="cpu",
        top1=1.0,
        config=mobilenet,
    )
    write(tmp_path, "mobilenet_v3_large", "eager", "int8", 9.7, 0, device="cpu", top1=1.0, config=mobilenet)
    write(
        tmp_path,
        "mobilenet_v3_large",
        "onnxruntime",
        "int8",
        7.6,
        0,
        device="cpu",
        top1=0.92,
        status="invalid",
    )
    write(tmp_path, "fcn", "eager", "fp16", 0.004, 500, f1=0.97)  # a GPU row, no GPU INT8 row

    text = study_report.study_markdown(tmp_path)
    on_cpu = text.split("On the GPU host's CPU cores:")[1].split("## ")[0]
    assert "INT8 is the fastest row at batch 64 for 1 of 2 models." in on_cpu
    assert (
        "| bert | n/a | onnxruntime cpu int8 | 21.0000 | onnxruntime cpu fp32 | 35.0000 | yes | 0.990 | n/a (random weights) | 0 of 1 |"
        in on_cpu
    )
    # the invalid ORT row is no result, but it is counted below its gate
    assert (
        "| mobilenet_v3_large | 5.5 | eager cpu int8 | 9.7000 | onnxruntime cpu fp32 | 1.0000 | no | 1.000 | n/a (random weights) | 1 of 2 |"
        in on_cpu
    )
    on_gpu = text.split("On the GPU:")[1].split("On the GPU host's CPU cores:")[0]
    assert "**Not yet tested**: no model has both an INT8 and a float row at batch 64 yet." in on_gpu


def test_a_models_parameters_are_its_records_or_counted_from_the_architecture_it_names():
    from benchmark.models.custom import ARCHITECTURES

    resnet = {
        "params.model.family": "torchvision",
        "params.model.arch": "resnet18",
        "params.model.num_classes": 1000.0,
    }
    assert round(study_report.parameters_m(pd.Series(resnet)), 2) == 11.69  # torchvision's ResNet18
    cnn = {
        "params.model.family": "custom",
        "params.model.arch": "cnn",
        "params.model.options": "{'width_mult': 8}",
        "fact.input_shape": "[1, 8, 8]",
        "fact.dataset": "digits",
    }
    built = ARCHITECTURES["cnn"](1, 8, 8, num_classes=10, width_mult=8)  # digits: 10 classes
    assert study_report.parameters_m(pd.Series(cnn)) == sum(p.numel() for p in built.parameters()) / 1e6
    text_model = {"fact.parameters_m": 109.5, "params.model.family": "hf", "params.model.arch": "bert"}
    assert study_report.parameters_m(pd.Series(text_model)) == 109.5  # counted as it loaded
    assert study_report.parameters_m(pd.Series({"params.model.family": "onnx"})) is None


def test_write_study_puts_figures_html_and_every_cell_as_csv_beside_study_md(tmp_path):
    import pandas as pd

    records, out = tmp_path / "records", tmp_path / "study" / "STUDY.md"
    write(records, "fcn", "eager", "fp32", 0.004, 500, f1=0.98)
    write(records, "fcn", "compile", "fp16", 0.002, 450, f1=0.98)
    out.parent.mkdir()
    (out.parent / "figures").mkdir()
    (out.parent / "figures" / "gone-0.png").write_bytes(b"")  # a model no longer in the records

    written = study_report.write_study(records, out)
    figures = sorted(p.name for p in (out.parent / "figures").iterdir())
    assert written[0] == out and figures and all(name.startswith("fcn-") for name in figures)
    text = out.read_text()
    assert all(f"](figures/{name})" in text for name in figures)  # each figure linked under its model
    page = out.with_suffix(".html").read_text()
    assert "<title>The study on NVIDIA H200</title>" in page and "<table>" in page
    assert all(f'src="figures/{name}"' in page for name in figures)
    cells = pd.read_csv(out.parent / "report.csv.gz")
    assert len(cells) == 2 and set(cells["backend"]) == {"eager", "compile"}


def test_the_seed_table_is_read_whole():
    seed = study_report.seed_best_rows()
    assert len(seed) == 7 * 4  # seven models (the seed has no T5 table) x four batch sizes
    row = seed[(seed["model"] == "mobilenet_v3_large") & (seed["batch_size"] == 64)].iloc[0]
    assert (row["seed_ms"], row["seed_row"]) == (0.04, "TensorRT PTQ INT8")


def test_gptneo_against_the_seed_is_called_another_workload_with_the_figures(tmp_path):
    write(tmp_path, "bert", "compile_cudagraphs", "bf16", 0.0537, 2000, top1=1.0)  # the seed: 0.372 at bs64
    text = study_report.study_markdown(tmp_path)
    assert "GPT-Neo's work a sample" not in text  # no GPT-Neo row yet: nothing to compare
    write(tmp_path, "gptneo", "compile_cudagraphs", "bf16", 0.0881, 7000, top1=1.0)  # the seed: 51.3 at bs64
    text = study_report.study_markdown(tmp_path)
    assert "the seed's GPT-Neo figures are 582 times ours, where BERT's are 6.9 times" in text


def test_a_conclusion_with_no_rows_to_test_it_gives_no_verdict(tmp_path):
    write(tmp_path, "fcn", "eager", "fp32", 0.004, 500, f1=0.97)  # no ONNX, no INT8 row yet
    text = study_report.study_markdown(tmp_path)
    assert "**Not yet tested**: no model has an ONNX Runtime row at batch 64 yet." in text
    assert "**Not yet tested**: no model has both an INT8 and a float row at batch 64 yet." in text
    assert "Not supported" not in text and "for 0 of 0 models" not in text


def test_a_long_reason_is_a_numbered_note_under_the_models_tables(tmp_path):
    reason = "AOTInductor cannot load a cuda package on this machine: its probe died with SIGSEGV"
    write(tmp_path, "fcn", "eager", "fp16", 0.004, 500, f1=0.97)
    for precision in ("fp16", "bf16"):
        write(tmp_path, "fcn", "aoti", precision, 0.0, 0, status="skipped")
    for path in tmp_path.glob("fcnaoti*/record.json"):
        record = CellRecord.load(path)
        record.message, record.error_type, record.metrics = reason, "UnsupportedOnThisMachine", {}
        record.save(path)

    text = study_report.study_markdown(tmp_path)
    fcn = text[text.index("## fcn") :]
    assert reason not in fcn.split("Reasons:")[0]  # the tables carry the note's number only
    assert fcn.count("unsupported (1)") >= 2 and f"1. {reason}" in fcn


def test_a_remembered_refusal_shares_its_note_and_a_row_below_its_gate_says_why(tmp_path):
    from benchmark.sweep.refusals import REMEMBERED_FROM

    reason = "AOTInductor cannot load a cuda package on this machine: its probe died with SIGSEGV"
    write(tmp_path, "fcn", "eager", "fp16", 0.004, 500, f1=0.97)
    write(tmp_path, "fcn", "aoti", "fp16", 0.0, 0, status="skipped")
    write(tmp_path, "fcn", "aoti", "bf16", 0.0, 0, status="skipped")
    write(tmp_path, "fcn", "onnxruntime", "int8", 0.002, 400, f1=0.5, status="invalid")
    for path, message in (
        (tmp_path / "fcnaotifp16" / "record.json", reason),
        (
            tmp_path / "fcnaotibf16" / "record.json",
            f"{reason}{REMEMBERED_FROM}/cache/refusals/aoti_cuda.json)",
        ),
        (
            tmp_path / "fcnonnxruntimeint8" / "record.json",
            "failed its quality gate: top-1 agreement 0.92 < 0.95",
        ),
    ):
        record = CellRecord.load(path)
        record.message = message
        if record.status == "skipped":
            record.error_type, record.metrics = "UnsupportedOnThisMachine", {}
        record.save(path)

    fcn = study_report.study_markdown(tmp_path).split("## fcn")[1]
    assert fcn.count("unsupported (1)") == 2 * 3 and "(2)" not in fcn  # two cells in three tables, one note
    assert "✗" in fcn and "failed its quality gate" in fcn and "top-1 agreement 0.92 < 0.95" in fcn
    assert "GPU energy" not in fcn  # the report's note on a table STUDY.md does not show


def test_the_new_findings_fall_back_to_bf16_for_a_model_without_fp16_rows():
    rows = [
        ("bert", "compile_cudagraphs", "fp16", 1, 0.2), ("bert", "compile", "fp16", 1, 1.0),
        ("bert", "compile_cudagraphs", "bf16", 1, 0.1), ("bert", "compile", "bf16", 1, 0.2),
        ("t5", "compile_cudagraphs", "bf16", 1, 1.0), ("t5", "compile", "bf16", 1, 5.0),
        ("t5", "torchao", "fp8", 64, 0.5), ("t5", "eager", "bf16", 64, 1.0),
    ]  # fmt: skip
    ok = pd.DataFrame(rows, columns=["model", "backend", "precision", "batch_size", "latency_ms_per_sample"])
    lines = study_report.new_findings(ok.assign(row=ok["backend"] + " cuda " + ok["precision"]))
    assert lines[0] == "- CUDA graphs (compile_cudagraphs / compile, fp16, bs1): bert 0.20, t5 0.20 (bf16)"
    assert lines[1].endswith("no pair measured")  # no compile_cudagraphs row at bs64
    assert lines[3] == "- FP8 (torchao fp8 / eager bf16, bs64): t5 0.50"  # its own pair: no fallback to note


def test_a_torchao_row_that_left_most_layers_in_bf16_says_so_in_tables_and_findings(tmp_path):
    """torchao quantizes Linear layers only: MobileNetV3's fp8 row computes its 63 convolutions in
    bf16, so its speed-up over eager bf16 is mostly torch.compile's, and the FP8 finding says so."""
    layers = {"quantized_linear": 1, "bf16_linear": 0, "bf16_other_compute_layers": 63}
    write(tmp_path, "mobilenet_v3_large", "torchao", "fp8", 0.010, 900, top1=1.0, facts=layers)
    write(tmp_path, "mobilenet_v3_large", "eager", "bf16", 0.020, 950, top1=1.0)

    text = study_report.study_markdown(tmp_path)
    assert "- FP8 (torchao fp8 / eager bf16, bs64): mobilenet_v3_large 0.50 (1/64 layers)" in text
    assert "| mobilenet_v3_large | torchao cuda fp8 (1/64 layers) | 900 |" in text  # smallest VRAM
