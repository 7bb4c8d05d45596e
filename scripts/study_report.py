"""docs/results/study/STUDY.md from the study's records: coverage (every cell a number or a
reason), the seed's two conclusions re-tested with figures, what the seed could not measure
(CUDA graphs, torch.compile, bf16, FP8, energy), the seed's best rows beside ours, and per model
the seed's three tables (ms/sample, peak VRAM, F1) over every row and batch size, with the
report's figures. Beside it: STUDY.html (the same page), figures/ and report.csv.gz (every cell).

    python scripts/study_report.py docs/results/study/records.tgz [--out docs/results/study/STUDY.md]
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from functools import cache, partial
from pathlib import Path

import pandas as pd
import torch
from torchvision.models import get_model

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from grid_coverage import coverage, outcome  # noqa: E402

from benchmark.data import load_dataset  # noqa: E402
from benchmark.models.custom import ARCHITECTURES  # noqa: E402
from benchmark.results.report import (  # noqa: E402
    TABLES,
    distinct_values,
    environment_rows,
    figure_links,
    html_page,
    load_records,
    model_sections,
    row_labels,
)
from benchmark.sweep.refusals import REMEMBERED_FROM  # noqa: E402

SEED_TABLE = ROOT / "docs" / "results" / "study" / "seed_best_rows.md"
# the seed's model names -> the records' (the study grid's config names differ again: coverage)
SEED_MODELS = {
    "MobileNetV3-L": "mobilenet_v3_large", "ResNet18": "resnet18", "BERT": "bert", "GPT-Neo 125M": "gptneo",
    "FCN": "fcn", "CNN": "cnn", "LSTM": "lstm",
}  # fmt: skip
STUDY_TABLES = ("Inference time [ms/sample]", "Peak VRAM [MB]", "F1 score")
SHORT_CELL = 40  # characters: a longer reason becomes a numbered note under the model's tables
INT8_PRECISIONS = ("int8",)


def seed_best_rows(path: Path = SEED_TABLE) -> pd.DataFrame:
    """(model, batch_size, seed_ms, seed_row) from the seed table's `0.523 TensorRT PTQ INT8` cells."""
    rows = []
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] not in SEED_MODELS:
            continue
        for batch_size, cell in zip((1, 16, 32, 64), cells[1:5], strict=True):
            number, label = re.match(r"([\d.]+) (.*)", cell).groups()
            rows.append((SEED_MODELS[cells[0]], batch_size, float(number), label))
    return pd.DataFrame(rows, columns=["model", "batch_size", "seed_ms", "seed_row"])


def measured_cuda(runs: pd.DataFrame) -> pd.DataFrame:
    """Rows that count as results: measured on CUDA and passing their quality gate."""
    ok = runs[(runs["status"] == "ok") & (runs["device"] == "cuda")].copy()
    ok["row"] = row_labels(ok)  # as the per-model tables below name them (channels_last, freezing=True, ...)
    return ok


def best_by(ok: pd.DataFrame, keys: list[str], metric: str = "latency_ms_per_sample") -> pd.DataFrame:
    ranked = ok.dropna(subset=[metric]).sort_values(metric)
    return ranked.drop_duplicates(keys, keep="first").set_index(keys)


def coverage_lines(records: Path) -> list[str]:
    """Per model, what became of each cell of the CUDA grid (preset study) and of the seed's CPU
    rows on the GPU host's cores (preset study_cpu)."""
    kinds = ("measured", "declared unsupported", "skipped at run time", "failed", "not recorded")
    lines, missing = [], {}
    for device, preset, title in (
        ("cuda", "study", "On the GPU"),
        ("cpu", "study_cpu", "On the GPU host's CPU cores"),
    ):
        lines += [f"{title} (preset `{preset}`):", "", "| model | cells | " + " | ".join(kinds) + " |"]
        lines += ["|---" * (len(kinds) + 2) + "|"]
        cells_by_model, found = coverage({"study": records}, device, preset)
        missing[device] = 0
        for model, cells in cells_by_model.items():
            counts = pd.Series([outcome(c, found) for c in cells]).value_counts()
            missing[device] += int(counts.get("not recorded", 0))
            lines.append(
                f"| {model} | {len(cells)} | " + " | ".join(str(counts.get(k, 0)) for k in kinds) + " |"
            )
        lines.append("")
    if not any(missing.values()):
        return lines + ["**Coverage: every cell is a number or a reason.**"]
    return lines + [
        f"**Coverage: {missing['cuda']} GPU cells and {missing['cpu']} CPU cells have no record yet.**"
    ]


