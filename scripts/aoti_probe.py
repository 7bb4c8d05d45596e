"""Which step of the AOTInductor path crashes on this machine: a ResNet18 fp16 CUDA package
exported and run under inference_mode or not, and a one-Linear package on the CPU and on CUDA
(the backend's own loader probe: does the loader crash for any CUDA package, and for CPU ones?).
Each variant runs in its own process (a segfault ends only it), with faulthandler on, and for
the native frames under `gdb -batch` where the machine has gdb, else with scripts/native_backtrace.c
preloaded where it has a C compiler (frames named by addr2line where it has one).
Usage: python scripts/aoti_probe.py [VARIANT ...]   (default: every variant, in the order below)"""

import faulthandler
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

NATIVE_BACKTRACE = Path(__file__).with_name("native_backtrace.c")
FRAME = re.compile(r"^(?P<library>/\S+)\(\+(?P<offset>0x[0-9a-f]+)\)\[0x[0-9a-f]+\]$")  # an unnamed frame

VARIANTS = {  # name: (model, device, export under inference_mode, run under inference_mode)
    "linear_cpu": ("linear", "cpu", False, True),
    "linear_cuda": ("linear", "cuda", False, True),
    "export_inference_run_inference": ("resnet18", "cuda", True, True),
    "export_plain_run_inference": ("resnet18", "cuda", False, True),
    "export_plain_run_plain": ("resnet18", "cuda", False, False),
    "export_inference_run_plain": ("resnet18", "cuda", True, False),
}


def variant(model_name: str, device: str, export_in_inference: bool, run_in_inference: bool) -> None:
    import contextlib

    import torch

    if model_name == "linear":
        model = torch.nn.Linear(16, 16).eval().to(device)
        example = (torch.randn(2, 16, device=device),)
    else:
        import torchvision

        model = torchvision.models.resnet18().eval().to(device).half()
        example = (torch.randn(4, 3, 224, 224, device=device, dtype=torch.half),)
    context = torch.inference_mode if export_in_inference else contextlib.nullcontext
    with context():
        exported = torch.export.export(model, example)
    path = tempfile.mkdtemp() + "/model.pt2"
    torch._inductor.aoti_compile_and_package(exported, package_path=path)
    print("packaged", flush=True)
    loaded = torch._inductor.aoti_load_package(path)
    print("loaded", flush=True)
    context = torch.inference_mode if run_in_inference else contextlib.nullcontext
    with context():
        out = loaded(*example)
    with torch.no_grad():
        ref = model(*example)
    print("ran; max abs diff", (out - ref).abs().max().item(), flush=True)


def command(name: str) -> list[str]:
    child = [sys.executable, __file__, "--child", name]
    gdb = shutil.which("gdb")
    return [gdb, "-batch", "-ex", "run", "-ex", "bt 25", "--args", *child] if gdb else child


def native_frames_preload() -> dict[str, str]:
    """LD_PRELOAD of native_backtrace.c, built here, where there is no gdb but a C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if shutil.which("gdb") or not compiler:
        return {}
    library = Path(tempfile.gettempdir()) / "native_backtrace.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O1", "-o", str(library), str(NATIVE_BACKTRACE)], check=True
    )
    return {"LD_PRELOAD": str(library)}


def with_function_name(line: str) -> str:
    """`lib.so(+0x1f2e)[0x7f...]` -> the same, then the function addr2line finds at that offset."""
    match = FRAME.match(line)
    if not match or not shutil.which("addr2line"):
        return line
    found = subprocess.run(
        ["addr2line", "-f", "-C", "-e", match["library"], match["offset"]], capture_output=True, text=True
    ).stdout.splitlines()
    return f"{line}  {found[0]}" if found and found[0] != "??" else line


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        faulthandler.enable()
        variant(*VARIANTS[sys.argv[2]])
        sys.exit(0)
    chosen = sys.argv[1:] or list(VARIANTS)
    unknown = [name for name in chosen if name not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variant {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")
    preload = native_frames_preload()
    print(
        "native frames:",
        "gdb" if shutil.which("gdb") else preload.get("LD_PRELOAD", "none (Python frames only)"),
    )
    for name in chosen:  # one at a time: their builds would compete for the cores
        proc = subprocess.run(command(name), capture_output=True, text=True, env={**os.environ, **preload})
        lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "Warning" not in line]
        shown = [with_function_name(line) for line in lines[-90:]]  # Python's traceback, then up to 64 frames
        print(f"== {name}: exit {proc.returncode}\n" + "\n".join(shown), flush=True)
