"""scripts/other_cpu_probe.py, which looks for the source of the "other work" the study's
short-build compiled rows read: its accounting names the process that kept this one's cores busy,
marks it when it is this process's own child, and keeps its own CPU apart."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
other_cpu_probe = pytest.importorskip("other_cpu_probe")


def test_a_busy_child_beside_this_process_is_named_with_its_cores_and_marked_ours():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # past its start-up
        window = other_cpu_probe.observe("beside a spinner", other_cpu_probe.sleep(1.0))
    finally:
        spinner.kill()
        spinner.wait()
    named = {busy.pid: busy for busy in window.top_others}
    assert spinner.pid in named and named[spinner.pid].cores > 0.1
    assert named[spinner.pid].mine  # a compile worker would be marked so too
    assert window.own_cores < 0.2  # it slept: the spinner's time is not its own
    assert window.fields_cores["user"] > 0.1
    assert window.line().startswith("| beside a spinner | ") and f"[{spinner.pid}, ours]" in window.line()


def test_its_own_cpu_loop_counts_as_its_own_and_its_mean_call_time_is_reported():
    window = other_cpu_probe.observe(
        "own loop", other_cpu_probe.timed(lambda: sum(range(20000)), lambda: None, 0.5, False)
    )
    assert window.own_cores > 0.5
    assert os.getpid() not in {busy.pid for busy in window.top_others}
    assert window.ms_per_call is not None and 0 < window.ms_per_call < 100


def test_descent_is_followed_through_the_parents():
    table = {
        10: other_cpu_probe.ProcessCpu("worker", 1, 0.0),
        11: other_cpu_probe.ProcessCpu("sidecar", 10, 0.0),
        12: other_cpu_probe.ProcessCpu("compile worker", 11, 0.0),
        20: other_cpu_probe.ProcessCpu("another sweep", 1, 0.0),
    }
    assert other_cpu_probe.descends_from(12, 10, table)
    assert not other_cpu_probe.descends_from(20, 10, table)
    assert not other_cpu_probe.descends_from(10, 12, table)
