"""MLflow tracking: a parent run per sweep, one child run per cell with its params, metrics,
tags and JSON record. mlflow is imported lazily (1-3 s) and only in the parent process."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
import warnings
from pathlib import Path
from typing import Any

from benchmark.results.records import CellRecord

# A store that is down should fail a cell's logging in seconds, not after MLflow's default
# minutes of retries; the record is on disk either way.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")

SWEEP_KIND, CELL_KIND = "sweep", "cell"


def sweep_name(overrides: list[str], sweeper_params: dict | None, model: str) -> str:
    """The MLflow experiment of a sweep that names none: its `+sweep=` preset (`study`), else the
    models it sweeps (`fcn-cnn-lstm`), else the one model of a single run."""
    values = dict(o.lstrip("+~").split("=", 1) for o in overrides if "=" in o)
    if values.get("sweep"):
        return values["sweep"]
    models = values.get("model") or (sweeper_params or {}).get("model") or model
    if "glob(" in str(models):
        return "all-models"
    return "-".join(m for m in re.split(r"[\s,]+", str(models)) if m)


def default_tracking_uri(launch_dir: Path) -> str:
    """MLflow's own MLFLOW_TRACKING_URI when set, else sqlite:///<launch dir>/mlflow.db (an
    explicit `tracking_uri=` or `--tracking-uri` wins over both)."""
    import os

    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(launch_dir / 'mlflow.db').resolve()}"


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def create_sqlite_store(tracking_uri: str) -> None:
    """A new sqlite store gets MLflow's tables in a file of its own, linked into place once they
    are complete. MLflow builds them in a dozen schema migrations, and a sweep stopped (Ctrl-C)
    between two leaves a store that no later run can open ("table _alembic_tmp_experiments
    already exists"). Another process that creates the store at the same time wins or loses as a
    whole: `os.link` fails where the store exists."""
    if not tracking_uri.startswith("sqlite:///"):
        return
    store = Path(tracking_uri.removeprefix("sqlite:///"))
    if store.exists():
        return
    from mlflow import MlflowClient

    store.parent.mkdir(parents=True, exist_ok=True)
    building = store.with_name(f"{store.name}.{os.getpid()}.creating")
    try:
        MlflowClient(tracking_uri=f"sqlite:///{building}").search_experiments(max_results=1)
        os.link(building, store)
    except FileExistsError:
        pass  # another sweep's store came first: ours was never used
    except OSError:  # a filesystem without hard links: the same, but for a sweep starting this instant
        if not store.exists():
            os.replace(building, store)
    finally:
        building.unlink(missing_ok=True)


class Tracker:
    def __init__(self, tracking_uri: str, experiment: str):
        from mlflow import MlflowClient

        create_sqlite_store(tracking_uri)
        self.client = MlflowClient(tracking_uri=tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)

    def sweep_runs(self, sweep_id: str) -> list:
        """The sweep's parent runs, oldest first (run id breaks a tie)."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.kind = '{SWEEP_KIND}' and tags.sweep_id = '{sweep_id}'",
        )
        return sorted(runs, key=lambda run: (run.info.start_time, run.info.run_id))

    def sweep_run_id(self, sweep_id: str) -> str:
        """The sweep's parent run, created by its first cell. Cells running at once on a
        server may each create one: all keep the oldest, and the others delete their own."""
        runs = self.sweep_runs(sweep_id)
        if runs:
            return runs[0].info.run_id
        mine = self.client.create_run(
            self.experiment_id, run_name=f"sweep {sweep_id}", tags={"kind": SWEEP_KIND, "sweep_id": sweep_id}
        ).info.run_id
        oldest = self.sweep_runs(sweep_id)[0].info.run_id
        if oldest != mine:
            self.client.delete_run(mine)
        return oldest

    def has_cell(self, sweep_id: str, cell_id: str) -> bool:
        """Whether the store holds the cell's run, logged to its end. A run left RUNNING (its
        sweep stopped while logging it) may lack its metrics: it is deleted, to be logged again."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.kind = '{CELL_KIND}' and tags.sweep_id = '{sweep_id}' and tags.cell_id = '{cell_id}'",
        )
        for cut_short in (run for run in runs if run.info.status == "RUNNING"):
            self.client.delete_run(cut_short.info.run_id)
        return any(run.info.status != "RUNNING" for run in runs)

    def log_cell(self, record: CellRecord, record_file: Path) -> str:
        from mlflow.entities import Metric, Param, RunTag

        parent = self.sweep_run_id(record.sweep_id)
        tags = {
            "mlflow.parentRunId": parent,
            "kind": CELL_KIND,
            "sweep_id": record.sweep_id,
            "cell_id": record.cell_id,
            "status": record.status,
            "error_type": record.error_type,
            "message": record.message[:5000],
            "model": record.model,
            "backend": record.backend,
            "precision": record.precision,
            "device": record.device,
            "batch_size": str(record.batch_size),
            "weights": str(record.facts.get("weights", "")),
            **{f"env.{k}": str(v) for k, v in record.environment.items()},
        }
        run = self.client.create_run(self.experiment_id, run_name=record.name, tags=tags)
        run_id = run.info.run_id
        params = flatten(record.config)
        now_ms = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now_ms, 0) for k, v in record.metrics.items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            chunk = list(params.items())[start : start + 100]
            self.client.log_batch(run_id, params=[Param(k, v[:6000]) for k, v in chunk])
        self.client.log_batch(
            run_id,
            metrics=metrics,
            tags=[RunTag(f"fact.{k}", str(v)[:5000]) for k, v in record.facts.items()],
        )
        self.client.log_artifact(run_id, str(record_file))
        self.client.set_terminated(
            run_id, "FINISHED" if record.status in ("ok", "invalid", "skipped") else "FAILED"
        )
        return run_id


TRACKING_FAILED = ".tracking_failed"  # in the sweep dir: MLflow failed once, the sweep stopped trying
ATTEMPTS = 5  # sqlite shared by sweeps running side by side answers "database is locked" at times


@contextlib.contextmanager
def store_lock(tracking_uri: str):
    """Sweeps running side by side take turns writing a sqlite store: MLflow creates its tables
    on first use, and two processes doing so at once break the schema migration."""
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    lock_file = Path(tracking_uri.removeprefix("sqlite:///") + ".lock")
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def log_with_retries(
    record: CellRecord, record_file: Path, tracking_uri: str, experiment: str, unless_logged: bool = False
) -> str | None:
    """Log the cell (with `unless_logged`, only if the store has no run of it yet)."""
    for attempt in range(ATTEMPTS):
        try:
            with store_lock(tracking_uri):
                tracker = Tracker(tracking_uri, experiment)
                if unless_logged and tracker.has_cell(record.sweep_id, record.cell_id):
                    return None
                return tracker.log_cell(record, record_file)
        except Exception as exc:
            if attempt == ATTEMPTS - 1 or not is_transient(exc):
                raise
            time.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")


def is_transient(exc: Exception) -> bool:
    """A store that is busy (sqlite locked by another writer, an experiment created by another
    sweep a moment ago), as opposed to one that is down or unwritable."""
    text = str(exc).lower()
    return "database is locked" in text or "already exists" in text or "unique constraint" in text


def log_cell_safely(
    record: CellRecord,
    record_file: Path,
    tracking_uri: str,
    experiment: str,
    sweep_dir: Path,
    unless_logged: bool = False,
) -> str | None:
    """A tracking failure never loses the cell: its JSON record is already on disk. The first
    failure of a sweep warns once and the sweep stops trying (a store that is down would cost
    its timeout per cell); `python -m benchmark.results.sync` uploads the records later."""
    marker = sweep_dir / TRACKING_FAILED
    if marker.exists():
        return None
    try:
        return log_with_retries(record, record_file, tracking_uri, experiment, unless_logged)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"
        marker.write_text(reason + "\n")
        warnings.warn(
            f"MLflow store {tracking_uri} cannot be written ({reason}); this sweep keeps its records "
            f"as JSON only (record.json in each job dir). Upload them later with: "
            f"python -m benchmark.results.sync {sweep_dir} --tracking-uri {tracking_uri}",
            stacklevel=2,
        )
        return None
