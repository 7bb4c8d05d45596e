"""End to end, as a user runs it: a Hydra multirun in a fresh directory, each cell in its own
worker, every cell in MLflow and in the report; the report in markdown, HTML and CSV."""

import json
import re

from benchmark.results.records import KEPT_LATENCIES
from benchmark.results.report import load_runs, render_markdown
from benchmark.results.tracking import default_tracking_uri
from tests.conftest import BACKENDS, run_benchmark


def test_sweep_exits_zero_and_prints_a_line_per_cell(sweep):
    _, done = sweep
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [
        line
        for line in done.stdout.splitlines()
        if re.match(r"\[\s*(ok|skipped|error|oom|crashed|timeout)\]", line)
    ]
    assert len(lines) == 2 * len(BACKENDS) * 2
    bars = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("sweep:")]
    assert len(bars) == 16 and "16/16" in bars[-1] and "100%" in bars[-1]  # a bar under each cell
    assert "INFO mlflow" not in done.stdout + done.stderr  # library chatter stays out


def test_every_cell_is_in_mlflow_under_one_parent_run(sweep):
    cwd, _ = sweep
    runs = load_runs(default_tracking_uri(cwd))
    assert len(runs) == 16
    assert set(runs["status"]) == {"ok"}
    assert set(runs["backend"]) == set(BACKENDS) and set(runs["batch_size"]) == {1, 4}
    assert runs["mlflow.parentRunId"].nunique() == 1
    assert (runs["latency_ms_per_sample"] > 0).all() and (runs["f1_macro"] > 0.8).all()
    assert (runs["eval_samples"] == 100).all()


def test_mlflow_holds_the_sweep_under_its_name_with_searchable_tags(sweep):
    import mlflow

    cwd, _ = sweep
    mlflow.set_tracking_uri(default_tracking_uri(cwd))
    assert [e.name for e in mlflow.search_experiments() if e.name != "Default"] == ["fcn-lstm"]
    runs = mlflow.search_runs(
        experiment_names=["fcn-lstm"], filter_string="tags.status = 'ok' and tags.backend = 'onnxruntime'"
    )
    assert sorted(runs["tags.mlflow.runName"]) == [
        f"{model}/onnxruntime/cpu/fp32/bs{bs}" for model in ("fcn", "lstm") for bs in (1, 4)
    ]
    assert {"metrics.latency_ms_per_sample", "metrics.peak_rss_mb", "metrics.f1_macro"} <= set(runs.columns)


def test_each_job_dir_keeps_its_json_record(sweep):
    cwd, _ = sweep
    records = sorted(cwd.glob("outputs/multirun/*/*/record.json"))
    assert len(records) == 16
    record = json.loads(records[0].read_text())
    assert record["status"] == "ok" and len(record["latencies_ms"]) >= 5
    assert len(record["latencies_ms"]) == min(record["metrics"]["iterations"], KEPT_LATENCIES)
    assert record["environment"]["torch_threads"] >= 1


def test_report_has_a_number_or_dash_in_every_cell(sweep):
    cwd, _ = sweep
    report = render_markdown(load_runs(default_tracking_uri(cwd)))
    for model in ("fcn", "lstm"):
        assert f"## {model}" in report
    for title in ("Inference time [ms/sample]", "Peak RAM [MB]", "F1 score"):
        assert report.count(f"### {title}") == 2
    # a CPU sweep has no VRAM: one line per model says so instead of an all-dash table
    assert "### Peak VRAM" not in report
    assert report.count("Peak VRAM [MB]: no value in these rows (CPU rows only).") == 2
    assert "| compile cpu fp32" in report and "batch size 4" in report
    assert "not run" not in report and "unsupported" not in report


def test_unsupported_cell_is_skipped_without_a_worker(tmp_path):
    done = run_benchmark(tmp_path, "backend=compile", "precision=int8", "device=cpu")
    assert done.returncode == 2  # a single run asked for what cannot run here
    assert done.stderr.strip().splitlines() == ["cannot run here: compile on cpu runs fp32, not int8"]
    assert not (tmp_path / "outputs").exists()  # not even Hydra's run folder is left behind


def test_a_refusal_in_a_folder_of_the_users_own_keeps_everything_there(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    done = run_benchmark(tmp_path, "hydra.run.dir=.", "batch_size=0")
    assert done.returncode == 2 and done.stderr.startswith("bad input: batch_size=0")
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / ".hydra").is_dir()


def test_report_reads_json_records_without_mlflow(sweep):
    from benchmark.results.report import load_records

    cwd, _ = sweep
    runs = load_records([cwd / "outputs" / "multirun"])
    assert len(runs) == 16 and set(runs["status"]) == {"ok"}
    assert "## lstm" in render_markdown(runs)


