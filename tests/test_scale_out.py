"""Scale-out: cells run side by side through Hydra's launcher plugins, each in its own place
(GPU or core share), and log to a shared MLflow server over HTTP: every run arrives, once."""

import contextlib
import json
import socket
import subprocess
import time
import urllib.request

import pytest

from benchmark.results.server import ServerConfig
from benchmark.sweep.placement import Placement, core_shares, placement_for
from tests.conftest import FAST_TIMING, run_benchmark

CELLS = ("model=fcn", "device=cpu", "eval_samples=50", *FAST_TIMING)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("server")
    config = ServerConfig(
        port=free_port(),
        backend_store_uri=f"sqlite:///{folder / 'store.db'}",
        artifacts_destination=str(folder / "artifacts"),
        workers=1,
    )
    process = subprocess.Popen(config.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{config.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"mlflow server did not come up: {config.command()}")
                time.sleep(1)
        yield config
    finally:
        process.terminate()
        process.wait(timeout=30)


def runs_of(uri: str, sweep_dir) -> tuple[list, list]:
    """The sweep's (parent runs, cell runs) on the server, deleted ones left out."""
    from mlflow import MlflowClient

    sweep_id = sweep_dir.name
    client = MlflowClient(uri)
    found = [
        run
        for experiment in client.search_experiments()
        for run in client.search_runs([experiment.experiment_id], f"tags.sweep_id = '{sweep_id}'")
    ]
    parents = [run for run in found if run.data.tags["kind"] == "sweep"]
    return parents, [run for run in found if run.data.tags["kind"] == "cell"]


def test_submitit_local_jobs_log_to_a_shared_server_once_each(server, tmp_path):
    sweep_dir = tmp_path / "submitit_sweep"  # its name is the sweep id
    done = run_benchmark(
        tmp_path, "-m", "hydra/launcher=submitit_local", "backend=eager,torchscript", *CELLS,
        f"tracking_uri={server.uri}", f"hydra.sweep.dir={sweep_dir}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(list(sweep_dir.glob(".submitit/*/*_result.pkl"))) == 2  # two submitit jobs ran
    parents, cells = runs_of(server.uri, sweep_dir)
    assert len(parents) == 1
    assert sorted(run.data.tags["backend"] for run in cells) == ["eager", "torchscript"]
    assert {run.data.tags["mlflow.parentRunId"] for run in cells} == {parents[0].info.run_id}
    assert all(run.data.tags["status"] == "ok" for run in cells)
    assert not (sweep_dir / ".tracking_failed").exists()


def test_cpu_cells_side_by_side_get_disjoint_cores(server, tmp_path):
    sweep_dir = tmp_path / "cpus_sweep"
    done = run_benchmark(
        tmp_path, "-m", "hydra/launcher=cpus", "hydra.launcher.n_jobs=2", "backend=eager,onnxruntime",
        *CELLS, f"tracking_uri={server.uri}", f"hydra.sweep.dir={sweep_dir}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(path.read_text()) for path in sweep_dir.glob("*/record.json")]
    assert [r["status"] for r in records] == ["ok", "ok"]
    shares = core_shares(2)
    for record in records:
        threads = record["environment"]["torch_threads"]
        assert record["environment"]["cpu_count"] == threads == len(shares[0])  # pinned, not oversubscribed
        assert 0 <= record["queued_s"] < record["wall_s"]  # the wait for a share is told apart
    if len(shares) == 2:  # two cores or more: each cell had its own
        assert len({r["facts"]["placement"] for r in records}) == 2
    parents, cells = runs_of(server.uri, sweep_dir)
    assert len(parents) == 1 and len(cells) == 2


def test_each_concurrent_cell_sees_one_gpu_of_its_own(monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    monkeypatch.setattr("benchmark.sweep.placement.SLOTS_DIR", tmp_path)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)))
    with placement_for("cuda", 2) as first, placement_for("cuda", 2) as second:
        assert (first.gpu, second.gpu) == ("3", "5")
        # each GPU's cell gets its own cores too, so a neighbour's threads can't slow its launches
        assert first.env() == {"CUDA_VISIBLE_DEVICES": "3", "BENCHMARK_CPU_CORES": "0,1,2,3"}
        assert second.env() == {"CUDA_VISIBLE_DEVICES": "5", "BENCHMARK_CPU_CORES": "4,5,6,7"}
        assert second.describe() == "gpu 5, cores 4-7"
    with placement_for("cuda", 2) as again:  # released when its cell ended
        assert again.gpu == "3"
    with placement_for("cuda", None) as alone:  # the sequential launcher: the host is the cell's
        assert alone == Placement() and alone.env() == {}


