import re

import pytest

from benchmark.sweep.cell import BadInput, check_input, resolve_device, unsupported_reason
from tests.conftest import compose_cell


def test_backend_yaml_declares_what_it_cannot_run():
    assert (
        unsupported_reason(compose_cell("backend=compile", "precision=int8"), "cpu")
        == "compile on cpu runs fp32, not int8"
    )
    assert unsupported_reason(compose_cell("backend=onnxruntime", "precision=fp16"), "cpu").startswith(
        "onnxruntime on cpu runs"
    )
    assert unsupported_reason(compose_cell("backend=eager", "precision=int8"), "cpu") is None


def test_channels_last_is_for_image_models():
    reason = unsupported_reason(compose_cell("model=bert", "memory_format=channels_last"), "cpu")
    assert reason == "memory_format=channels_last lays out images: this model takes text"
    assert unsupported_reason(compose_cell("model=cnn", "memory_format=channels_last"), "cpu") is None


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("batch_size=0", "batch_size=0 must be a positive integer"),
        ("timing.min_s=0", "timing.min_s=0.0 must be > 0"),
        ("timing.warmup_iters=-1", "timing.warmup_iters=-1 must be >= 1"),
        ("eval_samples=0", "eval_samples=0 must be >= 1"),
        ("fault=abort", "fault injection is for tests only"),
        ("memory_format=nhwc", "memory_format=nhwc is not one of auto, channels_last, contiguous"),
        ("timing.max_s=1", "timing.max_s=1.0 is below timing.min_s=2.0: raise max_s"),
        ("model.max_length=0", "model.max_length=0 must be >= 1 tokens"),
        (
            "quality_gate.min_top1_agreement.fp16=2",
            "quality_gate.min_top1_agreement.fp16=2.0 must lie in [0, 1]",
        ),
        ("quality_gate.max_rel_error.fp32=0", "quality_gate.max_rel_error.fp32=0.0 must be > 0"),
        ("tracking_uri=ftp://host/x", "tracking_uri=ftp://host/x: MLflow has no ftp:// store"),
    ],
)
def test_bad_input_gets_one_clear_line(override, message, monkeypatch):
    monkeypatch.delenv("BENCHMARK_ALLOW_FAULTS", raising=False)
    with pytest.raises(BadInput, match=re.escape(message)):
        check_input(compose_cell(override))


@pytest.mark.parametrize(
    "uri", ["sqlite:////tmp/x.db", "postgresql+psycopg2://u@h/db", "http://127.0.0.1:5000", "mlruns"]
)
def test_mlflow_s_own_stores_pass_the_tracking_check(uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    check_input(compose_cell())  # the environment's store is checked as the key's would be
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "gopher://x")
    with pytest.raises(
        BadInput, match=re.escape("MLFLOW_TRACKING_URI=gopher://x: MLflow has no gopher:// store")
    ):
        check_input(compose_cell())


def test_cuda_without_gpu_is_refused_with_the_fix():
    with pytest.raises(BadInput, match="use device=cpu"):
        resolve_device("cuda")
    assert resolve_device("auto") == "cpu"


def test_fp8_on_a_gpu_older_than_ada_is_refused_before_any_work(monkeypatch):
    import benchmark.sweep.cell as cell

    monkeypatch.setattr(cell, "gpu_capability", lambda: 8.0)  # an A100
    cfg = compose_cell("backend=torchao", "precision=fp8")
    cfg.backend.requires = {}  # as on a GPU machine with torchao installed
    assert (
        unsupported_reason(cfg, "cuda")
        == "fp8 needs a GPU of compute capability 8.9 or newer; this one is 8.0"
    )
    monkeypatch.setattr(cell, "gpu_capability", lambda: 9.0)  # an H100
    assert unsupported_reason(cfg, "cuda") is None


