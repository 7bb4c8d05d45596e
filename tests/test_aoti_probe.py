"""scripts/aoti_probe.py's native frames: where the GPU machine has no gdb, a preloaded handler
prints the native stack of a crash, and addr2line names its frames."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
aoti_probe = pytest.importorskip("aoti_probe")


@pytest.mark.skipif(not (shutil.which("cc") or shutil.which("gcc")), reason="no C compiler here")
def test_a_segfault_prints_its_native_frames_and_keeps_its_exit_status(monkeypatch):
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "gdb" else which(name))  # as on the GPU
    preload = aoti_probe.native_frames_preload()
    crash = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", "import ctypes; ctypes.string_at(0)"],
        capture_output=True,
        text=True,
        env={**os.environ, **preload},
    )
    assert crash.returncode == -11  # the handler re-raises: still a SIGSEGV death
    assert "Fatal Python error: Segmentation fault" in crash.stderr  # faulthandler ran first
    frames = crash.stderr.split("== native frames (innermost first) ==")[1].splitlines()
    handler = next(line for line in frames if line.startswith(preload["LD_PRELOAD"] + "(+0x"))
    if shutil.which("addr2line"):
        assert aoti_probe.with_function_name(handler).endswith("on_fatal_signal")
    assert aoti_probe.with_function_name("not a frame") == "not a frame"
