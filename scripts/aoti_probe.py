"""Which step of the AOTInductor CUDA path crashes on this machine: export under inference_mode
or not, run under inference_mode or not. Each variant runs in its own process (a segfault ends
only it), with faulthandler on. Usage: python scripts/aoti_probe.py"""

import faulthandler
import subprocess
import sys
import tempfile

VARIANTS = {
    "export_inference_run_inference": (True, True),
    "export_plain_run_inference": (False, True),
    "export_plain_run_plain": (False, False),
    "export_inference_run_plain": (True, False),
}


def variant(export_in_inference: bool, run_in_inference: bool) -> None:
    import contextlib

    import torch
    import torchvision

    model = torchvision.models.resnet18().eval().cuda().half()
    example = (torch.randn(4, 3, 224, 224, device="cuda", dtype=torch.half),)
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
    torch.cuda.synchronize()
    with torch.no_grad():
        ref = model(*example)
    print("ran; max abs diff", (out - ref).abs().max().item(), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        faulthandler.enable()
        variant(*VARIANTS[sys.argv[1]])
        sys.exit(0)
    procs = {
        name: subprocess.Popen(
            [sys.executable, __file__, name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for name in VARIANTS
    }
    for name, proc in procs.items():
        out, _ = proc.communicate()
        lines = [line for line in out.splitlines() if "Warning" not in line]
        print(f"== {name}: exit {proc.returncode}\n" + "\n".join(lines[-12:]))
