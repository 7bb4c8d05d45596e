"""Pivot the MLflow runs into the study's per-model tables, findings and figures:
`python -m benchmark.results.report [--sweep ID | --all | --records DIR] [--out outputs/report.md]
[--format md,html,csv]` (report.md with its PNGs in report_files/, a self-contained
report.html, and report.csv with every cell).

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

from benchmark.measure.latency import BUSY_HOST_CORES
from benchmark.results.records import status_label


@dataclass(frozen=True)
class Table:
    title: str
    metric: str
    fmt: str
    not_applicable: str = "-"
    task: str | None = None  # shown only for models of this task (None: every model)
    spread: str | None = None  # a column shown beside each value as "±x%"
    empty_because: str | None = None  # why no row may have it: then one line replaces the table

    def applies(self, model_runs: pd.DataFrame) -> bool:
        return self.task is None or self.task == model_task(model_runs)


INVALID_MARK = " ✗"  # measured, but below the quality gate: not a speed result
TABLES = (
    Table("Inference time [ms/sample]", "latency_ms_per_sample", "{:.4f}"),
    Table(
        "Inference time, median batch [ms/sample] ± spread (CV of the timed batches)",
        "median_ms_per_sample",
        "{:.4f}",
        spread="latency_cv",
    ),
    Table("Peak VRAM [MB]", "peak_vram_mb", "{:.0f}", empty_because="CPU rows only"),
    Table(
        "GPU energy [mJ/sample] (NVML, the card's counter over the timed calls)",
        "energy_mj_per_sample",
        "{:.2f}",
        empty_because="measured on CUDA only, by records made since it was added",
    ),
    Table("Peak RAM [MB]", "peak_rss_mb", "{:.0f}"),
    Table(
        "F1 score",
        "f1_macro",
        "{:.4f}",
        not_applicable="n/a",
        task="classification",
        empty_because="random weights or unlabelled data: fidelity to FP32 is in the records",
    ),
    Table("Perplexity (FP32 reference in the record)", "perplexity", "{:.2f}", task="language_modeling"),
    Table("Next-token agreement with FP32", "top1_agreement", "{:.4f}", task="language_modeling"),
    Table(
        "Generation [tokens/s] (eager only)", "generation_tokens_per_s", "{:.1f}", task="language_modeling"
    ),
)


def has_values(model_runs: pd.DataFrame, metric: str) -> bool:
    """Whether any measured row of this model has the metric (else its table says nothing)."""
    measured_rows = model_runs[model_runs["status"].isin(["ok", "invalid"])]
    if measured_rows.empty:  # nothing measured: the tables show why, cell by cell
        return True
    return metric in measured_rows and measured_rows[metric].notna().any()


def model_task(model_runs: pd.DataFrame) -> str:
    """Language models are the ones whose cells measured perplexity."""
    perplexity = model_runs.get("perplexity", pd.Series(dtype=float))
    return "language_modeling" if perplexity.notna().any() else "classification"


def load_runs(
    tracking_uri: str, experiment: str | None = None, sweep: str | None = None, all_sweeps: bool = False
) -> pd.DataFrame:
    """One row per cell: its tags and metrics, from the latest sweep (or the one named, or all),
    of one experiment or of every experiment in the store."""
    import mlflow

    from benchmark.results.tracking import create_sqlite_store

    create_sqlite_store(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    runs = mlflow.search_runs(
        experiment_names=[experiment] if experiment else None,
        search_all_experiments=not experiment,
        filter_string="tags.kind = 'cell'",
        output_format="pandas",
    )
    if runs.empty:
        where = f"experiment {experiment!r}" if experiment else "any experiment"
        raise SystemExit(f"no benchmark runs in {where} at {tracking_uri}: run a sweep first")
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
    record.json under the folders or in their .tgz archives, a cell measured twice keeping its
    latest record."""
    from benchmark.results.records import stored_records
    from benchmark.results.tracking import flatten

    rows = []
    for record, mtime in stored_records(folders):
        rows.append(
            {
                "model": record.model, "backend": record.backend, "device": record.device,
                "precision": record.precision, "batch_size": record.batch_size, "status": record.status,
                "error_type": record.error_type, "message": record.message, "sweep_id": record.sweep_id,
                "cell_id": record.cell_id, "weights": record.facts.get("weights", ""),
                "start_time": mtime,
                # the columns MLflow's runs have (tracking.py logs them so): the same CSV either way
                **{f"fact.{k}": str(v)[:5000] for k, v in record.facts.items()},
                **{f"params.{k}": v for k, v in flatten(record.config).items()},
                **{f"env.{k}": str(v) for k, v in record.environment.items()}, **record.metrics,
            }
        )  # fmt: skip
    if not rows:
        raise SystemExit(f"no record.json under {', '.join(map(str, folders))}")
    return pd.DataFrame(rows).sort_values("start_time").drop_duplicates("cell_id", keep="last")


