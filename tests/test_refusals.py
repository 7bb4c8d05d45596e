"""A skip that holds for the whole machine is remembered for that machine and torch build only,
and spares the sweep a worker for each of that backend's later cells."""

import json
import os

from benchmark.sweep.refusals import refusal_file, remember_refusal, remembered_refusal
from tests.conftest import FAST_TIMING, ROOT, compose_cell, run_benchmark


def test_a_remembered_refusal_holds_for_its_backend_device_processor_and_torch(tmp_path, monkeypatch):
    from benchmark.sweep import refusals

    aoti = compose_cell("backend=aoti", f"cache_dir={tmp_path}")
    eager = compose_cell("backend=eager", f"cache_dir={tmp_path}")
    assert remembered_refusal(aoti, "cpu") is None  # nothing found yet
    remember_refusal(aoti, "cpu", "the loader dies with SIGSEGV")
    assert remembered_refusal(aoti, "cpu").startswith("the loader dies with SIGSEGV (an earlier cell")
    assert remembered_refusal(eager, "cpu") is None  # another backend
    assert remembered_refusal(aoti, "cuda") is None  # another device
    monkeypatch.setattr(refusals, "cpu_model", lambda: "another CPU")
    assert remembered_refusal(aoti, "cpu") is None  # the cache_dir reached another machine
    monkeypatch.undo()
    monkeypatch.setattr(refusals, "version", lambda package: "0.0.1")
    assert remembered_refusal(aoti, "cpu") is None  # another torch build may load it
    refusal_file(aoti, "cpu").write_text("{cut short")
    monkeypatch.undo()
    assert remembered_refusal(aoti, "cpu") is None


CRANKY = """
from pathlib import Path

from benchmark.backends import Backend, UnsupportedCell


class UnsupportedOnThisMachine(UnsupportedCell):
    pass


class Cranky(Backend):  # like aoti where its package loader crashes: no cell can run here
    def build(self, ctx):
        with open(Path(__file__).parent / "builds.txt", "a") as builds:
            builds.write("build\\n")
        raise UnsupportedOnThisMachine("the loader dies on this machine")
"""


