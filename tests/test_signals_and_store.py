"""A SIGKILL is `oom` only with evidence of the OOM killer; MLflow's own MLFLOW_TRACKING_URI is
honoured when no tracking_uri is given."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil

from benchmark.results.records import CellRecord
from benchmark.sweep.job import read_outcome
from tests.conftest import FAST_TIMING, ROOT, run_benchmark


def killed_record(tmp_path, before: int, after: int) -> CellRecord:
    record = CellRecord("s", "fcn", "eager", "fp32", 1, "cpu")
    read_outcome(tmp_path, record, -signal.SIGKILL, None, before, after)
    return record


def test_sigkill_without_oom_killer_evidence_is_a_crash(tmp_path):
    record = killed_record(tmp_path, 3, 3)
    assert (record.status, record.error_type) == ("crashed", "SIGKILL")


def test_sigkill_with_the_oom_kill_count_rising_is_oom(tmp_path):
    record = killed_record(tmp_path, 3, 4)
    assert record.status == "oom" and "oom_kill 3 -> 4" in record.message


def test_kill_9_of_a_worker_is_recorded_as_a_crash(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCHMARK_ALLOW_FAULTS": "1"}
    parent = subprocess.Popen(
        [sys.executable, "-m", "benchmark", "model=fcn", "device=cpu", "fault=hang", "eval_samples=20",
         f"tracking_uri=sqlite:///{tmp_path}/mlflow.db", *FAST_TIMING],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        workers = [
            p
            for p in psutil.Process(parent.pid).children(recursive=True)
            if "benchmark.worker" in " ".join(p.cmdline())
        ]
        phase = list(tmp_path.glob("outputs/runs/*/phase"))
        if workers and phase and phase[0].read_text().startswith("eval"):  # hanging in its injected fault
            os.kill(workers[0].pid, signal.SIGKILL)
            break
        time.sleep(0.2)
    out, _ = parent.communicate(timeout=300)
    record = json.loads(next(tmp_path.glob("outputs/runs/*/record.json")).read_text())
    assert (record["status"], record["error_type"]) == ("crashed", "SIGKILL"), out[-2000:]


def test_mlflow_tracking_uri_from_the_environment_is_used(tmp_path):
    store = tmp_path / "elsewhere" / "x.db"
    store.parent.mkdir()
    done = run_benchmark(
        tmp_path, "model=fcn", "device=cpu", "eval_samples=20", *FAST_TIMING,
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{store}"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"MLflow: sqlite:///{store}, experiment fcn" in done.stdout
    assert store.is_file() and not (tmp_path / "mlflow.db").exists()


def test_a_store_that_cannot_be_written_is_said_not_logged(tmp_path):
    """A store MLflow cannot write (here a sqlite file under a path that is a file, not a folder;
    on a server without credentials, a 401) leaves the measured cell's record and says it was
    not logged."""
    (tmp_path / "not_a_folder").write_text("")
    uri = f"sqlite:///{tmp_path}/not_a_folder/x.db"
    done = run_benchmark(
        tmp_path, "model=fcn", "device=cpu", "eval_samples=20", *FAST_TIMING, f"tracking_uri={uri}"
    )
    assert done.returncode == 0, done.stderr[-2000:]  # measured: the record is the result
    assert f"MLflow: NOT logged to {uri}" in done.stdout and "cannot be written" in done.stderr
    assert "MLflow: sqlite" not in done.stdout


def test_headline_ram_stops_where_timing_ends(tmp_path):
    """Post-processing after the timed loop (here 400 MB allocated by a test fault) is neither
    in peak_rss_mb nor in the whole-life-to-end-of-timing peak, which bounds it."""
    done = run_benchmark(
        tmp_path, "model=fcn", "device=cpu", "eval_samples=20", "fault=rss_after_timing", *FAST_TIMING,
        env={"BENCHMARK_ALLOW_FAULTS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads(next(tmp_path.glob("outputs/runs/*/record.json")).read_text())["metrics"]
    assert metrics["peak_rss_mb"] <= metrics["peak_rss_process_mb"] + 1  # psutil and the kernel round apart
    assert metrics["peak_rss_process_mb"] < 1500  # an FCN worker; the 400 MB came after timing


def test_single_runs_of_a_day_share_one_parent_run(tmp_path):
    from mlflow import MlflowClient

    from benchmark.results.tracking import default_tracking_uri

    for backend in ("eager", "torchscript"):
        done = run_benchmark(
            tmp_path, "model=fcn", f"backend={backend}", "device=cpu", "eval_samples=20", *FAST_TIMING
        )
        assert done.returncode == 0, done.stderr[-2000:]
    client = MlflowClient(default_tracking_uri(tmp_path))
    (experiment,) = [e for e in client.search_experiments() if e.name == "fcn"]
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags["kind"] == "sweep"]
    cells = [r for r in runs if r.data.tags["kind"] == "cell"]
    assert len(parents) == 1 and len(cells) == 2
    assert parents[0].data.tags["sweep_id"].startswith("single-runs-")
    assert {c.data.tags["mlflow.parentRunId"] for c in cells} == {parents[0].info.run_id}
