"""scripts/other_cpu_probe.py, which looks for the source of the "other work" the CUDA-graph rows
read: its accounting names the process that kept this one's cores busy, and its own CPU apart."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
other_cpu_probe = pytest.importorskip("other_cpu_probe")


def test_a_busy_process_beside_this_one_is_named_with_its_cores():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # past its start-up
        window = other_cpu_probe.observe("beside a spinner", lambda: time.sleep(1.0))
    finally:
        spinner.kill()
        spinner.wait()
    named = {pid: cores for _, pid, cores in window.top_others}
    assert spinner.pid in named and named[spinner.pid] > 0.1
    assert window.own_cores < 0.2  # it slept: the spinner's time is not its own
    assert window.fields_cores["user"] > 0.1
    assert window.line().startswith("| beside a spinner | ") and f"[{spinner.pid}]" in window.line()


def test_its_own_cpu_loop_counts_as_its_own_not_as_other_work():
    deadline = time.perf_counter() + 1.0
    window = other_cpu_probe.observe("own loop", lambda: other_cpu_probe._spin_until(deadline))
    assert window.own_cores > 0.5
    assert os.getpid() not in {pid for _, pid, _ in window.top_others}