def vram_conclusion(ok: pd.DataFrame) -> list[str]:
    """'To minimize the model size on the GPU use ONNX': per model at batch 64, the row with the
    smallest peak VRAM against the smallest ONNX Runtime row."""
    lines = [
        "| model | smallest peak VRAM, bs64 | MB | smallest ONNX Runtime row | MB |",
        "|---|---|---|---|---|",
    ]
    wins = total = 0
    for model, runs in ok[ok["batch_size"] == 64].dropna(subset=["peak_vram_mb"]).groupby("model"):
        least = runs.loc[runs["peak_vram_mb"].idxmin()]
        ort = runs[runs["backend"].str.startswith("onnxruntime")]
        ort_text = "no row | "
        if not ort.empty:
            ort_least = ort.loc[ort["peak_vram_mb"].idxmin()]
            ort_text = f"{ort_least['row']} | {ort_least['peak_vram_mb']:.0f}"
            wins += bool(ort_least["peak_vram_mb"] <= least["peak_vram_mb"])
            total += 1
        lines.append(f"| {model} | {least['row']} | {least['peak_vram_mb']:.0f} | {ort_text} |")
    if not total:  # no model has an ONNX Runtime row yet: no verdict either way
        return ["**Not yet tested**: no model has an ONNX Runtime row at batch 64 yet.", "", *lines]
    verdict = "supported" if wins == total else "not supported" if wins == 0 else "partly supported"
    return [
        f"**{verdict.capitalize()}**: ONNX Runtime has the smallest peak VRAM for {wins} of {total} models."
    ] + [
        "",
        *lines,
    ]


