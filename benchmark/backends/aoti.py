"""torch.export + AOTInductor: an ahead-of-time compiled package written to disk, then
loaded back from that file for the run (what a deployment would ship)."""

from __future__ import annotations

import fcntl
import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from benchmark.backends import Artifact, BuildContext, FileBackend, UnsupportedCell
from benchmark.backends.torch_common import DTYPES, apply_precision, cast_inputs

PACKAGE = "model.pt2"

# AOTInductor's package loader of torch 2.11+cu130, on the lent H100 and H200 machines, dies
# with SIGSEGV on every CUDA package before any inference (docs/results/gpu-h100x4/aoti_probe.txt;
# the study's 12 FCN cells, 60-90 s of build each). So on these devices a child process first
# loads a one-layer probe package, once per machine and torch build (the answer is kept beside
# Inductor's cache), and a loader that crashes there makes each cell a skip that says so.
PROBED_DEVICES = ("cuda",)
PROBE = """
import sys, tempfile, torch
device = sys.argv[1]
layer = torch.nn.Linear(16, 16).to(device).eval()
example = (torch.randn(2, 16, device=device),)
with tempfile.TemporaryDirectory() as folder:
    package = torch._inductor.aoti_compile_and_package(
        torch.export.export(layer, example), package_path=folder + "/probe.pt2")
    torch._inductor.aoti_load_package(package)(*example)
"""


def loader_crash(device: torch.device, probe: list[str] | None = None) -> str | None:
    """Why AOTInductor cannot load a package for `device` here (its probe died by a signal),
    or None. `probe`: the child's command (default: PROBE for this device)."""
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "host"
    key = re.sub(r"[^\w.+-]+", "_", f"{torch.__version__}_{device.type}_{name}")
    answer = Path(cache_dir()) / "aoti_loader_probe" / f"{key}.json"
    answer.parent.mkdir(parents=True, exist_ok=True)
    with open(answer.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # cells started together wait for one probe
        if not answer.is_file():
            command = probe or [sys.executable, "-c", PROBE, str(device)]
            child = subprocess.run(command, capture_output=True, text=True, timeout=900)
            answer.write_text(json.dumps({"returncode": child.returncode, "tail": child.stderr[-2000:]}))
        returncode = json.loads(answer.read_text())["returncode"]
    if returncode >= 0:  # it loaded, or raised: a cell then builds and says its own error
        return None
    return (
        f"AOTInductor cannot load a {device.type} package on this machine: a probe package of one "
        f"Linear layer died with {signal.Signals(-returncode).name} in a child process (torch "
        f"{torch.__version__}, {name}; {answer}); this cell's package would, after its build"
    )


class UnsupportedOnThisMachine(UnsupportedCell):
    """A skip for every aoti cell of this device on this machine and torch build: the sweep,
    which knows it by this class name (benchmark/sweep/refusals.py), skips the rest without a
    worker each."""


def refuse_where_the_loader_crashes(device: torch.device) -> None:
    if device.type in PROBED_DEVICES and (reason := loader_crash(device)):
        raise UnsupportedOnThisMachine(reason)


class AotInductorBackend(FileBackend):
    def export(self, ctx: BuildContext, folder: Path) -> dict[str, Any]:
        refuse_where_the_loader_crashes(ctx.device)  # before minutes of build
        module, dtype, facts = apply_precision(ctx)
        with torch.inference_mode():
            exported = torch.export.export(module, cast_inputs(ctx.example, dtype, ctx.channels_last))
        package = folder / PACKAGE
        torch._inductor.aoti_compile_and_package(exported, package_path=str(package))
        return {**facts, "package_mb": round(package.stat().st_size / 2**20, 2)}

    def load(self, ctx: BuildContext, folder: Path, facts: dict[str, Any]) -> Artifact:
        refuse_where_the_loader_crashes(ctx.device)  # a package built elsewhere, in the cache
        # the run uses the package on disk, nothing else
        loaded = torch._inductor.aoti_load_package(str(folder / PACKAGE))
        return Artifact(
            run=loaded,
            input_dtype=DTYPES[ctx.precision.dtype],
            channels_last_inputs=ctx.channels_last,
            facts=facts,
        )
