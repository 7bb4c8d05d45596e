"""Progress: the sweep's size as Hydra's basic sweeper counts it, the bar after each cell, and
the worker's phase file with how far a long loop has got."""

import pytest

from benchmark.config import conf_dir
from benchmark.sweep.progress import SweepProgress, sweep_size
from benchmark.worker.phases import PhaseProgress

BACKENDS = len(list((conf_dir() / "backend").glob("*.yaml")))


@pytest.mark.parametrize(
    ("overrides", "params", "expected"),
    [
        (["model=fcn,cnn,lstm", "batch_size=1,16,64", "device=cpu"], None, 9),
        (["model=fcn", "backend=glob(*)"], None, BACKENDS),
        (["backend=glob(*,exclude=tensorrt)", "batch_size=range(1,5)"], None, (BACKENDS - 1) * 4),
        (["+sweep=study"], {"model": "resnet,bert", "batch_size": "1,16,32,64"}, 8),
        (
            ["+sweep=study", "model=cnn"],
            {"model": "resnet,bert", "batch_size": "1,64"},
            2,
        ),  # the command line wins
        (["model=cnn"], None, 1),
    ],
)
def test_sweep_size_counts_jobs_as_hydra_makes_them(overrides, params, expected):
    assert sweep_size(overrides, params) == expected


def test_sweep_bar_counts_finished_jobs_from_any_process(tmp_path):
    (tmp_path / "multirun.yaml").write_text("hydra: {}\n")
    progress = SweepProgress(tmp_path, total=4)
    progress.finished(0)
    progress.finished(3)
    bar = progress.finished(3)  # the same job twice counts once
    assert "2/4" in bar and "50%" in bar and bar.startswith("sweep:")


def test_phase_file_says_how_far_a_loop_has_got(tmp_path):
    from functools import partial

    from benchmark.worker.run import set_phase

    phase_file, report = tmp_path / "phase", partial(set_phase, tmp_path)
    progress = PhaseProgress(report, "eval", total=64, unit="batches", every_s=0)
    progress.tick(12)
    assert phase_file.read_text() == "eval 12/64 batches"
    last = PhaseProgress(report, "eval", total=64, unit="batches", every_s=3600)
    last.tick(64)  # the last tick always shows
    assert phase_file.read_text() == "eval 64/64 batches"


def test_cell_line_tells_the_wait_for_a_gpu_apart(capsys):
    from benchmark.results.records import CellRecord
    from benchmark.sweep.summary import print_cell_line

    record = CellRecord("s", "fcn", "eager", "fp32", 1, "cuda", status="skipped", message="x")
    record.wall_s, record.queued_s = 58.7, 40.2
    print_cell_line(record)
    assert "(58.7 s, 40 s of it waiting for a free GPU)" in capsys.readouterr().out
    record.queued_s = 0.3  # no wait worth telling
    print_cell_line(record)
    assert capsys.readouterr().out.rstrip().endswith("(58.7 s)")