def test_every_gpu_is_used_when_there_are_fewer_cores_than_gpus(monkeypatch):
    from benchmark.sweep.placement import gpu_places

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0})
    assert gpu_places(["0", "1"]) == [Placement(gpu="0", shared=True), Placement(gpu="1", shared=True)]


def test_the_launcher_s_only_gpu_is_described_as_the_whole_host(monkeypatch, tmp_path):
    """hydra/launcher=gpus on a one-GPU host runs one cell at a time: its rows were measured
    alone, and the report must not note them as run beside other cells."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setattr("benchmark.sweep.placement.SLOTS_DIR", tmp_path)
    with placement_for("cuda", 1) as only:
        assert only.describe() == "gpu 0, whole host"
    with placement_for("cpu", 1) as only:
        assert only.describe() == "whole host"


def test_core_shares_are_disjoint_and_cover_equal_counts():
    shares = core_shares(2)
    flat = [core for share in shares for core in share]
    assert len(flat) == len(set(flat))
    assert len({len(share) for share in shares}) == 1


def launcher_config(*overrides: str):
    from hydra import compose, initialize_config_dir

    from benchmark.config import conf_dir, register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True).hydra.launcher


def test_gpus_launcher_runs_one_job_per_visible_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    launcher = launcher_config("hydra/launcher=gpus")
    assert launcher._target_.endswith("JoblibLauncher")
    assert (launcher.n_jobs, launcher.batch_size) == (3, "1")


def test_slurm_launcher_asks_one_gpu_per_cell():
    launcher = launcher_config("hydra/launcher=slurm", "hydra.launcher.partition=gpu")
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.gpus_per_node, launcher.tasks_per_node, launcher.partition) == (1, 1, "gpu")
    assert launcher.array_parallelism == 16


def test_a_second_sweep_s_cell_waits_while_another_has_the_host(monkeypatch, tmp_path):
    """Two sequential sweeps on one host take turns cell by cell: no two cells time at once."""
    import threading

    monkeypatch.setattr("benchmark.sweep.placement.SLOTS_DIR", tmp_path)
    entered = threading.Event()

    def second_sweep_cell():
        with placement_for("cpu", None):
            entered.set()

    with placement_for("cpu", None):
        waiting = threading.Thread(target=second_sweep_cell)
        waiting.start()
        assert not entered.wait(1.5)  # the first cell still has the host
        with (
            pytest.raises(TimeoutError),
            _within(1.5),
            placement_for("cpu", 2),
        ):  # side-by-side cells wait too
            pass
    assert entered.wait(3)
    waiting.join()


@contextlib.contextmanager
def _within(seconds: float):
    import signal

    def expire(*_):
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_an_authenticated_server_refuses_strangers_and_logs_a_sweep_with_credentials(tmp_path):
    """`make server ARGS=--auth`: MLflow's basic-auth app; the password only in the environment."""
    import os
    import urllib.error

    from mlflow import MlflowClient

    password = "s3cret-for-this-test"  # MLflow asks 12 characters or more
    config = ServerConfig(
        port=free_port(),
        backend_store_uri=f"sqlite:///{tmp_path / 'store.db'}",
        artifacts_destination=str(tmp_path / "artifacts"),
        workers=1,
        auth=True,
        auth_db=str(tmp_path / "auth.db"),
    )
    env = config.environment(tmp_path) | {"MLFLOW_AUTH_ADMIN_PASSWORD": password}
    process = subprocess.Popen(
        config.command(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 180
        while True:  # /health answers without credentials
            try:
                with urllib.request.urlopen(f"{config.uri}/health", timeout=2):
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "auth server did not come up"
                time.sleep(1)
        create = urllib.request.Request(
            f"{config.uri}/api/2.0/mlflow/experiments/create", data=b'{"name": "intruder"}',
            headers={"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(create, timeout=10)
        assert refused.value.code == 401

        credentials = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": password}
        done = run_benchmark(tmp_path, *CELLS, f"tracking_uri={config.uri}", env=credentials)
        assert done.returncode == 0 and "MLflow" not in done.stderr, done.stderr[-2000:]
        os.environ.update(credentials)
        try:
            runs = MlflowClient(config.uri).search_runs(
                [e.experiment_id for e in MlflowClient(config.uri).search_experiments()]
            )
        finally:
            for key in credentials:
                os.environ.pop(key)
        assert [r.data.tags["kind"] for r in runs].count("cell") == 1
        assert password not in json.dumps([r.data.params for r in runs])
        assert password not in "".join(p.read_text() for p in tmp_path.rglob("record.json"))
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serving_beyond_loopback_without_auth_is_refused(capsys):
    from benchmark.results.server import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--host", "0.0.0.0"])
    assert "add --auth" in capsys.readouterr().err
    assert parse_args(["--host", "0.0.0.0", "--no-auth"]).host == "0.0.0.0"
