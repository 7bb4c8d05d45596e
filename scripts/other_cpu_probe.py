"""Where the "other work" on the study's short-build compiled rows comes from (issue 17).

The worker's OtherCpuWork (benchmark/measure/latency.py) counts the busy time /proc/stat shows
on the process's cores, minus the process's own CPU time, and a row whose figure passes 0.5 cores
carries the warning "other processes kept N of its cores busy". In the study's records (H200)
about one core of it shows on the torch.compile rows whose build was short: every
compile_cudagraphs row of ResNet18 and BERT (an Inductor cache hit, 7-9 s of build: 1.0-1.3
cores) but not their compile rows (a miss, 12-18 s: 0.0-0.2), and both rows of FCN, CNN and LSTM
(about 9 s either way). The lead: Inductor starts its pool of compile workers when a compile
begins, and after a short build they are still starting while the cell is timed. They are
processes of their own, children of the worker, so its own CPU time leaves them out.

This probe builds a small network with torch.compile and times it through the harness's own loop
at once, as a cell does, then again after the pool has settled; and, for comparison, eager and a
CUDA graph without Inductor. For each window it says where the busy time on its cores went: each
/proc/stat field, its own CPU time, the busiest other processes (its descendants marked), NVIDIA
interrupts, and the mean time per call, to show whether the other work slows the row.

Usage (GPU machine, random weights): CUDA_VISIBLE_DEVICES=0 python3 scripts/other_cpu_probe.py
Without CUDA it runs the same windows on the CPU, where the network is timed by the host's clock."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.measure.latency import OtherCpuWork, TimingBudget, time_calls  # noqa: E402

FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


@dataclass
class ProcessCpu:
    name: str
    parent: int
    seconds: float  # CPU time since it started


def core_fields(cores: set[int]) -> dict[str, float]:
    """Seconds per /proc/stat field since boot, summed over `cores`."""
    totals = dict.fromkeys(FIELDS, 0.0)
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
            for field, value in zip(FIELDS, values, strict=False):
                totals[field] += int(value) * TICK_S
    return totals


def processes() -> dict[int, ProcessCpu]:
    """Every process (kernel threads too): its name, parent and CPU seconds."""
    seen = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # it ended meanwhile
            continue
        fields = text[text.rindex(")") + 2 :].split()  # state, ppid, ...; utime and stime are 11, 12
        name = text[text.index("(") + 1 : text.rindex(")")]
        seen[int(stat.parent.name)] = ProcessCpu(
            name, int(fields[1]), (int(fields[11]) + int(fields[12])) * TICK_S
        )
    return seen


def descends_from(pid: int, ancestor: int, table: dict[int, ProcessCpu]) -> bool:
    while pid in table and pid > 1:
        pid = table[pid].parent
        if pid == ancestor:
            return True
    return False


def nvidia_interrupts() -> int:
    try:
        lines = Path("/proc/interrupts").read_text().splitlines()
    except OSError:
        return 0
    return sum(
        sum(int(v) for v in line.split()[1:] if v.isdigit()) for line in lines if "nvidia" in line.lower()
    )


@dataclass
class Busy:
    name: str
    pid: int
    cores: float
    mine: bool  # a descendant of the probe (a compile worker, say)


@dataclass
class Window:
    name: str
    harness_other_cores: float | None
    own_cores: float
    fields_cores: dict[str, float]
    top_others: list[Busy]
    nvidia_irqs_per_s: float
    ms_per_call: float | None

    def line(self) -> str:
        busy = {k: v for k, v in self.fields_cores.items() if k not in ("idle", "iowait") and v >= 0.01}
        others = ", ".join(
            f"{b.name}[{b.pid}{', ours' if b.mine else ''}] {b.cores:.2f}" for b in self.top_others
        )
        cells = (
            self.name,
            "n/a" if self.harness_other_cores is None else f"{self.harness_other_cores:.2f}",
            f"{self.own_cores:.2f}",
            " ".join(f"{k} {v:.2f}" for k, v in busy.items()),
            others or "none",
            f"{self.nvidia_irqs_per_s:.0f}",
            "" if self.ms_per_call is None else f"{self.ms_per_call:.4f}",
        )
        return "| " + " | ".join(cells) + " |"


HEADER = (
    "| window | harness 'other' cores | own cores | busy cores per /proc/stat field | "
    "busiest other processes (cores) | NVIDIA IRQs/s | ms per call |\n|---|---|---|---|---|---|---|"
)


def observe(name: str, run: Callable[[], float | None]) -> Window:
    """Runs `run` once (it returns its ms per call, or None) and accounts for the busy time on
    this process's cores meanwhile."""
    cores, me = os.sched_getaffinity(0), os.getpid()
    fields0, procs0, irqs0 = core_fields(cores), processes(), nvidia_interrupts()
    own0, t0 = time.process_time(), time.perf_counter()
    with OtherCpuWork() as harness:
        ms = run()
    wall = time.perf_counter() - t0
    own, fields1, irqs1 = time.process_time() - own0, core_fields(cores), nvidia_interrupts()
    procs1 = processes()
    used = [
        Busy(
            p.name,
            pid,
            (p.seconds - (procs0[pid].seconds if pid in procs0 else 0.0)) / wall,
            descends_from(pid, me, procs1),
        )
        for pid, p in procs1.items()
        if pid != me
    ]
    return Window(
        name,
        harness.other_cores,
        own / wall,
        {k: (fields1[k] - fields0[k]) / wall for k in FIELDS},
        sorted((b for b in used if b.cores >= 0.02), key=lambda b: -b.cores)[:5],
        (irqs1 - irqs0) / wall,
        ms,
    )


