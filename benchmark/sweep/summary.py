"""What the terminal shows: one line per finished cell in a sweep, a short table for one cell."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from benchmark.results.records import CellRecord, status_label

HEADLINE = (
    ("latency_ms_per_sample", "ms/sample", "{:.4f}"),
    ("latency_p50_ms", "p50 batch ms", "{:.3f}"),
    ("latency_p99_ms", "p99 batch ms", "{:.3f}"),
    ("throughput_samples_per_s", "samples/s", "{:,.0f}"),
    ("f1_macro", "F1 (macro)", "{:.4f}"),
    ("accuracy", "accuracy", "{:.4f}"),
    ("top1_agreement", "top-1 agreement with FP32", "{:.4f}"),
    ("rel_error", "rel. error vs FP32", "{:.2e}"),
    ("peak_rss_mb", "peak RAM MB", "{:.0f}"),
    ("peak_vram_mb", "peak VRAM MB", "{:.0f}"),
    ("cuda_context_mb", "  of it: CUDA context MB", "{:.0f}"),
    ("vram_artifact_mb", "  of it: artifact before its first call MB", "{:.0f}"),
    ("vram_running_mb", "  of it: added while running MB", "{:.0f}"),
    ("build_s", "build s", "{:.2f}"),
    ("first_call_ms", "first call ms", "{:.2f}"),
)


def headline_rows(record: CellRecord) -> list[tuple[str, str]]:
    return [(label, fmt.format(record.metrics[key])) for key, label, fmt in HEADLINE if key in record.metrics]


def outcome(record: CellRecord) -> str:
    """`ok`, or the status with its reason, in one line."""
    if record.status == "ok":
        return "ok"
    label = status_label(record.status, record.error_type, record.message)
    return label if record.status in ("skipped", "invalid") else f"{label}: {record.message}"


def measured(record: CellRecord) -> bool:
    """Its figures exist (an `invalid` row's too, shown beside why they are no result)."""
    return record.status in ("ok", "invalid")


def print_cell_table(record: CellRecord) -> None:
    print(f"\n{record.name}: {outcome(record)}")
    if "padded_eval" in record.facts:
        print(f"warning: {record.facts['padded_eval']}")
    if shared_cpu_note(record):
        print(f"warning: {shared_cpu_note(record)}")
    if measured(record):
        print(tabulate(headline_rows(record), tablefmt="simple"))
    print(f"record: {record.job_dir}/record.json")


def print_resumed_line(record: CellRecord, record_file: Path) -> None:
    print(
        f"[   done] {record.name:<40} {outcome(record)}, recorded before in {record_file.parent}", flush=True
    )


def print_cell_line(record: CellRecord, same_as: str | None = None) -> None:
    """One line a cell; a failure an earlier cell of the sweep already printed word for word is
    named, not repeated (`same_as`: that cell), so forty cells without data give forty short lines."""
    m = record.metrics
    if measured(record):
        f1 = f"F1 {m['f1_macro']:.3f}" if "f1_macro" in m else "F1 n/a"
        detail = f"{m['latency_ms_per_sample']:.4f} ms/sample  {f1}  RAM {m.get('peak_rss_mb', float('nan')):.0f} MB"
        if "peak_vram_mb" in m:
            detail += f"  VRAM {m['peak_vram_mb']:.0f} MB"
        if record.status == "invalid":
            detail += f"  INVALID, {record.message}"
    elif same_as:
        kind = "bad input" if record.error_type == "BadInput" else "unsupported"
        short = kind if record.status == "skipped" else status_label(record.status, record.error_type)
        detail = f"{short}: same as {same_as}"
    else:
        detail = outcome(record)
    took = f"{record.wall_s:.1f} s"
    if record.queued_s >= 1:  # the cell waited for its GPU or cores, or for another sweep's cell
        if str(record.facts.get("placement", "")).endswith("whole host"):
            took += f", {record.queued_s:.0f} s of it waiting for another sweep's cell to end"
        else:
            took += f", {record.queued_s:.0f} s of it waiting for a free {'GPU' if record.device == 'cuda' else 'core share'}"
    print(f"[{record.status:>7}] {record.name:<40} {detail}  ({took})", flush=True)
    if "padded_eval" in record.facts:
        print(f"          warning: {record.facts['padded_eval']}", flush=True)
    if shared_cpu_note(record):
        print(f"          warning: {shared_cpu_note(record)}", flush=True)


def shared_cpu_note(record: CellRecord) -> str | None:
    from benchmark.measure.latency import BUSY_HOST_CORES

    other = record.metrics.get("host_other_busy_cores")
    if other is None or other <= BUSY_HOST_CORES:
        return None
    return f"other processes kept {other:.1f} of its cores busy while it was timed (another sweep?): it may read slow"


# Exit codes of `python -m benchmark` (README, --help): a script can tell the outcomes apart.
EXIT_MEASURED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INVALID = 0, 1, 2, 3
EXIT = {"code": EXIT_MEASURED}  # set by the run (or the sweep's end), read by __main__ once Hydra returns
OUTCOME_FILE = "outcome.json"  # each job's one-line outcome, measured now or resumed, for the summary
FAILED = ("error", "oom", "crashed", "timeout")


def exit_code(statuses: list[str], error_types: list[str]) -> int:
    """1 when a cell failed (a sweep cell with bad input too), else 3 when a measured row
    failed its quality gate, else 0 (every cell measured, or declared unsupported here)."""
    if any(s in FAILED for s in statuses) or "BadInput" in error_types:
        return EXIT_FAILED
    return EXIT_INVALID if "invalid" in statuses else EXIT_MEASURED


def earlier_same_failure(record: CellRecord, sweep_dir) -> str | None:
    """The cell of this sweep that printed the same failure first, or None if this cell is that
    one. Cells of a parallel launcher end at once, so the first is settled by an atomic link:
    exactly one cell's claim on the failure's file succeeds."""
    import hashlib
    import os
    from pathlib import Path

    if measured(record) or not record.message:
        return None
    claims = Path(sweep_dir) / ".printed_failures"
    claims.mkdir(exist_ok=True)
    claim = claims / hashlib.sha1(f"{record.status}\n{record.message}".encode()).hexdigest()[:16]
    mine = claims / f"{claim.name}.{os.getpid()}"
    # names repeat across seeds or faults; job dirs do not
    mine.write_text(f"{record.job_dir}\n{record.name}")
    try:
        os.link(mine, claim)  # fails if another cell linked first
        return None
    except FileExistsError:
        job_dir, name = claim.read_text().split("\n", 1)
        return None if job_dir == record.job_dir else name
    except OSError:  # a filesystem without hard links: every cell prints its failure in full
        return None
    finally:
        mine.unlink()


def save_outcome(record: CellRecord, job_dir, store: str, experiment: str) -> None:
    import json

    outcome_line = {"name": record.name, "status": record.status, "error_type": record.error_type,
                    "message": record.message, "sweep_id": record.sweep_id, "store": store,
                    "experiment": experiment}  # fmt: skip
    (Path(job_dir) / OUTCOME_FILE).write_text(json.dumps(outcome_line))


def sweep_summary(outcomes: list[dict], max_groups: int = 4) -> tuple[list[str], int]:
    """The end-of-sweep lines (counts by status, each distinct failure once with the cells it
    hit, where it was logged, what to run next) and the sweep's exit code."""
    from collections import Counter

    statuses = [o["status"] for o in outcomes]
    code = exit_code(statuses, [o["error_type"] for o in outcomes])
    counts = ", ".join(f"{n} {status}" for status, n in Counter(statuses).most_common())
    lines = [f"Sweep done: {len(outcomes)} cells: {counts}. Exit code {code}."]
    failures: dict[str, list[str]] = {}
    for o in outcomes:
        if o["status"] in FAILED or o["error_type"] == "BadInput" or o["status"] == "invalid":
            kind = " ".join(filter(None, (o["status"], o["error_type"])))
            failures.setdefault(f"{kind}: {o['message']}", []).append(o["name"])
    for reason, cells in sorted(failures.items(), key=lambda item: -len(item[1]))[:max_groups]:
        more = f" and {len(cells) - 2} more" if len(cells) > 2 else ""
        lines.append(f"  {len(cells)} x {reason}  ({', '.join(cells[:2])}{more})")
    if len(failures) > max_groups:
        lines.append(f"  ... {len(failures) - max_groups} other reasons: `make report` lists them all")
    if outcomes:
        first = outcomes[0]
        lines.append(
            f"Logged: MLflow {first['store']}, experiment {first['experiment']}, sweep {first['sweep_id']}"
        )
    lines.append("Next: make report (tables, findings)   make ui (MLflow)")
    if failures:
        lines.append(
            "Fix the cause, then run the same command with resume=true: it measures only what is missing"
        )
    return lines, code
