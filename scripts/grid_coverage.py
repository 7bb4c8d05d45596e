"""Which cells of the study grid (conf/sweep/study.yaml) on one device have a result, and where.

Each cell of the grid is one of: declared unsupported by its backend or model YAML (known without
running, the same reason the sweep would record), measured, skipped at run time (a reason the
machine or the model gave), failed (crashed, timed out, out of memory), or not recorded in any
of the folders given. Prints markdown: a table per model, the cells not recorded anywhere, and
what measuring them would cost: each cell's wall time (load, build, scoring, timing, or until it
failed) as recorded for the same cell, else the median of the same model and backend, else of the
backend, else of every record given.

    python scripts/grid_coverage.py study=docs/results/study/records.tgz \\
        trust=docs/results/trust/records.tgz
    python scripts/grid_coverage.py --grid study_cpu cpu=docs/results/study/records.tgz
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmark.config import conf_dir, register_configs  # noqa: E402
from benchmark.results.records import stored_records  # noqa: E402
from benchmark.sweep.cell import declared_unsupported_reason  # noqa: E402

FAILED = ("crashed", "error", "timeout", "oom")
MEASURED = ("ok", "invalid")


@dataclass(frozen=True)
class Cell:
    model: str  # the config group's choice (resnet), not the record's model name (resnet18)
    backend: str
    precision: str
    batch_size: int


@dataclass
class Coverage:
    declared: set[Cell] = field(default_factory=set)  # ruled out by the backend or model YAML
    results: dict[Cell, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))  # folder -> status
    wall_s: dict[Cell, list[float]] = field(default_factory=lambda: defaultdict(list))  # measured or failed


def study_grid(preset: str = "study") -> dict[str, list[str]]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = OmegaConf.load(conf_dir() / "sweep" / f"{preset}.yaml").hydra.sweeper.params
    grid = {}
    for key, value in params.items():  # Hydra's own parser: lists and glob(..., exclude=...)
        parsed = OverridesParser.create().parse_overrides([f"{key}={value}"])[0].value()
        if hasattr(parsed, "filter"):  # a glob over the group's options
            parsed = parsed.filter(sorted(p.stem for p in (conf_dir() / key).glob("*.yaml")))
        grid[key] = [str(v) for v in (parsed.list if hasattr(parsed, "list") else parsed)]
    return grid


def group_configs(grid: dict[str, list[str]]) -> dict[str, dict[str, object]]:
    """Each model, backend and precision config of the grid, composed once (not once a cell)."""
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return {
            group: {
                choice: compose("config", overrides=[f"{group}={choice}"])[group] for choice in grid[group]
            }
            for group in ("model", "backend", "precision")
        }


def coverage(
    folders: dict[str, Path], device: str, preset: str = "study"
) -> tuple[dict[str, list[Cell]], Coverage]:
    grid, found = study_grid(preset), Coverage()
    configs = group_configs(grid)
    cells_by_model = {}
    for model, model_cfg in configs["model"].items():
        cells_by_model[model] = []
        for (backend, backend_cfg), (precision, precision_cfg) in product(
            configs["backend"].items(), configs["precision"].items()
        ):
            cfg = OmegaConf.create({"model": model_cfg, "backend": backend_cfg, "precision": precision_cfg})
            declared = declared_unsupported_reason(cfg, device) is not None
            for batch_size in grid["batch_size"]:
                cell = Cell(model, backend, precision, int(batch_size))
                cells_by_model[model].append(cell)
                if declared:
                    found.declared.add(cell)
    # records name the model (resnet18), the grid its config (resnet)
    by_record_name = {model_cfg.name: model for model, model_cfg in configs["model"].items()}
    for label, root in folders.items():
        for record, _ in stored_records([root]):
            if record.device != device or record.model not in by_record_name:
                continue
            cell = Cell(by_record_name[record.model], record.backend, record.precision, record.batch_size)
            if record.wall_s and record.status in MEASURED + FAILED:  # what a run costs (old records: none)
                found.wall_s[cell].append(float(record.wall_s))
            earlier = found.results[cell].get(label)
            if earlier not in MEASURED:  # a cell measured in a folder stays measured there, whatever else ran
                found.results[cell][label] = record.status
    return cells_by_model, found


def outcome(cell: Cell, found: Coverage) -> str:
    if cell in found.declared:
        return "declared unsupported"
    statuses = set(found.results.get(cell, {}).values())
    if statuses & set(MEASURED):  # an `invalid` row was measured: its report shows it failing its gate
        return "measured"
    if statuses & set(FAILED):
        return "failed"
    if "skipped" in statuses:
        return "skipped at run time"
    return "not recorded"


def estimated_s(cell: Cell, found: Coverage) -> tuple[float, str] | None:
    """The cell's expected wall time and what it rests on; None without any record to go by."""
    from statistics import median

    levels = (
        ("this cell", lambda c: c == cell),
        ("its model and backend", lambda c: (c.model, c.backend) == (cell.model, cell.backend)),
        ("its backend", lambda c: c.backend == cell.backend),
        ("every record", lambda c: True),
    )
    for basis, same in levels:
        times = [t for c, ts in found.wall_s.items() if same(c) for t in ts]
        if times:
            return median(times), basis
    return None