def test_report_says_when_its_cells_ran_on_more_than_one_gpu_model(sweep):
    from benchmark.results.report import header, load_records

    cwd, _ = sweep
    runs = load_records([cwd / "outputs" / "multirun"])
    assert "GPU models" not in header(runs)
    runs["env.gpu"] = "NVIDIA H100 80GB HBM3"
    assert "GPU models" not in header(runs)  # one card: nothing to say
    runs.loc[runs.index[0], "env.gpu"] = "NVIDIA H200"
    assert "ran on 2 GPU models (NVIDIA H100 80GB HBM3, NVIDIA H200): compare rows of one card only" in (
        header(runs)
    )


def test_report_says_what_synthetic_rows_timed():
    import pandas as pd

    from benchmark.results.report import synthetic_input_notes

    text = pd.DataFrame({"fact.dataset": ["synthetic"] * 2, "params.model.input_kind": ["text"] * 2,
                         "params.model.max_length": [256, 256]})  # fmt: skip
    assert synthetic_input_notes(text) == [
        "Synthetic inputs: random token ids, 256 tokens a sample, attention mask all ones (no padding)."
    ]
    images = text.assign(**{"params.model.input_kind": "image"})
    assert "class templates plus noise" in synthetic_input_notes(images)[0]
    assert synthetic_input_notes(text.assign(**{"fact.dataset": "imdb"})) == []  # a dataset says it


def test_report_writes_markdown_html_and_csv_with_findings_and_figures(sweep, tmp_path):
    from benchmark.results.report import main

    cwd, _ = sweep
    main(["--records", str(cwd / "outputs" / "multirun"), "--out", str(tmp_path / "report.md")])
    markdown = (tmp_path / "report.md").read_text()
    figures = sorted(p.name for p in (tmp_path / "report_files").iterdir())
    # per model: latency, speed-up over eager FP32, Pareto; linked from the markdown
    assert figures == [f"{m}-{i}.png" for m in ("fcn", "lstm") for i in range(3)]
    assert all(f"report_files/{name}" in markdown for name in figures)
    from PIL import Image

    with Image.open(tmp_path / "report_files" / "fcn-0.png") as figure:  # a palette PNG: small to commit
        assert figure.mode == "P" and len(figure.getcolors()) <= 128
    assert markdown.count("### Findings") == 2 and "Fastest at batch 4:" in markdown
    assert re.search(r"\| torch threads\s+\| \d+", markdown) and re.search(r"\| data\s+\| digits", markdown)
    html = (tmp_path / "report.html").read_text()
    assert (
        html.count("data:image/png;base64,") == 6 and html.count("<table") == 1 + 2 * 4
    )  # no VRAM table on a CPU sweep
    assert len((tmp_path / "report.csv").read_text().splitlines()) == 17


def test_report_is_attached_to_the_sweeps_parent_run(sweep, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from benchmark.results.report import main
    from benchmark.results.tracking import Tracker

    cwd, _ = sweep
    monkeypatch.chdir(cwd)
    main(["--out", str(tmp_path / "report.md")])
    tracker = Tracker(default_tracking_uri(cwd), "fcn-lstm")
    sweep_id = load_runs(default_tracking_uri(cwd))["sweep_id"].iloc[0]
    attached = {
        a.path
        for a in MlflowClient(default_tracking_uri(cwd)).list_artifacts(
            tracker.sweep_run_id(sweep_id), "report"
        )
    }
    assert {"report/report.md", "report/report.html", "report/report.csv", "report/report_files"} <= attached


def test_a_batch_larger_than_the_eval_split_warns_how_it_is_handled(tmp_path):
    from tests.conftest import FAST_TIMING

    done = run_benchmark(tmp_path, "model=fcn", "device=cpu", "eval_samples=5", "batch_size=8", *FAST_TIMING)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        "warning: batch_size=8 > 5 eval samples: one batch, the 5 samples padded with copies of the last "
        "(38% copies); scored on the 5, timed on the whole batch"
    ) in done.stdout


def test_the_records_table_has_every_column_the_mlflow_table_has(sweep):
    """`make report ARGS="--records ..."` writes the same CSV columns as the MLflow path."""
    from benchmark.results.report import load_records

    cwd, _ = sweep
    from_mlflow = load_runs(default_tracking_uri(cwd))
    from_records = load_records([cwd / "outputs" / "multirun"])
    wanted = {c for c in from_mlflow.columns if c.startswith(("fact.", "params.", "env."))}
    assert wanted and wanted <= set(from_records.columns), sorted(wanted - set(from_records.columns))
    assert {c for c in from_mlflow.columns if c.startswith("params.")} == {
        c for c in from_records.columns if c.startswith("params.")
    }
