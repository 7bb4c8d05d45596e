"""scripts/merge_records.py: a GPU session's archive joins the study's, a re-measured cell
replacing its earlier record (restored as <sweep>_earlier) instead of adding a second row."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile

from conftest import ROOT


def archive(path, files: dict[str, dict | str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            data = (content if isinstance(content, str) else json.dumps(content)).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_a_sessions_records_replace_the_cells_they_measured_again(tmp_path):
    study, session = tmp_path / "study.tgz", tmp_path / "session.tgz"
    archive(study, {
        "./cpu/multirun.yaml": "overrides",
        "./cpu/0_fcn_ort_int8_bs1/record.json": {"status": "error"},
        "./cpu/1_fcn_ort_int8_bs16/record.json": {"status": "ok", "run": 1},
    })  # fmt: skip
    archive(session, {  # what `collect` packs after `restore` and a resumed sweep
        "./cpu_earlier/0_fcn_ort_int8_bs1/record.json": {"status": "error"},
        "./cpu_earlier/1_fcn_ort_int8_bs16/record.json": {"status": "ok", "run": 1},
        "./cpu/0_fcn_ort_int8_bs1/record.json": {"status": "ok", "run": 2},
        "./zoo/0_resnet18_eager_fp32_bs1/record.json": {"status": "ok"},
        "./zoo/0_resnet18_eager_fp32_bs1/worker.log": "not a record",
    })  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "merge_records.py"), str(study), str(study), str(session)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "3 records in cpu, zoo" in done.stdout
    with tarfile.open(study) as tar:
        merged = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
    assert sorted(merged) == [
        "./cpu/0_fcn_ort_int8_bs1/record.json", "./cpu/1_fcn_ort_int8_bs16/record.json",
        "./cpu/multirun.yaml", "./zoo/0_resnet18_eager_fp32_bs1/record.json",
    ]  # fmt: skip
    assert json.loads(merged["./cpu/0_fcn_ort_int8_bs1/record.json"]) == {"status": "ok", "run": 2}
    assert json.loads(merged["./cpu/1_fcn_ort_int8_bs16/record.json"]) == {"status": "ok", "run": 1}