def with_spread(runs: pd.DataFrame) -> pd.DataFrame:
    """Median batch time per sample and the timed batches' coefficient of variation."""
    runs = runs.copy()
    for column in ("latency_p50_ms", "latency_std_ms", "latency_mean_ms"):
        if column not in runs:
            runs[column] = float("nan")
    runs["median_ms_per_sample"] = runs["latency_p50_ms"] / runs["batch_size"]
    runs["latency_cv"] = runs["latency_std_ms"] / runs["latency_mean_ms"]
    return runs


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def cell_text(run: pd.Series, table: Table) -> str:
    if run["status"] not in ("ok", "invalid"):
        return status_label(run["status"], run.get("error_type") or "", run.get("message") or "")
    value = run.get(table.metric)
    if missing(value):
        return table.not_applicable
    text = table.fmt.format(value)
    if table.spread and not missing(run.get(table.spread)):
        text += f" ±{run[table.spread]:.0%}"
    return text + (INVALID_MARK if run["status"] == "invalid" else "")


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
    """The study's row: `<backend> <device> <precision>`; a partly quantized row says how much
    of it is (`int8 (1/4 layers)`: the other layers still compute in float)."""
    labelled = runs["backend"] + " " + runs["device"] + " " + runs["precision"].astype(str)
    model = runs.get("model", "")  # the layout and layer count of one model's row, not another's
    nhwc = row_layout(runs, labelled + model).eq("channels_last").map({True: " channels_last", False: ""})
    rows = labelled + quantized_share(runs, labelled + nhwc + model) + nhwc
    return rows + varying_settings(runs, rows)


def row_layout(runs: pd.DataFrame, rows: pd.Series) -> pd.Series:
    """Each run's memory layout (fact `memory_format`); a cell skipped before its build (torchao
    int8 at a batch too small for it) has none and takes its row's, where the row has one only,
    so that it stands in that row, not in a row of its own beside it."""
    layout = runs.get("fact.memory_format", pd.Series(index=runs.index, dtype=object))

    def only(layouts: pd.Series):
        known = layouts.dropna().unique()
        return known[0] if len(known) == 1 else None

    return layout.fillna(layout.groupby(rows).transform(only))


def fact(runs: pd.DataFrame, name: str) -> pd.Series:
    """A numeric fact per run (facts are strings in MLflow's tags and the records' table)."""
    return pd.to_numeric(runs.get(f"fact.{name}", pd.Series(index=runs.index, dtype=float)), errors="coerce")


def quantized_share(runs: pd.DataFrame, rows: pd.Series) -> pd.Series:
    """` (48-97/97 layers)` for a row whose runs left compute layers in float: the fewest and most
    quantized layers over its runs (torchao int8 leaves a Linear that sees too few rows in bf16,
    so the share can grow with the batch) out of its compute layers; empty for a whole row. The
    counts are the dynamic int8 backends' facts or torchao's, whichever a run has."""
    quantized = fact(runs, "int8_layers").fillna(fact(runs, "quantized_linear"))
    floating = fact(runs, "float_compute_layers").fillna(
        fact(runs, "bf16_linear") + fact(runs, "bf16_other_compute_layers")
    )
    low, high = quantized.groupby(rows).transform("min"), quantized.groupby(rows).transform("max")
    total = (quantized + floating.fillna(0)).groupby(rows).transform("max")
    count = whole(low).where(low.eq(high), whole(low) + "-" + whole(high))
    return (" (" + count + "/" + whole(total) + " layers)").where(low.lt(total), "")


