"""Which step of the AOTInductor path crashes on this machine: a ResNet18 fp16 CUDA package
exported and run under inference_mode or not, and a one-Linear package on the CPU and on CUDA
(the backend's own loader probe: does the loader crash for any CUDA package, and for CPU ones?).
Each variant runs in its own process (a segfault ends only it), with faulthandler on, and under
`gdb -batch` where the machine has gdb, for the native frames. Usage: python scripts/aoti_probe.py"""

import faulthandler
import shutil
import subprocess
import sys
import tempfile

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
    child = [sys.executable, __file__, name]
    gdb = shutil.which("gdb")
    return [gdb, "-batch", "-ex", "run", "-ex", "bt 25", "--args", *child] if gdb else child


if __name__ == "__main__":
    if len(sys.argv) > 1:
        faulthandler.enable()
        variant(*VARIANTS[sys.argv[1]])
        sys.exit(0)
    print("gdb:", shutil.which("gdb") or "absent (Python frames only)")
    for name in VARIANTS:  # one at a time: their builds would compete for the cores
        proc = subprocess.run(command(name), capture_output=True, text=True)
        lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "Warning" not in line]
        print(f"== {name}: exit {proc.returncode}\n" + "\n".join(lines[-30:]), flush=True)