def timed(
    call: Callable[[], object], wait: Callable[[], None], seconds: float, events: bool
) -> Callable[[], float]:
    """The harness's warm-up and timed loop over `call`; returns the timed calls' mean ms."""
    budget = TimingBudget(warmup_iters=10, warmup_s=0.5, min_iters=50, min_s=seconds, max_s=seconds * 2)

    def run() -> float:
        _, calls = time_calls(call, wait, budget, events)
        return sum(calls.ms) / len(calls.ms)

    return run


def sleep(seconds: float) -> Callable[[], None]:
    return lambda: time.sleep(seconds)


def windows(device: str, seconds: float, settle_s: float, batch: int) -> list[Window]:
    import torch

    cuda = device == "cuda"
    dtype = torch.half if cuda else torch.float
    net = torch.nn.Sequential(*(torch.nn.Linear(1024, 1024) for _ in range(8))).to(device, dtype).eval()
    x = torch.randn(batch, 1024, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    found = [observe("idle, before anything", sleep(seconds))]
    with torch.inference_mode():
        found.append(observe("eager", timed(lambda: net(x), sync, seconds, cuda)))
        compiled = torch.compile(net)
        compiled(x)  # the build; what follows is timed at once, as a cell is
        found.append(
            observe(
                "torch.compile, timed right after its build", timed(lambda: compiled(x), sync, seconds, cuda)
            )
        )
        found.append(observe(f"idle {settle_s:.0f} s after it", sleep(settle_s)))
        found.append(observe("torch.compile, timed again", timed(lambda: compiled(x), sync, seconds, cuda)))
    if cuda:
        found += graph_windows(net, x, seconds)
        gc.collect()
        torch.cuda.synchronize()
    return found


def graph_windows(net: Callable, x, seconds: float) -> list[Window]:
    """A CUDA graph of the eager network, as WholeCallGraph captures it, without Inductor."""
    import torch

    from benchmark.backends.compile import WholeCallGraph

    graph = WholeCallGraph(net, (x,))
    sync = torch.cuda.synchronize
    return [
        observe("CUDA graph (no Inductor), CUDA events", timed(lambda: graph(x), sync, seconds, True)),
        observe("CUDA graph (no Inductor), host clock", timed(lambda: graph(x), sync, seconds, False)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="each timed window's length")
    parser.add_argument("--settle", type=float, default=20.0, help="the idle window before timing again")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    found = windows(device, args.seconds, args.settle, args.batch)
    print(f"{device}; cores of this process: {len(os.sched_getaffinity(0))}; torch {torch.__version__}\n")
    print(HEADER)
    for window in found:
        print(window.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
