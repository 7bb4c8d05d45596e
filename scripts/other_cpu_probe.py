"""Where the "other work" on compile_cudagraphs rows comes from (issue 17).

The worker's OtherCpuWork (benchmark/measure/latency.py) counts the busy time /proc/stat shows
on the process's cores, minus the process's own CPU time, and a row whose figure passes 0.5 cores
carries the warning "other processes kept N of its cores busy". On the lent H200 machines every
compile_cudagraphs row reads about one core (1.0-1.3, BERT included, even with no other GPU cell
beside it), while eager, compile, onnxruntime and onnxruntime_cudagraphs rows read 0.0-0.2. The
only thing compile_cudagraphs adds to a compile row is the replay of one torch CUDA graph
(WholeCallGraph) timed by CUDA events, so this probe times a small network with and without one,
through the harness's own loop, and for each window says where the busy time went: each
/proc/stat field on the process's cores, the process's own CPU time, the processes and kernel
threads that used the most CPU, and the NVIDIA interrupts.

Usage (GPU machine, random weights): CUDA_VISIBLE_DEVICES=0 python3 scripts/other_cpu_probe.py
Without CUDA it runs the idle and a CPU-loop window, to show the accounting itself."""

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


def core_fields(cores: set[int]) -> dict[str, float]:
    """Seconds per /proc/stat field since boot, summed over `cores`."""
    totals = dict.fromkeys(FIELDS, 0.0)
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
            for field, value in zip(FIELDS, values, strict=False):
                totals[field] += int(value) * TICK_S
    return totals


def process_cpu() -> dict[int, tuple[str, float]]:
    """Each process's (kernel threads' too) name and CPU seconds since it started."""
    seen = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # it ended meanwhile
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        seen[int(stat.parent.name)] = (name, (int(fields[11]) + int(fields[12])) * TICK_S)  # utime, stime
    return seen


def nvidia_interrupts() -> int:
    try:
        lines = Path("/proc/interrupts").read_text().splitlines()
    except OSError:
        return 0
    return sum(
        sum(int(v) for v in line.split()[1:] if v.isdigit()) for line in lines if "nvidia" in line.lower()
    )


@dataclass
class Window:
    name: str
    seconds: float
    harness_other_cores: float | None
    own_cores: float
    fields_cores: dict[str, float]
    top_others: list[tuple[str, int, float]]  # name, pid, cores
    nvidia_irqs_per_s: float

    def line(self) -> str:
        busy = {k: v for k, v in self.fields_cores.items() if k not in ("idle", "iowait") and v >= 0.01}
        others = ", ".join(f"{n}[{p}] {c:.2f}" for n, p, c in self.top_others) or "none"
        harness = "n/a" if self.harness_other_cores is None else f"{self.harness_other_cores:.2f}"
        fields = " ".join(f"{k} {v:.2f}" for k, v in busy.items())
        return (
            f"| {self.name} | {harness} | {self.own_cores:.2f} | {fields} | {others} | "
            f"{self.nvidia_irqs_per_s:.0f} |"
        )


HEADER = (
    "| window | harness 'other' cores | own cores | busy cores per /proc/stat field | "
    "top other processes (cores) | NVIDIA IRQs/s |\n|---|---|---|---|---|---|"
)


def observe(name: str, run: Callable[[], None]) -> Window:
    """Runs `run` once and accounts for the busy time on this process's cores meanwhile."""
    cores, me = os.sched_getaffinity(0), os.getpid()
    fields0, procs0, irqs0 = core_fields(cores), process_cpu(), nvidia_interrupts()
    own0, t0 = time.process_time(), time.perf_counter()
    with OtherCpuWork() as harness:
        run()
    wall = time.perf_counter() - t0
    own, fields1, procs1, irqs1 = (
        time.process_time() - own0,
        core_fields(cores),
        process_cpu(),
        nvidia_interrupts(),
    )
    used = [
        (procs1[pid][0], pid, (procs1[pid][1] - procs0.get(pid, ("", 0.0))[1]) / wall)
        for pid in procs1
        if pid != me
    ]
    top = sorted((u for u in used if u[2] >= 0.02), key=lambda u: -u[2])[:5]
    return Window(
        name,
        wall,
        harness.other_cores,
        own / wall,
        {k: (fields1[k] - fields0[k]) / wall for k in FIELDS},
        top,
        (irqs1 - irqs0) / wall,
    )


def timed(
    call: Callable[[], object], wait: Callable[[], None], seconds: float, events: bool
) -> Callable[[], None]:
    budget = TimingBudget(warmup_iters=10, warmup_s=0.5, min_iters=50, min_s=seconds, max_s=seconds * 2)
    return lambda: time_calls(call, wait, budget, events)


def cuda_windows(seconds: float, batch: int) -> list[Window]:
    import torch

    layers = [torch.nn.Linear(1024, 1024) for _ in range(8)]
    net = torch.nn.Sequential(*layers).cuda().half().eval()
    x = torch.randn(batch, 1024, device="cuda", dtype=torch.half)
    with torch.inference_mode():
        eager = observe(
            "eager, CUDA events (the harness's compile/eager rows)",
            timed(lambda: net(x), torch.cuda.synchronize, seconds, True),
        )
    with_graph = graph_windows(net, x, seconds)  # its graph is freed when it returns
    gc.collect()
    torch.cuda.synchronize()
    return [eager, *with_graph, observe("idle, the graph freed", lambda: time.sleep(seconds))]


def graph_windows(net: Callable, x, seconds: float) -> list[Window]:
    import torch

    from benchmark.backends.compile import WholeCallGraph

    graph = WholeCallGraph(net, (x,))
    sync = torch.cuda.synchronize
    return [
        observe(
            "CUDA graph, CUDA events (compile_cudagraphs rows)", timed(lambda: graph(x), sync, seconds, True)
        ),
        observe("CUDA graph, host clock only", timed(lambda: graph(x), sync, seconds, False)),
        observe("idle, the graph still alive", lambda: time.sleep(seconds)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="each window's length")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    windows = [observe("idle, before anything", lambda: time.sleep(args.seconds))]
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if cuda:
        windows += cuda_windows(args.seconds, args.batch)
    else:
        deadline = time.perf_counter() + args.seconds
        windows.append(observe("a CPU loop in this process (no CUDA here)", lambda: _spin_until(deadline)))
    print(f"cores of this process: {len(os.sched_getaffinity(0))}; each window {args.seconds:.0f} s\n")
    print(HEADER)
    for window in windows:
        print(window.line())
    return 0


def _spin_until(deadline: float) -> None:
    while time.perf_counter() < deadline:
        pass


if __name__ == "__main__":
    sys.exit(main())