def whole(numbers: pd.Series) -> pd.Series:
    return numbers.astype("Int64").astype(str)


# Settings that change a row without changing its backend, device or precision; the backend's
# options (params.backend.options.*) count too.
ROW_SETTINGS = ("params.tf32", "params.cudnn_benchmark")


def varying_settings(runs: pd.DataFrame, rows: pd.Series) -> pd.Series:
    """` freezing=True`-style suffixes for the settings that differ between runs that would
    otherwise share a row (a sweep of `backend.options.freezing=true,false`), so that no row
    hides another; a setting every run of the row shares says nothing and is left out."""
    suffix = pd.Series("", index=runs.index)
    for column in [c for c in runs.columns if c in ROW_SETTINGS or c.startswith("params.backend.options.")]:
        values = runs[column].fillna("unset").astype(str)
        varies = values.groupby(rows).transform("nunique") > 1
        suffix = suffix.where(~varies, suffix + " " + column.rsplit(".", 1)[-1] + "=" + values)
    return suffix


def split_declared(runs: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Rows a sweep's cross product asked for but a YAML rules out (every cell skipped from the
    YAML, with no error type) are listed once, under their reason, instead of filling tables.
    A backend's precision list and a model's own reason (T5 overflows in FP16) are told apart."""
    rows = row_labels(runs)
    declared = (runs["status"] == "skipped") & (runs["error_type"].fillna("") == "")
    all_declared = declared.groupby(rows).all()
    dropped = rows.isin(all_declared[all_declared].index)
    by_reason: dict[str, list[str]] = {}
    for row, cells in runs[dropped].groupby(rows[dropped], sort=True):
        by_reason.setdefault(declared_reason(cells.iloc[0]), []).append(str(row))
    return runs[~dropped], by_reason


NOT_OFFERED = "not offered by the backend"


def declared_reason(cell: pd.Series) -> str:
    """NOT_OFFERED where the backend's YAML lists no such device or precision (the reasons
    benchmark.sweep.cell.declared_unsupported_reason words so); else the reason as recorded."""
    message, backend, device = str(cell.get("message") or ""), cell["backend"], cell["device"]
    if message.startswith(f"{backend} on {device} runs ") or message == f"{backend} does not run on {device}":
        return NOT_OFFERED
    return message.rstrip(".")


def declared_notes(by_reason: dict[str, list[str]]) -> list[str]:
    notes = []
    if NOT_OFFERED in by_reason:
        notes.append(
            f"Not offered by the backend (declared in its YAML, no cell ran): {', '.join(by_reason[NOT_OFFERED])}."
        )
    notes += [
        f"Ruled out in the YAMLs (no cell ran): {', '.join(rows)}. Why: {reason}."
        for reason, rows in by_reason.items()
        if reason != NOT_OFFERED
    ]
    return notes


@dataclass
class ModelSection:
    """What the report says about one model, whatever the format it is written in."""

    model: str
    notes: list[str]
    findings: list[str]
    tables: list[tuple[str, pd.DataFrame]]
    figures: dict[str, bytes]


def model_sections(runs: pd.DataFrame, with_figures: bool = True) -> list[ModelSection]:
    from benchmark.results.plots import model_figures

    sections = []
    runs = with_spread(runs)
    for model, model_runs in runs.groupby("model", sort=True):
        notes = []
        if model_runs.get("weights", pd.Series(dtype=str)).eq("random").any():
            notes.append("Random weights: F1 means nothing here (n/a); fidelity to FP32 still holds.")
        model_runs, declared = split_declared(model_runs)
        notes += declared_notes(declared)
        notes += synthetic_input_notes(model_runs) + quality_and_host_notes(model_runs)
        model_runs = model_runs.assign(row=row_labels(model_runs))  # findings and figures: the tables' rows
        tables = []
        for table in (t for t in TABLES if t.applies(model_runs)):
            if has_values(model_runs, table.metric):
                tables.append((table.title, pivot(model_runs, table)))
            elif table.empty_because:
                notes.append(f"{table.title}: no value in these rows ({table.empty_because}).")
        figures = model_figures(model_runs, model) if with_figures else {}
        sections.append(ModelSection(model, notes, findings(model_runs), tables, figures))
    return sections


def synthetic_input_notes(model_runs: pd.DataFrame) -> list[str]:
    """What synthetic rows timed, since no dataset says it (benchmark/data/synthetic.py): a text
    model's padding changes its speed, so a comparison with another tool needs the same inputs."""
    column = lambda name: model_runs.get(name, pd.Series("", index=model_runs.index)).astype(str)  # noqa: E731
    synthetic = model_runs[column("fact.dataset").isin(["synthetic", "synthetic_imagenet"])]
    if synthetic.empty:
        return []
    if column("params.model.input_kind")[synthetic.index].eq("text").all():
        lengths = sorted(
            {str(v) for v in synthetic.get("params.model.max_length", pd.Series(dtype=str)).dropna()}
        )
        return [
            f"Synthetic inputs: random token ids, {' or '.join(lengths) or 'model.max_length'} tokens a "
            "sample, attention mask all ones (no padding)."
        ]
    return ["Synthetic inputs: random class templates plus noise, of the model's input shape; not a dataset."]


