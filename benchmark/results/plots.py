"""The report's figures, per model (matplotlib, PNG bytes): latency per sample against batch
size, speed-up over eager FP32 on the same device, and the Pareto chart of time against
quality loss with the best trade-offs marked."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

PNG_COLORS = 128  # a line chart needs few: a palette PNG is about a quarter of the RGBA one, alike to the eye


def png(fig) -> bytes:
    """The figure as a palette PNG: committed reports travel with every GPU call (under 10 MB)."""
    from PIL import Image  # matplotlib's own dependency

    rendered = io.BytesIO()
    fig.savefig(rendered, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    palette = Image.open(rendered).convert("RGB").quantize(colors=PNG_COLORS)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def measured(model_runs: pd.DataFrame) -> pd.DataFrame:
    ok = model_runs[model_runs["status"] == "ok"].copy()
    if "row" not in ok:  # the report's labels (channels_last, freezing=True, ...) when it gives them
        ok["row"] = ok["backend"] + " " + ok["device"] + " " + ok["precision"]
    return ok.sort_values(["row", "batch_size"])


def baseline(ok: pd.DataFrame) -> pd.DataFrame:
    """Eager FP32 per (device, batch size): what speed-up and quality loss are measured against."""
    base = ok[(ok["backend"] == "eager") & (ok["precision"] == "fp32")].set_index(["device", "batch_size"])
    return base[~base.index.duplicated(keep="last")]  # cells that differ only in e.g. seed: one baseline


MARKERS = "os^Dv<>pPX*h"


def rows_by_style(ok: pd.DataFrame):
    """(row, its cells, line style): a colour of 20 and a marker of 11 per row, so a study's
    dozen-plus rows stay apart (matplotlib's default cycle repeats after 10 colours)."""
    tab20 = plt.get_cmap("tab20").colors  # 10 hues, each dark then light: darks first
    palette = tab20[0::2] + tab20[1::2]
    for index, (row, cells) in enumerate(ok.groupby("row")):
        yield (
            row,
            cells,
            {"color": palette[index % 20], "marker": MARKERS[index % len(MARKERS)], "label": row},
        )


def legend_beside(ax) -> None:
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)


def batch_size_axis(ax, ok: pd.DataFrame) -> None:
    """Ticks at the batch sizes swept, labelled plainly (no 2x10^0 minor labels of a log axis)."""
    from matplotlib.ticker import NullLocator

    sizes = sorted(ok["batch_size"].unique())
    ax.set_xticks(sizes, labels=map(str, sizes))
    ax.xaxis.set_minor_locator(NullLocator())


def latency_figure(ok: pd.DataFrame, model: str) -> bytes:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for _, cells, style in rows_by_style(ok):
        ax.plot(cells["batch_size"], cells["latency_ms_per_sample"], **style)
    ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel="ms / sample (log)",
           title=f"{model}: latency per sample")  # fmt: skip
    batch_size_axis(ax, ok)
    legend_beside(ax)
    ax.grid(True, which="both", alpha=0.3)
    return png(fig)


def speedup_figure(ok: pd.DataFrame, model: str) -> bytes | None:
    base = baseline(ok)
    if base.empty:
        return None
    ok = ok.join(base["latency_ms_per_sample"].rename("base_ms"), on=["device", "batch_size"]).dropna(
        subset=["base_ms"]
    )
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for _, cells, style in rows_by_style(ok):
        ax.plot(cells["batch_size"], cells["base_ms"] / cells["latency_ms_per_sample"], **style)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set(xscale="log", xlabel="batch size", ylabel="speed-up (x)",
           title=f"{model}: speed-up over eager FP32 on the same device")  # fmt: skip
    batch_size_axis(ax, ok)
    legend_beside(ax)
    ax.grid(True, alpha=0.3)
    return png(fig)


def quality_loss(ok: pd.DataFrame) -> tuple[pd.Series, str]:
    """F1 points lost against eager FP32 (same device and batch) where F1 exists; otherwise the
    share of top-1 predictions that differ from FP32 (random weights, synthetic data)."""
    if "f1_macro" in ok and ok["f1_macro"].notna().any():
        base = baseline(ok)["f1_macro"].rename("base_f1")
        joined = ok.join(base, on=["device", "batch_size"])
        return (joined["base_f1"] - joined["f1_macro"]) * 100, "F1 loss vs eager FP32 [points]"
    return (1 - ok["top1_agreement"]) * 100, "top-1 disagreement with FP32 [%]"


def pareto_front(points: pd.DataFrame) -> pd.Series:
    """True where no other point is both faster and loses less quality."""
    front = []
    for _, p in points.iterrows():
        better = (points["ms"] <= p["ms"]) & (points["loss"] <= p["loss"])
        strictly = (points["ms"] < p["ms"]) | (points["loss"] < p["loss"])
        front.append(not (better & strictly).any())
    return pd.Series(front, index=points.index)


def pareto_figure(ok: pd.DataFrame, model: str) -> bytes | None:
    loss, label = quality_loss(ok)
    points = pd.DataFrame(
        {
            "ms": ok["latency_ms_per_sample"],
            "loss": loss,
            "name": ok["row"] + " bs" + ok["batch_size"].astype(str),
        }
    ).dropna()
    if points.empty:
        return None
    front = pareto_front(points)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.scatter(points["ms"], points["loss"], c="tab:grey", s=18, label="cell")
    best = points[front].sort_values("ms")
    ax.plot(best["ms"], best["loss"], color="tab:red", marker="o", label="best trade-offs")
    for _, p in best.iterrows():
        ax.annotate(p["name"], (p["ms"], p["loss"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set(xscale="log", xlabel="ms / sample (log)", ylabel=label, title=f"{model}: speed against quality")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    return png(fig)


def model_figures(model_runs: pd.DataFrame, model: str) -> dict[str, bytes]:
    """Title -> PNG; figures without data (no measured cell, no baseline) are left out."""
    ok = measured(model_runs)
    if ok.empty:
        return {}
    figures = {
        "Latency per sample": latency_figure(ok, model),
        "Speed-up over eager FP32": speedup_figure(ok, model),
        "Speed against quality (Pareto)": pareto_figure(ok, model),
    }
    return {title: image for title, image in figures.items() if image is not None}
