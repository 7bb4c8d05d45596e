"""Two CPU sweeps started at once on one host (issue 15): is each cell's timing within 10% of the
same cell run alone, and does each record say what it shared? Reads the records of the sweeps
run alone (before and after) and of the two run together, and prints a markdown table: median
batch ms of each run, the spread of the runs alone, each together-run against the alone median,
how long each together-cell queued for the host, and the other work on its cores while it timed.

    python scripts/two_sweeps.py --alone DIR [DIR ...] --together DIR_A DIR_B
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

LIMIT = 0.10  # the issue's "within 10% of the same cell run alone"


def medians(sweep_dir: Path) -> dict[str, dict]:
    """cell name -> its ok record's median batch ms, queued_s and other busy cores."""
    cells = {}
    for path in sorted(sweep_dir.glob("*/record.json")):
        r = json.loads(path.read_text())
        if r["status"] != "ok":
            continue
        name = f"{r['model']} {r['backend']} bs{r['batch_size']}"
        cells[name] = {
            "p50": r["metrics"]["latency_p50_ms"],
            "queued": r.get("queued_s") or 0.0,
            "busy": r["metrics"].get("host_other_busy_cores"),
        }
    return cells


@dataclass
class Row:
    cell: str
    alone: list[float]
    together: list[dict]

    @property
    def alone_median(self) -> float:
        return statistics.median(self.alone)

    @property
    def alone_spread(self) -> float:
        return (max(self.alone) - min(self.alone)) / self.alone_median

    def deviations(self) -> list[float]:
        return [t["p50"] / self.alone_median - 1 for t in self.together]


def rows(alone_dirs: list[Path], together_dirs: list[Path]) -> list[Row]:
    alone, together = [medians(d) for d in alone_dirs], [medians(d) for d in together_dirs]
    names = sorted(set.intersection(*(set(run) for run in alone + together)))
    return [Row(n, [run[n]["p50"] for run in alone], [run[n] for run in together]) for n in names]


def joined(values: list, fmt: str) -> str:
    return " / ".join("-" if v is None else format(v, fmt) for v in values)


def table(found: list[Row]) -> str:
    lines = [
        "| cell | alone runs (median batch ms) | alone spread | together A / B | A / B vs alone median "
        "| A / B queued s | A / B other busy cores |",
        "|---|---|---|---|---|---|---|",
    ]
    within = 0
    for row in found:
        devs = row.deviations()
        within += sum(abs(d) <= LIMIT for d in devs)
        together = row.together
        lines.append(
            f"| {row.cell} | {joined(row.alone, '.4g')} | {row.alone_spread:.1%} "
            f"| {joined([t['p50'] for t in together], '.4g')} | {joined(devs, '+.1%')} "
            f"| {joined([t['queued'] for t in together], '.0f')} | {joined([t['busy'] for t in together], '.2f')} |"
        )
    total = sum(len(r.together) for r in found)
    lines += ["", f"{within} of {total} together-runs within {LIMIT:.0%} of their cell's alone median."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alone", nargs="+", type=Path, required=True)
    parser.add_argument("--together", nargs=2, type=Path, required=True)
    args = parser.parse_args()
    print(table(rows(args.alone, args.together)))


if __name__ == "__main__":
    main()