def quality_and_host_notes(model_runs: pd.DataFrame) -> list[str]:
    """Rows that failed their quality gate (shown with ✗, never ranked), and rows measured by a
    launcher that ran other cells on the same host at the same time."""
    notes = []
    invalid = model_runs[model_runs["status"] == "invalid"]
    if not invalid.empty:
        rows = "; ".join(
            f"{r['backend']} {r['device']} {r['precision']} bs{r['batch_size']} "
            f"({str(r.get('message') or '').removeprefix('failed its quality gate: ')})"
            for _, r in invalid.sort_values(["backend", "precision", "batch_size"]).iterrows()
        )
        notes.append(
            f"✗ = failed its quality gate (quality_gate in conf/config.yaml): measured, but no speed "
            f"result; never ranked, plotted or counted toward a target. {rows}."
        )
    placement = model_runs.get("fact.placement", pd.Series("", index=model_runs.index)).fillna("")
    alone = (placement == "") | placement.str.endswith("whole host")
    busy = model_runs.get("host_other_busy_cores", pd.Series(0.0, index=model_runs.index)).fillna(0.0)
    shared = model_runs[(~alone | (busy > BUSY_HOST_CORES)) & model_runs["status"].isin(["ok", "invalid"])]
    if not shared.empty:
        notes.append(
            f"{len(shared)} of these cells shared their host while timed (a side-by-side launcher's "
            f"core share, or other processes busy on more than {BUSY_HOST_CORES} of their cores: "
            "metric host_other_busy_cores): launch-bound rows may read slower than alone."
        )
    return notes