def test_a_backend_whose_library_is_missing_is_skipped_before_any_work(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "torch_tensorrt" else real_find_spec(name)
    )
    reason = unsupported_reason(compose_cell("backend=tensorrt", "precision=fp16"), "cuda")
    assert reason.startswith("torch_tensorrt is not installed here: install the 'tensorrt' extra")


def test_a_misspelt_backend_option_names_the_closest_one():
    from benchmark.sweep.cell import check_backend_options

    with pytest.raises(
        BadInput,
        match=r"backend.options.opst is not an option of onnxruntime: did you mean backend.options.opset\?",
    ):
        check_backend_options(compose_cell("backend=onnxruntime", "+backend.options.opst=17").backend)
    check_backend_options(
        compose_cell("backend=onnxruntime", "backend.options.opset=17").backend
    )  # a real one passes


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["backend=onnxruntime", "backend.options.opst=17"], "did you mean backend.options.opset?"),
        (["backend=eager,onnxruntime", "+backend.options.graph_optimisation=all"], "did you mean backend.options.graph_optimization?"),
        (["backend=eager,onnxruntime", "backend.options.opset=17"], "an option of onnxruntime only, not of eager"),
    ],
)  # fmt: skip
def test_option_overrides_are_checked_before_composing(overrides, message):
    from benchmark.sweep.cell import check_option_overrides

    with pytest.raises(BadInput, match=message.replace("?", r"\?")):
        check_option_overrides(overrides)


def test_valid_option_overrides_and_globs_pass():
    from benchmark.sweep.cell import check_option_overrides

    check_option_overrides(["backend=onnxruntime", "backend.options.opset=17"])
    check_option_overrides(["backend=glob(*)", "backend.options.anything=1"])  # Hydra answers globs


