"""scripts/grid_coverage.py: each study cell counted once, from folders and .tgz archives alike."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

from conftest import ROOT

from benchmark.results.records import CellRecord


def write_record(
    folder: Path, model: str, backend: str, precision: str, batch_size: int, status: str
) -> None:
    cell_dir = folder / f"{model}_{backend}_{precision}_bs{batch_size}"
    cell_dir.mkdir(parents=True)
    CellRecord("s", model, backend, precision, batch_size, "cuda", status=status).save(
        cell_dir / "record.json"
    )


def test_grid_coverage_counts_each_cell_by_its_best_outcome(tmp_path):
    plain = tmp_path / "plain"
    write_record(plain, "cnn", "eager", "fp32", 1, "ok")
    write_record(plain / "rerun", "cnn", "eager", "fp32", 1, "crashed")  # measured elsewhere: stays measured
    write_record(plain, "cnn", "torchscript", "fp16", 16, "crashed")
    write_record(plain, "cnn", "eager", "fp16", 1, "ok")
    write_record(plain, "cnn", "eager", "int8", 1, "skipped")  # declared in YAML: counted as declared
    packed = tmp_path / "packed"
    write_record(packed, "lstm", "onnxruntime", "fp32", 64, "skipped")
    write_record(packed, "cnn", "eager", "fp16", 1, "ok")  # the same cell in a second folder
    with tarfile.open(tmp_path / "packed.tgz", "w:gz") as archive:
        archive.add(packed, arcname="packed")

    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "grid_coverage.py"),
            f"a={plain}",
            f"b={tmp_path / 'packed.tgz'}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    rows = {
        line.split(" | ")[0].strip("| "): line.split(" | ")
        for line in out.splitlines()
        if line.startswith("| ")
    }
    # | model | cells | declared | measured | skipped at run time | failed | not recorded | measured in |
    cells, declared, measured, skipped, failed, missing = (int(v) for v in rows["cnn"][1:7])
    assert (measured, skipped, failed) == (2, 0, 1)
    assert declared + measured + skipped + failed + missing == cells == 180  # 9 backends x 5 x 4
    assert rows["cnn"][7].strip(" |") == "a 2, b 1"
    assert [int(v) for v in rows["lstm"][3:6]] == [0, 1, 0]
    cnn_missing = out.split("cnn, not recorded in any folder:")[1].split("lstm,")[0]
    assert "- eager fp32: bs 16, 32, 64\n" in cnn_missing
    assert "eager int8" not in cnn_missing  # declared unsupported, so not a gap
    assert "- eager fp16: bs 16, 32, 64\n" in cnn_missing


def test_grid_coverage_names_a_bad_folder_argument(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "grid_coverage.py"), str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "LABEL=PATH" in done.stderr


def test_the_rest_is_costed_from_the_records_wall_times(tmp_path):
    folder = tmp_path / "runs"
    for batch_size, wall_s in ((1, 60.0), (16, 120.0)):
        write_record(folder, "cnn", "eager", "fp32", batch_size, "ok")
        path = folder / f"cnn_eager_fp32_bs{batch_size}" / "record.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "wall_s": wall_s}))
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "grid_coverage.py"), f"a={folder}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip

    cost = out.split("## What measuring the rest would cost")[1]
    cells, minutes = (
        int(v) for v in next(x for x in cost.splitlines() if x.startswith("| eager |")).split("|")[2:4]
    )
    assert cells > 2 and minutes == round(cells * 90 / 60)  # every eager cell at the median, 90 s
    assert "its model and backend" in cost and "every record" in cost  # the other backends: 90 s too


def test_a_results_folder_is_read_through_its_records_archive(tmp_path):
    """`grid_coverage.py study=docs/results/study`, as issue 17's Done-when says it: that folder
    holds its records as records.tgz (and a logs.tgz without any), not as record.json files."""
    from benchmark.results.records import stored_records

    cells = tmp_path / "cells"
    write_record(cells, "cnn", "eager", "fp32", 1, "ok")
    write_record(cells, "lstm", "eager", "fp32", 64, "ok")
    results = tmp_path / "results"
    results.mkdir()
    with tarfile.open(results / "records.tgz", "w:gz") as archive:
        archive.add(cells, arcname=".")
    (tmp_path / "log.txt").write_text("a sweep's console")
    with tarfile.open(results / "logs.tgz", "w:gz") as archive:
        archive.add(tmp_path / "log.txt", arcname="log.txt")

    found = sorted((r.model, r.batch_size) for r, _ in stored_records([results]))
    assert found == [("cnn", 1), ("lstm", 64)]