def findings(model_runs: pd.DataFrame) -> list[str]:
    """The study's conclusions, read from the data: fastest row per batch size (by median batch
    time; rows within the spread of the fastest are named as ties, not ranked), smallest
    memory, largest quality loss against FP32, and the rows that failed with why."""
    from benchmark.results.plots import baseline, measured, quality_loss

    ok, lines = measured(with_spread(model_runs)), []
    base = baseline(ok)["median_ms_per_sample"] if not ok.empty else pd.Series(dtype=float)
    for batch_size, cells in ok.groupby("batch_size"):
        if cells["median_ms_per_sample"].notna().any():  # records without timed batches rank nothing
            lines.append(fastest_line(cells, batch_size, base.get((cells["device"].iloc[0], batch_size))))
    memory = "peak_vram_mb" if ok.get("peak_vram_mb", pd.Series(dtype=float)).notna().any() else "peak_rss_mb"
    if memory in ok and ok[memory].notna().any():
        least = ok.loc[ok[memory].idxmin()]
        what = "VRAM" if memory == "peak_vram_mb" else "RAM"
        lines.append(f"Smallest peak {what}: {least['row']} bs{least['batch_size']} ({least[memory]:.0f} MB)")
    if not ok.empty:
        loss, label = quality_loss(ok)
        if loss.notna().any() and loss.max() <= 0:
            lines.append(f"No {label.split(' [')[0]} in any measured row")
        elif loss.notna().any():
            worst = ok.loc[loss.idxmax()]
            lines.append(
                f"Largest {label.split(' [')[0]}: {worst['row']} bs{worst['batch_size']} ({loss.max():.2f})"
            )
    failed = model_runs[model_runs["status"].isin(["error", "oom", "crashed", "timeout"])]
    groups: dict[str, list[str]] = {}  # one line per distinct failure, with the cells it hit
    for _, cell in failed.sort_values(["backend", "precision", "batch_size"]).iterrows():
        label = status_label(cell["status"], cell.get("error_type") or "", cell.get("message") or "")
        reason = f"{label} ({str(cell.get('message') or '')[:160]})"
        where = f"{cell['backend']} {cell['device']} {cell['precision']} bs{cell['batch_size']}"
        groups.setdefault(reason, []).append(where)
    for reason, cells in groups.items():
        hit = (
            cells[0]
            if len(cells) == 1
            else f"{len(cells)} cells ({', '.join(cells[:3])}{', ...' if len(cells) > 3 else ''})"
        )
        lines.append(f"Failed: {hit}: {reason}")
    return lines


def fastest_line(cells: pd.DataFrame, batch_size: int, eager_fp32_ms: float | None) -> str:
    """The fastest row by median, and the rows whose median lies within the spread (the larger
    CV of the two) of it: those cannot be told apart from it by this measurement."""
    cells = cells.dropna(subset=["median_ms_per_sample"]).sort_values("median_ms_per_sample")
    best = cells.iloc[0]
    best_ms, best_cv = best["median_ms_per_sample"], best.get("latency_cv")
    best_cv = 0.0 if missing(best_cv) else best_cv
    spread = cells["latency_cv"].fillna(0.0).clip(lower=best_cv)
    ties = cells.iloc[1:][(cells["median_ms_per_sample"] <= best_ms * (1 + spread)).iloc[1:]]
    line = f"Fastest at batch {batch_size}: {best['row']} ({best_ms:.4g} ms/sample median, ±{best_cv:.0%}"
    line += f", {eager_fp32_ms / best_ms:.1f}x eager FP32)" if eager_fp32_ms else ")"
    if not ties.empty:
        line += "; within its spread, so not told apart: " + ", ".join(
            f"{r['row']} ({r['median_ms_per_sample']:.4g})" for _, r in ties.iterrows()
        )
    return line


ENVIRONMENT = (
    ("GPU", "env.gpu"), ("driver", "env.driver"), ("CUDA", "env.cuda"), ("cuDNN", "env.cudnn"),
    ("SM clock [MHz]", "env.sm_clock_mhz"), ("memory clock [MHz]", "env.mem_clock_mhz"), ("CPU", "env.cpu"),
    ("torch threads", "env.torch_threads"), ("TF32 matmul", "env.tf32_matmul"), ("TF32 cuDNN", "env.tf32_cudnn"),
    ("torch", "env.version_torch"), ("onnxruntime", "env.version_onnxruntime"),
    ("onnxruntime-gpu", "env.version_onnxruntime-gpu"), ("torchao", "env.version_torchao"),
    ("transformers", "env.version_transformers"), ("weights", "weights"), ("data", "fact.dataset"),
)  # fmt: skip


