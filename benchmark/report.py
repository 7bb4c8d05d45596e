"""Pivot the MLflow runs into the study's per-model tables:
`python -m benchmark.report [--sweep ID | --all] [--out outputs/report.md]`.

Rows are `<backend> <device> <precision>`, columns `batch size N`. A failed cell shows its
status (OutOfMemory, RuntimeError, unsupported: <reason>) instead of a number; a metric that
cannot apply (GPU memory of a CPU row, F1 of random weights) shows a dash or n/a."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from benchmark.records import status_label


@dataclass(frozen=True)
class Table:
    title: str
    metric: str
    fmt: str
    not_applicable: str = "-"
    task: str | None = None  # shown only for models of this task (None: every model)

    def applies(self, model_runs: pd.DataFrame) -> bool:
        return self.task is None or self.task == model_task(model_runs)


TABLES = (
    Table("Inference time [ms/sample]", "latency_ms_per_sample", "{:.4f}"),
    Table("Peak VRAM [MB]", "peak_vram_mb", "{:.0f}"),
    Table("Peak RAM [MB]", "peak_rss_mb", "{:.0f}"),
    Table("F1 score", "f1_macro", "{:.4f}", not_applicable="n/a", task="classification"),
    Table("Perplexity (FP32 reference in the record)", "perplexity", "{:.2f}", task="language_modeling"),
    Table("Next-token agreement with FP32", "top1_agreement", "{:.4f}", task="language_modeling"),
    Table(
        "Generation [tokens/s] (eager only)", "generation_tokens_per_s", "{:.1f}", task="language_modeling"
    ),
)


def model_task(model_runs: pd.DataFrame) -> str:
    """Language models are the ones whose cells measured perplexity."""
    perplexity = model_runs.get("perplexity", pd.Series(dtype=float))
    return "language_modeling" if perplexity.notna().any() else "classification"


def load_runs(
    tracking_uri: str, experiment: str, sweep: str | None = None, all_sweeps: bool = False
) -> pd.DataFrame:
    """One row per cell: its tags and metrics, from the latest sweep (or the one named, or all)."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    runs = mlflow.search_runs(
        experiment_names=[experiment], filter_string="tags.kind = 'cell'", output_format="pandas"
    )
    if runs.empty:
        raise SystemExit(
            f"no benchmark runs in experiment {experiment!r} at {tracking_uri}: run a sweep first"
        )
    # Tags and metrics by their own names (params keep their prefix), without MLflow's
    # own run columns: its `status` is not ours.
    keep = [c for c in runs.columns if c.startswith(("tags.", "metrics.", "params."))]
    runs = runs[keep + ["start_time"]].rename(
        columns=lambda c: c.split(".", 1)[1] if c.startswith(("tags.", "metrics.")) else c
    )
    runs["batch_size"] = runs["batch_size"].astype(int)
    if sweep:
        runs = runs[runs["sweep_id"] == sweep]
        if runs.empty:
            raise SystemExit(f"no runs of sweep {sweep!r}; sweeps here: see `--all` or the MLflow UI")
    elif not all_sweeps:
        latest = runs.sort_values("start_time").iloc[-1]["sweep_id"]
        runs = runs[runs["sweep_id"] == latest]
    # A cell measured in several sweeps keeps its latest measurement.
    return runs.sort_values("start_time").drop_duplicates("cell_id", keep="last")


def load_records(folders: list[Path]) -> pd.DataFrame:
    """The same table from the JSON records the jobs wrote (no MLflow needed): every
    record.json under the folders, a cell measured twice keeping its latest record."""
    from benchmark.records import CellRecord

    rows = []
    for path in sorted(p for folder in folders for p in Path(folder).rglob("record.json")):
        record = CellRecord.load(path)
        rows.append(
            {
                "model": record.model, "backend": record.backend, "device": record.device,
                "precision": record.precision, "batch_size": record.batch_size, "status": record.status,
                "error_type": record.error_type, "message": record.message, "sweep_id": record.sweep_id,
                "cell_id": record.cell_id, "weights": record.facts.get("weights", ""),
                "start_time": path.stat().st_mtime, **record.metrics,
            }
        )  # fmt: skip
    if not rows:
        raise SystemExit(f"no record.json under {', '.join(map(str, folders))}")
    return pd.DataFrame(rows).sort_values("start_time").drop_duplicates("cell_id", keep="last")