@pytest.mark.parametrize(
    "override, line",
    [
        ("backend.options.opst=17",
         "bad input: backend.options.opst is not an option of onnxruntime: did you mean backend.options.opset? "
         "their options: bias_apart_below_channels, conv_algo_search, cuda_graph, fuse_conv_bias, fusions, "
         "graph_optimization, opset, provider"),
        ("backend.options.bias_apart_below_channels=-1",
         "bad input: backend.options.bias_apart_below_channels=-1 is not allowed by onnxruntime: "
         "a whole number >= 0"),
    ],
)  # fmt: skip
def test_a_bad_backend_option_exits_2_before_any_work(tmp_path, override, line):
    import subprocess
    import sys

    from tests.conftest import ROOT

    done = subprocess.run(
        [sys.executable, "-m", "benchmark", "backend=onnxruntime", override],
        cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [line]
    assert not (tmp_path / "outputs").exists()  # no run folder, no worker: refused before any work


def test_an_unknown_dataset_is_refused_before_any_worker():
    with pytest.raises(
        BadInput, match=r"dataset=imagenet is not a dataset here: did you mean dataset=imagenet_mini\?"
    ):
        check_input(compose_cell("dataset=imagenet"))


def test_report_in_a_folder_without_a_store_says_so_and_creates_none(tmp_path, monkeypatch):
    from benchmark.results.report import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(SystemExit, match="no MLflow store at .*mlflow.db: run a sweep here first"):
        main([])
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["batch_size=0"], "bad input: batch_size=0 must be a positive integer, e.g. batch_size=1,16,64"),
        (["+nonsense_key=1"], "bad input: nonsense_key is not a key of this benchmark: `python -m benchmark --help` lists them"),
        (["batchsize=4"], "bad input: batchsize is not a key of this benchmark: did you mean batch_size? `python -m benchmark --help` lists them"),
        (["timing.mins=1"], "bad input: timing.mins is not a key of this benchmark: did you mean timing.min_s? `python -m benchmark --help` lists them"),
        (["model=resnt"], "bad input: model=resnt is not in conf/model/: did you mean model=resnet? known: bert, cnn, fcn, gptneo, hf, lstm, mobilenet, module, onnx, resnet, t5, torchvision"),
        (["precision=fp8", "device=cpu"], "cannot run here: eager on cpu runs fp32, int8, not fp8"),
        (["tf32=maybe"], "bad input: tf32=maybe does not fit: tf32 takes true or false"),
        (["batch_size=1,x"], "bad input: batch_size=x does not fit: batch_size takes a whole number"),
        (["threads=many"], "bad input: threads=many does not fit: threads takes a whole number or null"),
        (["hydra/launcher=gpu"], "bad input: hydra/launcher=gpu is not in conf/hydra/launcher/: did you mean hydra/launcher=gpus? known: basic, cpus, gpus, joblib, slurm, submitit_local, submitit_slurm"),
        (["backend=compile", "backend.options.mode=fastest"], "bad input: backend.options.mode=fastest is not allowed by compile: one of default, reduce-overhead, max-autotune, max-autotune-no-cudagraphs"),
        (["backend=compile_cudagraphs", "backend.options.freezing=maybe"], "bad input: backend.options.freezing=maybe is not allowed by compile_cudagraphs: one of true, false"),
    ],
)  # fmt: skip
def test_a_single_run_that_cannot_run_exits_2_with_one_line_before_any_work(args, line, tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    done = subprocess.run(
        [sys.executable, "-m", "benchmark", *args],
        cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
    )  # fmt: skip
    assert (done.returncode, done.stderr.strip().splitlines()) == (2, [line])
    assert not list(tmp_path.rglob("worker.log")) and not (tmp_path / "mlflow.db").exists()


def test_sweep_exit_codes_and_summary_group_each_failure_once():
    from benchmark.sweep.summary import exit_code, sweep_summary

    def cell(name, status, error_type="", message=""):
        return {"name": name, "status": status, "error_type": error_type, "message": message,
                "sweep_id": "s1", "store": "sqlite:///m.db", "experiment": "e"}  # fmt: skip

    missing = "ImageNet-mini not found: run `make data`"
    outcomes = [cell("a", "ok"), cell("b", "skipped", message="unsupported: x")] + [
        cell(f"c{i}", "error", "MissingAsset", missing) for i in range(5)
    ]
    lines, code = sweep_summary(outcomes)
    assert code == 1 and lines[0] == "Sweep done: 7 cells: 5 error, 1 ok, 1 skipped. Exit code 1."
    assert lines[1] == f"  5 x error MissingAsset: {missing}  (c0, c1 and 3 more)"
    assert "MLflow sqlite:///m.db, experiment e, sweep s1" in lines[2]
    assert exit_code(["ok", "skipped"], ["", ""]) == 0
    assert exit_code(["ok", "invalid"], ["", "QualityGate"]) == 3
    assert exit_code(["ok", "skipped"], ["", "BadInput"]) == 1


def test_option_choices_are_read_from_the_constructors_annotations():
    from benchmark.backends.compile import GRAPH_CAPTURES, MODES
    from benchmark.sweep.cell import class_option_choices

    compile_choices = class_option_choices("benchmark.backends.compile.CompileBackend")
    assert compile_choices == {
        "mode": MODES, "fullgraph": (True, False), "freezing": (True, False), "graph_capture": GRAPH_CAPTURES
    }  # fmt: skip
    ort = class_option_choices("benchmark.backends.onnxruntime.OnnxRuntimeBackend")
    assert ort["provider"] == ("auto", "tensorrt")
    assert 17 in ort["opset"] and 0 in ort["bias_apart_below_channels"]  # an int: any whole number
    assert not any(v in ort["opset"] for v in (-1, "17", 1.5, True))


def test_values_under_a_group_are_checked_before_the_group_is_chosen():
    from benchmark.sweep.cell import check_override_values

    check_override_values(["model=resnet,bert", "model.pretrained=false", "model.max_length=256",
                           "timing.min_s=1.5", "batch_size=range(1,4)", "+sweep=study"])  # fmt: skip
    with pytest.raises(
        BadInput, match="model.pretrained=maybe does not fit: model.pretrained takes true or false"
    ):
        check_override_values(["model=resnet", "model.pretrained=maybe"])
    with pytest.raises(BadInput, match="timing.min_s=fast does not fit: timing.min_s takes a number"):
        check_override_values(["timing.min_s=fast"])


def test_an_option_of_every_swept_backend_reaches_hydra_as_a_forced_key():
    from benchmark.sweep.cell import options_of_swept_groups_forced

    swept = ["-m", "backend=onnxruntime,onnxruntime_cudagraphs", "backend.options.opset=17", "batch_size=1,2"]
    assert options_of_swept_groups_forced(swept)[2] == "++backend.options.opset=17"
    one = ["backend=onnxruntime", "backend.options.opset=17", "+backend.options.x=1"]
    assert options_of_swept_groups_forced(one) == one  # one backend: its own options are in struct


def test_a_value_the_composed_config_holds_is_checked_too():
    from benchmark.sweep.cell import check_backend_options

    backend = compose_cell("backend=compile").backend
    backend.options.mode = "fastest"  # e.g. from a YAML of your own, which the command line never saw
    with pytest.raises(BadInput, match="backend.options.mode=fastest is not allowed by compile"):
        check_backend_options(backend)


def test_the_summary_counts_this_runs_cells_not_an_earlier_runs_in_the_same_folder(tmp_path, capsys):
    import json
    import os

    from omegaconf import OmegaConf

    from benchmark.sweep.end import SweepSummary
    from benchmark.sweep.summary import OUTCOME_FILE

    def outcome(job: str, status: str) -> None:
        (tmp_path / job).mkdir()
        line = {"name": job, "status": status, "error_type": "", "message": "", "sweep_id": "s",
                "store": "sqlite:///m.db", "experiment": "e"}  # fmt: skip
        (tmp_path / job / OUTCOME_FILE).write_text(json.dumps(line))

    outcome("0_earlier", "error")
    os.utime(tmp_path / "0_earlier" / OUTCOME_FILE, (1, 1))  # written long before this run
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    summary = SweepSummary()
    summary.on_multirun_start(config)
    outcome("0_now", "ok")
    summary.on_multirun_end(config)
    assert "Sweep done: 1 cells: 1 ok. Exit code 0." in capsys.readouterr().out


def test_help_lists_every_dataset_there_is():
    from benchmark.plugins import PACKAGE, declared
    from tests.conftest import ROOT

    line = next(x for x in (ROOT / "conf/config.yaml").read_text().splitlines() if "Datasets (dataset=)" in x)
    assert line.split(": ", 1)[1].split(", ") == sorted(declared(PACKAGE / "data"))


def test_a_misspelt_model_option_is_refused_with_the_closest_one():
    from benchmark.sweep.cell import check_model_option_overrides

    with pytest.raises(BadInput, match=r"model.options.weigths is not an option of model resnet \(family "
                       r"torchvision\): did you mean model.options.weights\?"):  # fmt: skip
        check_model_option_overrides(["model=resnet", "model.options.weigths=IMAGENET1K_V1"])
    check_model_option_overrides(["model=resnet,mobilenet", "model.options.weights=DEFAULT"])
    check_model_option_overrides(["model=module", "+model.options.anything=1"])  # your factory's own kwargs


def test_every_shipped_model_yaml_uses_only_its_family_s_options():
    from omegaconf import OmegaConf

    from benchmark.sweep.cell import family_options
    from tests.conftest import ROOT

    checked = 0
    for path in sorted((ROOT / "conf/model").glob("*.yaml")):
        cfg = OmegaConf.load(path)
        known = family_options(cfg.family)
        if known is not None:
            assert set(cfg.get("options", {})) <= set(known), path.name
            checked += 1
    assert checked >= 6  # resnet, mobilenet, torchvision, bert, hf, gptneo, t5