def distinct_values(column: pd.Series) -> list[str]:
    """A column's different values as text, sorted, without the empty ones."""
    return sorted({str(v) for v in column.dropna() if str(v) not in ("", "nan", "None")})


def environment_rows(runs: pd.DataFrame) -> list[tuple[str, str]]:
    """Each setting with the values the report's cells ran under (several when they differ)."""
    rows = []
    for label, column in ENVIRONMENT:
        if column in runs:
            values = distinct_values(runs[column])
            numbers = pd.to_numeric(pd.Series(values), errors="coerce")
            if len(values) > 3 and numbers.notna().all():  # clocks of many cells: their range
                values = [f"{numbers.min():g}-{numbers.max():g}"]
            if values:
                rows.append((label, ", ".join(values)))
    return rows


def header(runs: pd.DataFrame) -> str:
    ids = sorted(runs["sweep_id"].unique())
    sweeps = ", ".join(ids) if len(ids) <= 3 else f"{len(ids)} sweeps, {ids[0]} to {ids[-1]}"
    line = f"Sweep(s): {sweeps}. Cells: {len(runs)} ({(runs['status'] == 'ok').sum()} measured)."
    cards = sorted({str(g) for g in runs.get("env.gpu", pd.Series()).dropna() if str(g) not in ("", "nan")})
    if len(cards) > 1:  # a table's rows compare only within one card kind
        line += f" **These cells ran on {len(cards)} GPU models ({', '.join(cards)}): compare rows of one card only.**"
    return line


def render_markdown(runs: pd.DataFrame, figures_dir: Path | None = None) -> str:
    """Markdown; with `figures_dir`, the figures are written there as PNG and linked."""
    lines = ["# Benchmark report", "", header(runs), ""]
    environment = environment_rows(runs)
    if environment:
        lines += ["## Environment", "", tabulate(environment, headers=["", ""], tablefmt="github"), ""]
    for section in model_sections(runs, with_figures=figures_dir is not None):
        lines += [f"## {section.model}", ""]
        lines += [note + "\n" for note in section.notes]
        if section.findings:
            lines += ["### Findings", "", *[f"- {f}" for f in section.findings], ""]
        for title, grid in section.tables:
            lines += [f"### {title}", "", tabulate(grid, headers="keys", tablefmt="github"), ""]
        lines += figure_links(section, figures_dir) if figures_dir is not None else []
    return "\n".join(lines)


def render_html(runs: pd.DataFrame) -> str:
    """One self-contained page: tables as HTML, figures embedded as base64 PNG."""
    import base64
    import html

    def table(rows) -> str:
        return rows.to_html(border=0, classes="grid", escape=True, na_rep="")

    parts = [f"<h1>Benchmark report</h1><p>{html.escape(header(runs))}</p>"]
    environment = environment_rows(runs)
    if environment:
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in environment
        )
        parts.append(f"<h2>Environment</h2><table class='grid environment'><tbody>{rows}</tbody></table>")
    for section in model_sections(runs):
        parts.append(f"<h2 id='{html.escape(section.model)}'>{html.escape(section.model)}</h2>")
        parts += [f"<p class='note'>{html.escape(n)}</p>" for n in section.notes]
        if section.findings:
            items = "".join(f"<li>{html.escape(f)}</li>" for f in section.findings)
            parts.append(f"<h3>Findings</h3><ul class='findings'>{items}</ul>")
        for title, grid in section.tables:
            parts.append(f"<h3>{html.escape(title)}</h3>" + table(grid))
        for title, image in section.figures.items():
            data = base64.b64encode(image).decode()
            parts.append(f"<figure><img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{html.escape(title)}</figcaption></figure>")  # fmt: skip
    return html_page("Benchmark report", "\n".join(parts))


def html_page(title: str, body: str) -> str:
    """A page around a report's HTML body, with the tables' style."""
    import html

    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
             "font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
             "img{max-width:100%}")  # fmt: skip
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{body}</body></html>"
    )