def test_the_sweep_skips_a_backends_later_cells_without_a_worker_once_one_was_refused_machine_wide(tmp_path):
    package = tmp_path / "plugins" / "my_backends"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cranky.py").write_text(CRANKY)
    (tmp_path / "conf" / "backend").mkdir(parents=True)
    (tmp_path / "conf" / "backend" / "cranky.yaml").write_text(
        "name: cranky\n_target_: my_backends.cranky.Cranky\nprecisions:\n  cpu: [fp32]\n"
    )
    done = run_benchmark(
        tmp_path, "-m", f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "model=fcn", "backend=cranky",
        "device=cpu", "batch_size=1,2,3", f"tracking_uri=sqlite:///{tmp_path}/mlflow.db", *FAST_TIMING,
        env={"PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path / "plugins")])},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    ended = sorted(
        (json.loads(p.read_text()) for p in tmp_path.glob("outputs/multirun/*/*/record.json")),
        key=lambda record: record["batch_size"],
    )
    assert [(r["status"], r["batch_size"]) for r in ended] == [("skipped", 1), ("skipped", 2), ("skipped", 3)]
    assert ended[0]["message"] == "the loader dies on this machine"
    for later in ended[1:]:  # skipped at run time, not declared: the report shows them in its tables
        assert later["message"].startswith("the loader dies on this machine (an earlier cell found this")
        assert later["error_type"] == "UnsupportedOnThisMachine"
    assert (package / "builds.txt").read_text() == "build\n"  # one worker built; the others never started


def test_resume_decides_again_a_skip_that_was_decided_before_any_work(tmp_path):
    # a skip decided in the sweep's parent (a refusal remembered here, a package missing) is no
    # measurement: once its reason is gone, resume=true measures the cell instead of keeping it
    cache = tmp_path / "cache"
    remember_refusal(compose_cell("backend=eager", f"cache_dir={cache}"), "cpu", "eager cannot run here")
    sweep = (
        "-m", "model=fcn", "backend=eager", "device=cpu", "batch_size=1", "eval_samples=50", f"cache_dir={cache}",
        f"tracking_uri=sqlite:///{tmp_path}/mlflow.db", *FAST_TIMING,
    )  # fmt: skip
    first = run_benchmark(tmp_path, *sweep)
    assert first.returncode == 0, first.stderr[-2000:]
    (recorded,) = tmp_path.glob("outputs/multirun/*/*/record.json")
    assert json.loads(recorded.read_text())["message"].startswith("eager cannot run here (an earlier cell")

    kept = run_benchmark(tmp_path, *sweep, "resume=true")  # the same reason: the record stands
    assert kept.returncode == 0 and "[   done]" in kept.stdout, kept.stderr[-2000:]

    refusal_file(compose_cell("backend=eager", f"cache_dir={cache}"), "cpu").unlink()  # holds no more
    again = run_benchmark(tmp_path, *sweep, "resume=true")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "[   done]" not in again.stdout
    latest = max(tmp_path.glob("outputs/multirun/*/*/record.json"), key=lambda path: path.stat().st_mtime)
    assert json.loads(latest.read_text())["status"] == "ok"


def test_a_package_this_machine_lacks_is_a_skip_at_run_time_and_the_report_keeps_its_row(tmp_path):
    # TensorRT on the GPU machine: the YAML offers the row, this machine cannot run it. Recorded
    # with no error type (as before), the report listed such rows as "not offered by the backend"
    from benchmark.results.report import load_records, model_sections

    (tmp_path / "conf" / "backend").mkdir(parents=True)
    (tmp_path / "conf" / "backend" / "needy.yaml").write_text(
        "name: needy\n_target_: benchmark.backends.eager.EagerBackend\nprecisions:\n  cpu: [fp32]\n"
        "requires:\n  not_a_module_anywhere: pip install it\n"
    )
    sweep = (
        "-m", f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "model=fcn", "backend=needy,eager",
        "device=cpu", "batch_size=1", "eval_samples=50", f"tracking_uri=sqlite:///{tmp_path}/mlflow.db", *FAST_TIMING,
    )  # fmt: skip
    done = run_benchmark(tmp_path, *sweep)
    assert done.returncode == 0, done.stderr[-2000:]
    (needy,) = [p for p in tmp_path.glob("outputs/multirun/*/*/record.json") if "needy" in p.read_text()]
    record = json.loads(needy.read_text())
    assert (record["status"], record["error_type"]) == ("skipped", "UnsupportedOnThisMachine")
    assert record["message"] == "not_a_module_anywhere is not installed here: pip install it"
    (section,) = model_sections(load_records([tmp_path / "outputs" / "multirun"]), with_figures=False)
    assert not any("needy" in note for note in section.notes)  # not "not offered by the backend"
    assert "needy cpu fp32" in section.tables[0][1].index

    record["error_type"] = ""  # as recorded before: resume decides the skip again, at no cost
    needy.write_text(json.dumps(record))
    again = run_benchmark(tmp_path, *sweep, "resume=true")
    assert again.returncode == 0, again.stderr[-2000:]
    latest = max(tmp_path.glob("outputs/multirun/*/*/record.json"), key=lambda path: path.stat().st_mtime)
    assert json.loads(latest.read_text())["error_type"] == "UnsupportedOnThisMachine"


def test_the_report_tells_a_backends_precision_list_from_a_models_own_reason():
    # T5 in the study: its fp16 rows are the model's refusal (it overflows), not the backend's;
    # the messages are the sweep's own, from the YAMLs, so a change of wording there shows here
    import pandas as pd

    from benchmark.results.report import model_sections
    from benchmark.sweep.cell import declared_unsupported_reason

    def declared(*overrides: str) -> str:
        return declared_unsupported_reason(compose_cell("model=t5", "device=cuda", *overrides), "cuda")

    def skipped(backend: str, precision: str, message: str) -> dict:
        return {"model": "t5", "device": "cuda", "backend": backend, "precision": precision, "batch_size": 1,
                "status": "skipped", "error_type": "", "message": message, "sweep_id": "s", "start_time": 0,
                "cell_id": f"{backend}-{precision}"}  # fmt: skip

    overflow = declared("backend=eager", "precision=fp16")
    assert overflow.startswith("T5 overflows in FP16")
    ran = {
        **skipped("eager", "fp32", ""),
        "status": "ok",
        "latency_ms_per_sample": 1.0,
        "cell_id": "ran",
        "top1_agreement": 1.0,
    }
    runs = pd.DataFrame(
        [ran, skipped("eager", "fp16", overflow), skipped("compile", "fp16", overflow),
         skipped("eager", "int8", declared("backend=eager", "precision=int8"))]
    )  # fmt: skip
    (section,) = model_sections(runs, with_figures=False)
    assert "Not offered by the backend (declared in its YAML, no cell ran): eager cuda int8." in section.notes
    assert (
        f"Ruled out in the YAMLs (no cell ran): compile cuda fp16, eager cuda fp16. Why: {overflow}."
        in section.notes
    )
    assert list(section.tables[0][1].index) == ["eager cuda fp32"]
