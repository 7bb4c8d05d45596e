"""MLflow tracking: a parent run per sweep, one child run per cell with its params, metrics,
tags and JSON record. mlflow is imported lazily (1-3 s) and only in the parent process."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

from benchmark.records import CellRecord

SWEEP_KIND, CELL_KIND = "sweep", "cell"


def default_tracking_uri(launch_dir: Path) -> str:
    return f"sqlite:///{(launch_dir / 'mlflow.db').resolve()}"


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


class Tracker:
    def __init__(self, tracking_uri: str, experiment: str):
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)

    def sweep_run_id(self, sweep_id: str) -> str:
        """The sweep's parent run, created by its first cell."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.kind = '{SWEEP_KIND}' and tags.sweep_id = '{sweep_id}'",
            max_results=1,
        )
        if runs:
            return runs[0].info.run_id
        run = self.client.create_run(
            self.experiment_id, run_name=f"sweep {sweep_id}", tags={"kind": SWEEP_KIND, "sweep_id": sweep_id}
        )
        return run.info.run_id

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
        self.client.set_terminated(run_id, "FINISHED" if record.status in ("ok", "skipped") else "FAILED")
        return run_id


def log_cell_safely(record: CellRecord, record_file: Path, tracking_uri: str, experiment: str) -> str | None:
    """A tracking failure never loses the cell: its JSON record is already on disk."""
    try:
        return Tracker(tracking_uri, experiment).log_cell(record, record_file)
    except Exception as exc:
        warnings.warn(
            f"MLflow logging failed ({type(exc).__name__}: {exc}); the record stays in {record_file}",
            stacklevel=2,
        )
        return None