def cell_text(run: pd.Series, table: Table) -> str:
    if run["status"] != "ok":
        return status_label(run["status"], run.get("error_type") or "", run.get("message") or "")
    value = run.get(table.metric)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return table.not_applicable
    return table.fmt.format(value)


def pivot(runs: pd.DataFrame, table: Table) -> pd.DataFrame:
    runs = runs.assign(
        row=row_labels(runs),
        column=runs["batch_size"],
        text=runs.apply(cell_text, axis=1, table=table),
    )
    # Cells that differ only outside the row and column (e.g. seed) show the latest one.
    runs = runs.sort_values("start_time").drop_duplicates(["row", "column"], keep="last")
    grid = runs.pivot(index="row", columns="column", values="text").sort_index(axis=1)
    grid.columns = [f"batch size {c}" for c in grid.columns]
    grid.index.name = None
    return grid.fillna("not run")


def row_labels(runs: pd.DataFrame) -> pd.Series:
    """The study's row: `<backend> <device> <precision>`."""
    return runs["backend"] + " " + runs["device"] + " " + runs["precision"]


def split_not_offered(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Rows a sweep's cross product asked for but the backend's YAML never offers (every cell
    skipped from the YAML, with no error type) are listed once instead of filling tables."""
    rows = row_labels(runs)
    declared = (runs["status"] == "skipped") & (runs["error_type"].fillna("") == "")
    all_declared = declared.groupby(rows).all()
    dropped = sorted(all_declared[all_declared].index)
    return runs[~rows.isin(dropped)], dropped


def render_markdown(runs: pd.DataFrame) -> str:
    lines = ["# Benchmark report", ""]
    ids = sorted(runs["sweep_id"].unique())
    sweeps = ", ".join(ids) if len(ids) <= 3 else f"{len(ids)} sweeps, {ids[0]} to {ids[-1]}"
    lines += [f"Sweep(s): {sweeps}. Cells: {len(runs)} ({(runs['status'] == 'ok').sum()} measured).", ""]
    for model, model_runs in runs.groupby("model", sort=True):
        lines += [f"## {model}", ""]
        random = model_runs.get("weights", pd.Series(dtype=str)).eq("random").any()
        if random:
            lines += ["Random weights: F1 means nothing here (n/a); fidelity to FP32 still holds.", ""]
        model_runs, not_offered = split_not_offered(model_runs)
        if not_offered:
            lines += [
                f"Not offered by the backend (declared in its YAML, no cell ran): {', '.join(not_offered)}.",
                "",
            ]
        for table in (t for t in TABLES if t.applies(model_runs)):
            lines += [
                f"### {table.title}",
                "",
                tabulate(pivot(model_runs, table), headers="keys", tablefmt="github"),
                "",
            ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from benchmark.tracking import default_tracking_uri

    parser = argparse.ArgumentParser(prog="python -m benchmark.report", description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--sweep", help="sweep id (its output folder's name); default: the latest sweep")
    which.add_argument("--all", action="store_true", help="every sweep, the latest measurement of each cell")
    which.add_argument(
        "--records",
        type=Path,
        nargs="+",
        help="read the cells' record.json files under these folders instead of MLflow",
    )
    parser.add_argument("--tracking-uri", default=None, help="default: sqlite:///<cwd>/mlflow.db")
    parser.add_argument("--experiment", default="benchmark")
    parser.add_argument("--out", type=Path, default=Path("outputs/report.md"))
    args = parser.parse_args(argv)
    if args.records:
        runs = load_records(args.records)
    else:
        runs = load_runs(
            args.tracking_uri or default_tracking_uri(Path.cwd()), args.experiment, args.sweep, args.all
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render_markdown(runs))
    runs.to_csv(args.out.with_suffix(".csv"), index=False)
    print(args.out.read_text())
    print(f"written: {args.out} and {args.out.with_suffix('.csv')}")


if __name__ == "__main__":
    main()