def int8_conclusion(runs: pd.DataFrame, device: str) -> list[str]:
    """'INT8 gives the greatest acceleration but lowers accuracy, the more the smaller the
    network': on one device, today's INT8 rows (TensorRT cannot be had here) against the best
    float row at batch 64, and how many INT8 rows of each model failed their quality gate."""
    lines = [
        "| model | parameters (M) | best INT8 row, bs64 | ms/sample | best float row | ms/sample | INT8 fastest? "
        "| top-1 agreement with FP32 | F1 INT8 / FP32 | INT8 rows below their gate |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    on_device = runs[runs["device"] == device].copy()
    on_device["row"] = row_labels(on_device)
    fastest = 0
    for model, rows in on_device.groupby("model"):
        is_int8 = rows["precision"].isin(INT8_PRECISIONS)
        measured_at_64 = (rows["status"] == "ok") & (rows["batch_size"] == 64)
        int8, floats = rows[measured_at_64 & is_int8], rows[measured_at_64 & ~is_int8]
        if int8.empty or floats.empty:
            continue
        q = int8.loc[int8["latency_ms_per_sample"].idxmin()]
        f = floats.loc[floats["latency_ms_per_sample"].idxmin()]
        fastest += bool(q["latency_ms_per_sample"] < f["latency_ms_per_sample"])
        judged = rows[is_int8 & rows["status"].isin(("ok", "invalid"))]
        lines.append(
            f"| {model} | {millions(parameters_m(q))} | {q['row']} | {q['latency_ms_per_sample']:.4f} | {f['row']} | "
            f"{f['latency_ms_per_sample']:.4f} | {'yes' if q['latency_ms_per_sample'] < f['latency_ms_per_sample'] else 'no'} | "
            f"{fraction(q.get('top1_agreement'))} | {fraction(q.get('f1_macro'), q.get('f1_macro_fp32'), 'n/a (random weights)')} | "
            f"{int((judged['status'] == 'invalid').sum())} of {len(judged)} |"
        )
    n = len(lines) - 2
    if not n:
        return ["**Not yet tested**: no model has both an INT8 and a float row at batch 64 yet.", "", *lines]
    return [f"INT8 is the fastest row at batch 64 for {fastest} of {n} models.", "", *lines]


def parameters_m(row: pd.Series) -> float | None:
    """The model's parameters in millions: the record's own where its model module counts them
    (the text models), else counted here from the architecture the record names, built on
    PyTorch's meta device (no memory, no weights): torchvision's, or the digits models of
    benchmark/models/custom.py on the record's input shape and its dataset's classes. None for
    a family neither covers."""
    recorded = pd.to_numeric(pd.Series([row.get("fact.parameters_m")]), errors="coerce").iloc[0]
    if not pd.isna(recorded):
        return float(recorded)
    family, arch = row.get("params.model.family"), row.get("params.model.arch")
    if family == "torchvision":
        build = partial(get_model, arch, num_classes=int(row["params.model.num_classes"]))
    elif family == "custom" and isinstance(row.get("fact.input_shape"), str):
        shape = ast.literal_eval(row["fact.input_shape"])  # (channels, height, width)
        classes = dataset_classes(row["fact.dataset"])
        options = ast.literal_eval(row.get("params.model.options") or "{}")
        build = partial(ARCHITECTURES[arch], *shape, num_classes=classes, **options)
    else:
        return None
    with torch.device("meta"):
        module = build()
    return sum(p.numel() for p in module.parameters()) / 1e6


@cache
def dataset_classes(name: str) -> int:
    """A dataset's class count, read once a report (the digits models share one dataset)."""
    return load_dataset(name, ROOT / "data").num_classes


def millions(count: float | None) -> str:
    """A parameter count in millions, to the digits that tell the digits models apart."""
    if count is None:
        return "n/a"
    return f"{count:.1f}" if count >= 1 else f"{count:.3f}"


def fraction(value: object, over: object = 1.0, missing: str = "n/a") -> str:
    """value / over to three places, or `missing` where the record has no such metric."""
    if value is None or over is None or pd.isna(value) or pd.isna(over):
        return missing
    return f"{value / over:.3f}"


def new_findings(ok: pd.DataFrame) -> list[str]:
    """What the seed could not measure: CUDA graphs, torch.compile, bf16 against fp16, FP8, energy."""
    picked = best_by(ok, ["model", "backend", "precision", "batch_size"])
    best = picked["latency_ms_per_sample"]
    lines = []

    def ratio(model, batch, a, b):  # a's time / b's time, each (backend, precision)
        try:
            return best[(model, *a, batch)] / best[(model, *b, batch)]
        except KeyError:
            return None

    def share(model, batch, a):  # ` (1/64 layers)`: a's row left compute layers in float
        found = re.search(r" \(\S+ layers\)", picked["row"].get((model, *a, batch), ""))
        return found.group() if found else ""

    # "half": fp16, or bf16 for a model that has no fp16 rows (T5 overflows in FP16)
    models = sorted(ok["model"].unique())
    with_fp16 = set(ok.loc[ok["precision"] == "fp16", "model"])
    for title, a, b, batch in (
        ("CUDA graphs (compile_cudagraphs / compile, fp16, bs1)", ("compile_cudagraphs", "half"), ("compile", "half"), 1),
        ("torch.compile (compile_cudagraphs / eager, fp16, bs64)", ("compile_cudagraphs", "half"), ("eager", "half"), 64),
        ("bf16 against fp16 (eager, bs64)", ("eager", "bf16"), ("eager", "fp16"), 64),
        ("FP8 (torchao fp8 / eager bf16, bs64)", ("torchao", "fp8"), ("eager", "bf16"), 64),
    ):  # fmt: skip
        figures = []
        for model in models:
            half = "fp16" if model in with_fp16 else "bf16"
            pair = [(backend, half if precision == "half" else precision) for backend, precision in (a, b)]
            figure = ratio(model, batch, *pair)
            if figure is not None:
                fell_back = half == "bf16" and "half" in (a[1], b[1])
                figures.append(
                    f"{model} {figure:.2f}" + share(model, batch, pair[0]) + (" (bf16)" if fell_back else "")
                )
        lines.append(f"- {title}: {', '.join(figures) or 'no pair measured'}")
    if "energy_mj_per_sample" in ok and ok["energy_mj_per_sample"].notna().any():
        least = best_by(ok, ["model"], "energy_mj_per_sample")
        shown = ", ".join(
            f"{m} {r['energy_mj_per_sample']:.2f} ({r['row']} bs{r['batch_size']})"
            for m, r in least.iterrows()
        )
        lines.append(f"- Least GPU energy per sample (mJ): {shown}")
    return lines


def what_differs_from_the_seed(runs: pd.DataFrame) -> list[str]:
    """Under the side-by-side table: what the two columns do not share, from our records and
    the seed's README (seed_best_rows.md)."""

    def values(column: str, rows: pd.DataFrame = runs) -> str:
        return ", ".join(distinct_values(rows.get(column, pd.Series(dtype=str)))) or "n/a"

    text_rows = runs[runs["model"].isin(("bert", "gptneo", "t5"))]
    random_zoo = sorted(runs.loc[runs.get("weights", pd.Series(dtype=str)) == "random", "model"].unique())
    return [
        "What differs:",
        "",
        f"- Card and software: the seed ran on a GeForce RTX 3080 Ti with PyTorch 1.13.1 and CUDA 11.6; "
        f"ours on {values('env.gpu')} with torch {values('env.version_torch')} and CUDA {values('env.cuda')}.",
        "- Weights: the seed's models were trained. Ours are trained for FCN, CNN and LSTM (the bundled "
        f"digits), random for {', '.join(random_zoo) or 'none'}: no weights reach the GPU machine. The "
        "weights decide the outputs, not the work a timed call does (its shapes are fixed).",
        f"- Sequence length: our text models run {values('params.model.max_length', text_rows)} tokens a "
        "sample (GPT-Neo: one forward pass over them); the seed's BERT length is not stated.",
        '- Precision: the seed\'s "CUDA FP16" was bf16 autocast, and its TensorRT INT8 rows have no '
        "counterpart here (TensorRT cannot be had on the GPU machine); our fp16 and bf16 rows run the "
        "model in that dtype, as each row's record proves.",
    ]


def seed_beside_ours(ok: pd.DataFrame, seed: pd.DataFrame) -> pd.DataFrame:
    """The seed's best rows with ours of the same model and batch size beside them (row,
    latency_ms_per_sample, ratio: seed / ours; NaN where we have none)."""
    ours = best_by(ok, ["model", "batch_size"])[["row", "latency_ms_per_sample"]].reset_index()
    both = seed.merge(ours, on=["model", "batch_size"], how="left")
    return both.assign(ratio=both["seed_ms"] / both["latency_ms_per_sample"])


def unlike_workload_note(ok: pd.DataFrame, seed: pd.DataFrame) -> list[str]:
    """GPT-Neo's seed figures are hundreds of times ours where BERT's, a model of like size and
    length, are single figures: that is a different timed call, not a faster runtime. Said with
    the figures, once both models have rows."""
    ratios = seed_beside_ours(ok, seed).dropna(subset=["ratio"]).groupby("model")["ratio"]
    if not {"gptneo", "bert"} <= set(ratios.groups):
        return []

    lows, highs = ratios.min(), ratios.max()

    def span(model: str, digits: int) -> str:
        low, high = f"{lows[model]:.{digits}f}", f"{highs[model]:.{digits}f}"
        return low if low == high else f"{low}-{high}"

    return [
        f"- GPT-Neo's work a sample: the seed's GPT-Neo figures are {span('gptneo', 0)} times ours, where "
        f"BERT's are {span('bert', 1)} times: more than cards and software explain. "
        "The seed's README does not say what its GPT-Neo sample timed; generating some tens of tokens, "
        "a forward pass each, would cost about that. Read those ratios as two workloads, not a speed-up."
    ]


def seed_side_by_side(ok: pd.DataFrame, seed: pd.DataFrame) -> list[str]:
    lines = ["| model | batch | seed's best (RTX 3080 Ti) | ms/sample | ours | ms/sample | seed / ours |"]
    lines.append("|---|---|---|---|---|---|---|")
    for _, s in seed_beside_ours(ok, seed).iterrows():
        mine = "not measured | | " if pd.isna(s["ratio"]) else (
            f"{s['row']} | {s['latency_ms_per_sample']:.4f} | {s['ratio']:.1f}x"
        )  # fmt: skip
        lines.append(f"| {s['model']} | {s['batch_size']} | {s['seed_row']} | {s['seed_ms']:g} | {mine} |")
    return lines


def study_markdown(records: Path, figures_dir: Path | None = None, runs: pd.DataFrame | None = None) -> str:
    """STUDY.md's text; with `figures_dir`, each model's figures are written there and linked.
    `runs`: the records already read (load_records), so that a caller reads them once."""
    runs = load_records([records]) if runs is None else runs
    ok, seed = measured_cuda(runs), seed_best_rows()
    gpu = ", ".join(sorted(runs.get("env.gpu", pd.Series(dtype=str)).dropna().unique())) or "no GPU record"
    parts = [
        f"# The study on {gpu}",
        "",
        "The pretrained zoo (ResNet18, MobileNetV3-L, BERT, T5, GPT-Neo) ran with random weights on "
        "synthetic data, since no weights or datasets reach the GPU machine: their F1 is n/a, and "
        "their rows are gated on fidelity to FP32. FCN, CNN and LSTM are trained on the bundled digits.",
        "",
        "The GPU cells ran one per GPU, side by side, each on its own share of the host's cores; each "
        "model's notes count the cells that shared their host while timed. On a torch.compile row timed "
        "seconds after a short build, the other busy process is the cell's own Inductor compile-worker "
        "pool, still starting; in a probe it did not slow the timed calls ([other_cpu.md](other_cpu.md)).",
        "",
        "## Environment",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {values} |" for name, values in environment_rows(runs)),
        "",
        "## Coverage",
        "",
        *coverage_lines(records),
        "",
        "## The seed's conclusions, re-tested",
        "",
        '### "To minimize the model size on the GPU use ONNX"',
        "",
        *vram_conclusion(ok),
        "",
        '### "TensorRT INT8 gives the greatest acceleration but lowers accuracy, the more the smaller the network"',
        "",
        "TensorRT cannot be had on the GPU machine (its cells are skipped with that reason), so today's INT8 "
        "rows stand in. On the GPU they are torchao's (int8 weights and activations; ONNX Runtime's CUDA "
        "provider and eager PyTorch have no INT8 rows there). On the GPU host's CPU cores they are ONNX "
        "Runtime's (static QDQ for the convolutional models, dynamic for the others) and PyTorch's dynamic "
        "int8 (eager, torchscript). Parameters are the text models' own count as they loaded, and for the others "
        "counted from the architecture their records name.",
        "",
        "On the GPU:",
        "",
        *int8_conclusion(runs, "cuda"),
        "",
        "On the GPU host's CPU cores:",
        "",
        *int8_conclusion(runs, "cpu"),
        "",
        "## What the seed could not measure (time ratios, below 1 = faster)",
        "",
        *new_findings(ok),
        "",
        "## Beside the seed's best rows",
        "",
        *seed_side_by_side(ok, seed),
        "",
        *what_differs_from_the_seed(runs),
        *unlike_workload_note(ok, seed),
        "",
    ]
    for section in model_sections(runs, with_figures=figures_dir is not None):
        parts += [f"## {section.model}", ""]
        reasons: dict[str, int] = {}  # one numbered note a model, however many cells give it
        for title, grid in section.tables:
            if title in STUDY_TABLES:
                parts += [f"### {title}", "", with_notes(grid, reasons).to_markdown(), ""]
        if reasons:
            parts += ["Reasons:", "", *(f"{number}. {reason}" for reason, number in reasons.items()), ""]
        notes = [note for note in section.notes if not about_a_table_left_out(note)]
        parts += [*(f"- {note}" for note in notes), ""] if notes else []
        parts += figure_links(section, figures_dir) if figures_dir is not None else []
    return "\n".join(parts)


def write_study(records: Path, out: Path) -> list[Path]:
    """STUDY.md at `out`, and beside it: its figures (figures/), the same page as HTML, and
    every cell as CSV (gzip: the checkout travels with every GPU call)."""
    import markdown

    figures_dir = out.parent / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    for stale in figures_dir.glob("*.png"):  # a model or figure that is gone leaves no file behind
        stale.unlink()
    runs = load_records([records])
    text = study_markdown(records, figures_dir, runs)
    out.write_text(text)
    page = out.with_suffix(".html")
    page.write_text(
        html_page(text.splitlines()[0].lstrip("# "), markdown.markdown(text, extensions=["tables"]))
    )
    table = out.parent / "report.csv.gz"
    runs.to_csv(table, index=False, compression={"method": "gzip", "mtime": 0})
    return [out, figures_dir, page, table]


def about_a_table_left_out(note: str) -> bool:
    """The report's note on a table STUDY.md does not show ("GPU energy [mJ/sample] ...: no value")."""
    return any(note.startswith(table.title) for table in TABLES if table.title not in STUDY_TABLES)


def with_notes(grid: pd.DataFrame, reasons: dict[str, int]) -> pd.DataFrame:
    """A cell's long reason (`unsupported: AOTInductor cannot load ...`) as its status and the
    number of a note under the model's tables, so a table row stays one line wide."""

    def short(value: object) -> object:
        status, colon, reason = str(value).partition(": ")
        if not colon or len(str(value)) <= SHORT_CELL:
            return value
        reason = reason.partition(REMEMBERED_FROM)[0]  # the same reason, found by an earlier cell
        return f"{status} ({reasons.setdefault(reason, len(reasons) + 1)})"

    return grid.map(short)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("records", type=Path, help="the study's records: a folder or its .tgz")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "study" / "STUDY.md")
    args = parser.parse_args()
    print("written: " + ", ".join(map(str, write_study(args.records, args.out))))


if __name__ == "__main__":
    main()