def cost_lines(cells: list[Cell], found: Coverage) -> list[str]:
    """Markdown: the estimated wall time of `cells` by backend, cheapest first."""
    by_backend: dict[str, list[float]] = defaultdict(list)
    bases: dict[str, int] = defaultdict(int)
    for cell in cells:
        estimate = estimated_s(cell, found)
        if estimate is None:
            return ["No record has a wall time to estimate from."]
        by_backend[cell.backend].append(estimate[0])
        bases[estimate[1]] += 1
    lines = ["| backend | cells | estimated minutes |", "|---|---|---|"]
    for backend, times in sorted(by_backend.items(), key=lambda item: sum(item[1])):
        lines.append(f"| {backend} | {len(times)} | {sum(times) / 60:.0f} |")
    total = sum(sum(t) for t in by_backend.values())
    lines.append(f"\nAll {len(cells)} cells: about {total / 60:.0f} min one at a time on one device. Estimated from "
                 + ", ".join(f"{basis} ({n})" for basis, n in bases.items()) + ".")  # fmt: skip
    return lines


def grouped(cells: list[Cell]) -> list[str]:
    """`compile fp16: bs 16, 32` lines, one per backend and precision."""
    sizes = defaultdict(list)
    for cell in cells:
        sizes[(cell.backend, cell.precision)].append(str(cell.batch_size))
    return [f"{backend} {precision}: bs {', '.join(batch)}" for (backend, precision), batch in sizes.items()]


def main(arguments: list[str]) -> None:
    preset = "study"
    if arguments[:1] == ["--grid"] and len(arguments) > 1:  # another preset, e.g. study_cpu
        preset, arguments = arguments[1], arguments[2:]
    if not arguments:
        raise SystemExit(__doc__)
    device = OmegaConf.load(conf_dir() / "sweep" / f"{preset}.yaml").get("device", "cuda")
    folders = {}
    for argument in arguments:
        label, _, path = argument.partition("=")
        if not path or not Path(path).exists():
            raise SystemExit(f"{argument!r}: give each folder as LABEL=PATH to a records folder or .tgz")
        folders[label] = Path(path)
    cells_by_model, found = coverage(folders, device, preset)
    kinds = ["declared unsupported", "measured", "skipped at run time", "failed", "not recorded"]
    print(f"Grid {preset} on {device}: {', '.join(f'{label} = {path}' for label, path in folders.items())}\n")
    print(f"| model | cells | {' | '.join(kinds)} | measured in |")
    print(f"|---|---|{'---|' * len(kinds)}---|")
    missing = {}
    for model, cells in cells_by_model.items():
        counts = {kind: 0 for kind in kinds}
        measured_in = defaultdict(int)
        for cell in cells:
            counts[outcome(cell, found)] += 1
            for label, status in found.results.get(cell, {}).items():
                measured_in[label] += status in MEASURED
        missing[model] = [cell for cell in cells if outcome(cell, found) == "not recorded"]
        where = ", ".join(f"{label} {n}" for label, n in measured_in.items() if n)
        print(f"| {model} | {len(cells)} | {' | '.join(str(counts[k]) for k in kinds)} | {where} |")
    for model, cells in missing.items():
        if cells:
            print(f"\n{model}, not recorded in any folder:\n")
            print("\n".join(f"- {line}" for line in grouped(cells)))
    left = [
        cell
        for cells in cells_by_model.values()
        for cell in cells
        if outcome(cell, found) in ("not recorded", "failed")
    ]
    if left:
        print("\n## What measuring the rest would cost (not recorded or failed)\n")
        print("\n".join(cost_lines(left, found)))


if __name__ == "__main__":
    main(sys.argv[1:])