def figure_links(section: ModelSection, figures_dir: Path) -> list[str]:
    """Writes a section's figures into `figures_dir` as PNG; markdown lines linking them."""
    lines = []
    for index, (title, image) in enumerate(section.figures.items()):
        name = f"{section.model}-{index}.png"
        (figures_dir / name).write_bytes(image)
        lines += [f"![{title}]({figures_dir.name}/{name})", ""]
    return lines


def main(argv: list[str] | None = None) -> None:
    from benchmark.results.tracking import default_tracking_uri

    parser = argparse.ArgumentParser(
        prog="python -m benchmark.results.report", description=__doc__.splitlines()[0]
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--sweep", help="sweep id (its output folder's name); default: the latest sweep")
    which.add_argument("--all", action="store_true", help="every sweep, the latest measurement of each cell")
    which.add_argument(
        "--records",
        type=Path,
        nargs="+",
        help="read the cells' record.json files under these folders (or in .tgz archives of them) instead of MLflow",
    )
    parser.add_argument("--tracking-uri", default=None, help="default: sqlite:///<cwd>/mlflow.db")
    parser.add_argument("--experiment", default=None, help="default: every experiment (one per sweep name)")
    parser.add_argument(
        "--out", type=Path, default=Path("outputs/report.md"), help="the .md; .html and .csv beside it"
    )
    parser.add_argument("--format", default="md,html,csv", help="comma-separated: md, html, csv")
    args = parser.parse_args(argv)
    formats = set(args.format.split(","))
    if not formats or formats - {"md", "html", "csv"}:
        raise SystemExit(f"--format {args.format}: use a comma-separated subset of md,html,csv")
    uri = args.tracking_uri or default_tracking_uri(Path.cwd())
    if args.records:
        runs = load_records(args.records)
    else:
        check_store_exists(uri)
        runs = load_runs(uri, args.experiment, args.sweep, args.all)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    if "md" in formats:
        figures_dir = args.out.with_name(f"{args.out.stem}_files")
        figures_dir.mkdir(exist_ok=True)
        markdown = render_markdown(runs, figures_dir)
        args.out.write_text(markdown)
        print(markdown)
        written += [args.out, figures_dir]
    if "html" in formats:
        args.out.with_suffix(".html").write_text(render_html(runs))
        written.append(args.out.with_suffix(".html"))
    if "csv" in formats:
        runs.to_csv(args.out.with_suffix(".csv"), index=False)
        written.append(args.out.with_suffix(".csv"))
    print("written: " + ", ".join(map(str, written)))
    if not args.records and runs["sweep_id"].nunique() == 1:
        attach_to_sweep(written, uri, runs["params.experiment"].iloc[0], runs["sweep_id"].iloc[0])


def check_store_exists(uri: str) -> None:
    """A report where nothing was logged says so, instead of creating an empty store there."""
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise SystemExit(
            f"no MLflow store at {uri.removeprefix('sqlite:///')}: run a sweep here first, "
            "or pass --tracking-uri, or --records <folders> to read the cells' JSON records"
        )


def attach_to_sweep(paths: list[Path], tracking_uri: str, experiment: str, sweep_id: str) -> None:
    """The report files become artifacts (folder `report/`) of the sweep's parent run."""
    import warnings

    from benchmark.results.tracking import Tracker, store_lock

    try:
        with store_lock(tracking_uri):
            tracker = Tracker(tracking_uri, experiment)
            run_id = tracker.sweep_run_id(sweep_id)
            for path in paths:
                if path.is_dir():
                    tracker.client.log_artifacts(run_id, str(path), f"report/{path.name}")
                else:
                    tracker.client.log_artifact(run_id, str(path), "report")
        print(f"attached to the sweep's MLflow run {run_id} (artifacts: report/)")
    except Exception as exc:  # the files are written either way
        warnings.warn(f"could not attach the report to MLflow ({type(exc).__name__}: {exc})", stacklevel=2)


if __name__ == "__main__":
    main()
