"""The scale-out check: the same sweep run sequentially on one GPU and spread one cell per GPU.
Prints a markdown table of each cell's ms/sample (the mean) and median batch time in both runs,
and each sweep's wall time (first cell's start, from its record's time and wall_s, to the last
record written).

Usage: python scripts/compare_sweeps.py <sequential sweep dir> <spread sweep dir>"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def load(sweep_dir: Path) -> tuple[dict[str, dict], float]:
    records, starts, ends = {}, [], []
    for path in sweep_dir.glob("*/record.json"):
        record = json.loads(path.read_text())
        name = f"{record['model']}/{record['backend']}/{record['precision']}/bs{record['batch_size']}"
        records[name] = record
        ends.append(path.stat().st_mtime)
        starts.append(path.stat().st_mtime - record["wall_s"])
    return records, max(ends) - min(starts)


def main(sequential_dir: str, spread_dir: str) -> None:
    sequential, sequential_wall = load(Path(sequential_dir))
    spread, spread_wall = load(Path(spread_dir))
    gpus = {r["environment"].get("gpu_uuid", "?") for r in spread.values() if r["status"] == "ok"}
    print(f"Sequential (one GPU): {sequential_wall:.0f} s for {len(sequential)} cells")
    print(f"Spread ({len(gpus)} GPUs, one cell per GPU): {spread_wall:.0f} s for {len(spread)} cells")
    print(f"Spread / sequential wall time: {spread_wall / sequential_wall:.0%}\n")
    # The median batch beside the mean: a few slow iterations (host noise) move the mean alone.
    print(
        "| cell | sequential ms/sample | spread ms/sample | difference | median batch ms, seq / spread | difference | spread on |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in sorted(sequential):
        one, other = sequential[name], spread.get(name)
        if not other or one["status"] != "ok" or other["status"] != "ok":
            print(f"| {name} | {one['status']} | {other['status'] if other else 'missing'} | | | | |")
            continue
        a, b = (r["metrics"]["latency_ms_per_sample"] for r in (one, other))
        p, q = (r["metrics"]["latency_p50_ms"] for r in (one, other))
        place = other["facts"].get("placement", "")
        print(
            f"| {name} | {a:.4g} | {b:.4g} | {(b - a) / a:+.1%} | {p:.4g} / {q:.4g} | {(q - p) / p:+.1%} | {place} |"
        )


if __name__ == "__main__":
    main(*sys.argv[1:3])
