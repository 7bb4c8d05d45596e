"""Upload to MLflow the cell records that are not there yet:
`python -m benchmark.results.sync [FOLDER ...] [--tracking-uri URI] [--experiment NAME]`.

For a sweep that ran while the MLflow store was down or unwritable: every record.json under the
folders (default: outputs/) whose (sweep id, cell id) has no run in the store is logged the way
the sweep would have logged it. Running it again adds nothing."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.results.records import CellRecord
from benchmark.results.tracking import (
    CELL_KIND,
    create_sqlite_store,
    default_tracking_uri,
    log_with_retries,
    store_lock,
)


def logged_cells(tracking_uri: str) -> set[tuple[str, str]]:
    """(sweep id, cell id) of every cell run in the store logged to its end, whatever its
    experiment (a run left RUNNING was cut short: Tracker.has_cell deletes it before logging)."""
    from mlflow import MlflowClient

    create_sqlite_store(tracking_uri)
    client = MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, filter_string=f"tags.kind = '{CELL_KIND}'", max_results=50000)
    return {
        (run.data.tags.get("sweep_id", ""), run.data.tags.get("cell_id", ""))
        for run in runs
        if run.info.status != "RUNNING"
    }


def sync(folders: list[Path], tracking_uri: str, experiment: str | None = None) -> tuple[int, int]:
    """Returns (uploaded, already there). Each record goes to `experiment`, else to the one its
    sweep would have logged it to."""
    with store_lock(tracking_uri):
        present = logged_cells(tracking_uri)
    uploaded = already = 0
    for path in sorted(p for folder in folders for p in Path(folder).rglob("record.json")):
        record = CellRecord.load(path)
        if (record.sweep_id, record.cell_id) in present:
            already += 1
            continue
        target = experiment or record.config.get("experiment") or "benchmark"
        log_with_retries(record, path, tracking_uri, target, unless_logged=True)
        present.add((record.sweep_id, record.cell_id))
        uploaded += 1
    return uploaded, already


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.results.sync", description=__doc__.splitlines()[0]
    )
    parser.add_argument("folders", nargs="*", type=Path, default=[Path("outputs")])
    parser.add_argument("--tracking-uri", default=None, help="default: sqlite:///<cwd>/mlflow.db")
    parser.add_argument("--experiment", default=None, help="default: the one each record's sweep used")
    args = parser.parse_args(argv)
    missing = [str(f) for f in args.folders if not f.is_dir()]
    if missing:
        raise SystemExit(f"no such folder: {', '.join(missing)}")
    uri = args.tracking_uri or default_tracking_uri(Path.cwd())
    uploaded, already = sync(args.folders, uri, args.experiment)
    print(f"{uploaded} record(s) uploaded to {uri}, {already} already there")


if __name__ == "__main__":
    main()
