"""One cell, as the Hydra job runs it: check the input, decide skips from the YAMLs, measure
in an isolated child process, and record the outcome (JSON beside the job, then MLflow)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from benchmark.code_digest import code_digest
from benchmark.config import tf32_in_force
from benchmark.measure.memory import GpuBytesOf, PhasePeakSampler, Probe, rss_bytes
from benchmark.results.records import CellRecord, cell_id_of, kept_latencies
from benchmark.sweep.cell import (
    BadInput,
    check_input,
    missing_on_this_machine,
    resolve_device,
    ruled_out_by_config,
)
from benchmark.sweep.interrupt import install_interrupt_note, raise_if_interrupted
from benchmark.sweep.placement import Placement, host_share, placement_for
from benchmark.sweep.progress import LiveStatus
from benchmark.sweep.refusals import UNSUPPORTED_ON_THIS_MACHINE, remember_refusal, remembered_refusal
from benchmark.sweep.resume import measured_elsewhere


def sweep_id_of(job_dir: Path, multirun: bool) -> str:
    """A multirun's jobs share the sweep dir (their parent folder). Single runs of one day share
    one id, so MLflow groups them under one parent run per experiment and day (not one each),
    and `make report` after a few single runs shows them together."""
    import datetime

    return job_dir.parent.name if multirun else f"single-runs-{datetime.date.today().isoformat()}"


def run_cell(
    cfg: DictConfig, job_dir: Path, sweep_id: str, done: dict[str, Path] | None = None
) -> tuple[CellRecord, Path | None]:
    """The cell's record: measured now, or the earlier one from `done` (cell id -> record.json)
    when resuming a sweep that already recorded this cell; and that earlier record.json (None
    when measured now). The path, not the record's job_dir, says where it lies now: a sweep
    folder may have been renamed since (records restored on a fresh machine)."""
    install_interrupt_note()  # here too: a launcher's worker process runs cells without __main__
    raise_if_interrupted()  # a Ctrl-C swallowed while the last cell was logged ends the sweep here
    started = time.perf_counter()
    record = CellRecord(
        sweep_id=sweep_id,
        model=cfg.model.name,
        backend=cfg.backend.name,
        precision=cfg.precision.name,
        batch_size=cfg.batch_size,
        device=str(cfg.device),
        job_dir=str(job_dir),
    )
    try:
        check_input(cfg)
        record.device = resolve_device(cfg.device)
        reason = ruled_out_by_config(cfg, record.device)
        if not reason and (reason := missing_on_this_machine(cfg, record.device)):
            record.error_type = UNSUPPORTED_ON_THIS_MACHINE  # not the YAML's: the report keeps its row
    except BadInput as exc:
        record.status, record.message, record.error_type = "skipped", f"bad input: {exc}", "BadInput"
        reason = None
    if not reason and record.status == "ok" and (remembered := remembered_refusal(cfg, record.device)):
        reason, record.error_type = remembered, UNSUPPORTED_ON_THIS_MACHINE  # found at run time, not declared
    if reason:
        record.status, record.message = "skipped", reason
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved["device"] = record.device
    for key in ("cache_dir", "data_dir"):  # the worker must not depend on the cwd it inherits
        resolved[key] = str(Path(resolved[key]).resolve())
    record.config = resolved
    # the code that can change this cell's figures: resume re-measures a cell when it changes
    record.code_digest = code_digest(cfg.backend._target_, cfg.model.family, cfg.dataset or cfg.model.dataset)
    record.cell_id = cell_id_of(resolved, record.code_digest)
    if done and record.cell_id in done:
        earlier = CellRecord.load(done[record.cell_id])
        # a skip decided before any work (no environment) was decided again above, at no cost: a
        # package installed since, or a remembered refusal that no longer holds, must not stand
        skipped_before_work = earlier.status == "skipped" and not earlier.environment
        decided_otherwise = skipped_before_work and (record.status, record.message, record.error_type) != (
            "skipped",
            earlier.message,
            earlier.error_type,
        )
        if not decided_otherwise and not measured_elsewhere(earlier.environment, record.device):
            return earlier, done[record.cell_id]
    if record.status == "ok":
        asked = time.perf_counter()
        with placement_for(record.device, host_share()) as place:
            record.queued_s = time.perf_counter() - asked
            measure_in_child(OmegaConf.create(resolved), job_dir, record, place)
    record.wall_s = time.perf_counter() - started
    record.save(job_dir / "record.json")
    return record, None


def worker_env(place: Placement) -> dict[str, str]:
    """The child finds this package even when run from a checkout that is not installed, and
    sees only its place's GPU or cores."""
    env = dict(os.environ) | place.env()
    root = str(Path(__file__).resolve().parents[2])  # the folder that holds the benchmark package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    # A sweep never downloads: weights and data come from `make data` beforehand.
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    return env


def compiler_caches(cache_dir: str) -> dict[str, str]:
    """Inductor's and Triton's on-disk caches under cache_dir (not the user's home), so a repeated
    cell reuses its compiled kernels (its record's fact inductor_cache says whether it did)."""
    return {
        "TORCHINDUCTOR_CACHE_DIR": str(Path(cache_dir) / "inductor"),
        "TRITON_CACHE_DIR": str(Path(cache_dir) / "triton"),
    }


def measure_in_child(cfg: DictConfig, job_dir: Path, record: CellRecord, place: Placement) -> None:
    job_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, job_dir / "cell.yaml")
    for stale in ("result.json", "phase"):
        (job_dir / stale).unlink(missing_ok=True)
    probes = {"rss": Probe(rss_bytes)}
    if record.device == "cuda":  # NVML holds the driver's lock while it answers: rarely, never while timing
        probes["vram"] = Probe(GpuBytesOf(), every_s=0.1, quiet_phases=frozenset({"timing"}))
    oom_kills_before = cgroup_oom_kills()
    with open(job_dir / "worker.log", "w") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "benchmark.worker", str(job_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=worker_env(place) | compiler_caches(cfg.cache_dir),
            start_new_session=True,  # its own process group: a timeout kills compile workers too
        )
        status = LiveStatus(record.name, alone_on_host=place == Placement())
        with PhasePeakSampler(child.pid, job_dir / "phase", probes) as sampler:
            limits = OmegaConf.to_container(cfg.timeout_s)
            overdue = wait_or_kill(
                child, sampler.current_phase, limits, lambda: status.show(sampler.phase_text())
            )
        status.clear()
    read_outcome(job_dir, record, child.returncode, overdue, oom_kills_before, cgroup_oom_kills())
    if record.status == "skipped" and record.error_type == UNSUPPORTED_ON_THIS_MACHINE:
        remember_refusal(cfg, record.device, record.message)
    record.facts["placement"] = place.describe()
    add_memory_peaks(record, sampler)
    apply_quality_gate(record, cfg)


def apply_quality_gate(record: CellRecord, cfg: DictConfig) -> None:
    """A measured row whose quality fell below the gate becomes `invalid`, its figures kept."""
    from benchmark.measure.quality import CLASS_MEAN_HEAD, GatedRow, gate_failure

    if record.status != "ok":
        return
    # torch's TF32 flags as the row ended (read with its precision_switches, in every record, old ones too)
    tf32_seen = bool(record.environment.get("tf32_matmul") or record.environment.get("tf32_cudnn"))
    # a random model's logits are near-tied, unless its head was fitted to clear decisions (vision.py)
    near_tied = record.facts.get("weights") == "random" and record.facts.get("random_head") != CLASS_MEAN_HEAD
    row = GatedRow(record.precision, near_tied, tf32_in_force(cfg), tf32_seen)
    failure = gate_failure(record.metrics, row, cfg.quality_gate)
    record.facts["quality_gate"] = "fail" if failure else "pass"
    if failure:
        record.status, record.error_type = "invalid", "QualityGate"
        record.message = f"failed its quality gate: {failure}"


@dataclass
class Overdue:
    phase: str
    limit_s: float


def wait_or_kill(
    child: subprocess.Popen, current_phase, limits: dict[str, float], on_poll=lambda: None
) -> Overdue | None:
    """Wait for the worker; kill its process group when its current phase outlives its limit
    (the time before the first phase counts as `load`). Returns what was overdue, if anything."""
    phase, since = None, time.monotonic()
    try:
        while True:
            try:
                child.wait(timeout=0.2)
                return None
            except subprocess.TimeoutExpired:
                raise_if_interrupted()
                on_poll()
            now_phase = current_phase()
            if now_phase != phase:
                phase, since = now_phase, time.monotonic()
            limited = {"after_timing": "timing"}.get(phase, phase)  # post-processing: timing's limit
            limited = limited if limited in limits else "load"
            if time.monotonic() - since > limits[limited]:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                return Overdue(limited, limits[limited])
    except KeyboardInterrupt:
        os.killpg(child.pid, signal.SIGKILL)  # Ctrl-C: end the cell's child, keep finished records
        child.wait()
        raise


def oom_kill_files() -> list[Path]:
    """Where the kernel counts OOM kills for this process's cgroup (the worker inherits it):
    cgroup v2 memory.events, or v1 memory.oom_control, at the cgroup's path or the mount root."""
    root, files = Path("/sys/fs/cgroup"), []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return files
    for line in lines:
        _, controllers, relative = (line.split(":", 2) + ["", ""])[:3]
        relative = relative.lstrip("/")
        if controllers == "":
            files += [root / relative / "memory.events", root / "unified" / relative / "memory.events"]
        elif "memory" in controllers.split(","):
            files += [
                root / "memory" / relative / "memory.oom_control",
                root / "memory" / "memory.oom_control",
            ]
    return files


def cgroup_oom_kills() -> int:
    """How many processes the kernel's OOM killer has ended in this cgroup; 0 where unreadable."""
    for path in oom_kill_files():
        try:
            for line in path.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            continue
    return 0


def read_outcome(
    job_dir: Path,
    record: CellRecord,
    returncode: int,
    overdue: Overdue | None,
    oom_kills_before: int = 0,
    oom_kills_after: int = 0,
) -> None:
    """SIGKILL is `oom` only with evidence of the OOM killer; any other SIGKILL is a crash."""
    import json

    from benchmark.measure.quality import classification_scores

    result_file = job_dir / "result.json"
    if overdue:
        record.status = "timeout"
        record.message = (
            f"{overdue.phase} phase still running after timeout_s.{overdue.phase}={overdue.limit_s:g}"
        )
    elif result_file.is_file():
        result = json.loads(result_file.read_text())
        record.status = result["status"]
        record.message = result.get("message", "")
        record.error_type = result.get("error_type", "")
        record.metrics = result.get("metrics", {})
        record.facts = result.get("facts", {})
        record.environment = result.get("environment", {})
        record.latencies_ms = kept_latencies(result.get("latencies_ms", []))
        if result.get("labels"):
            labels, classes = result["labels"], result["num_classes"]
            record.metrics.update(classification_scores(result["predictions"], labels, classes))
            fp32 = classification_scores(result["reference_predictions"], labels, classes)
            record.metrics["f1_macro_fp32"] = fp32["f1_macro"]  # the gate's yardstick
    elif returncode < 0:
        name = signal.Signals(-returncode).name
        record.status, record.error_type = "crashed", name
        record.message = f"worker killed by {name}; see {job_dir / 'worker.log'}"
        if name == "SIGKILL" and oom_kills_after > oom_kills_before:  # the kernel's OOM killer, seen
            record.status = "oom"
            record.message = (
                f"worker killed by the kernel's OOM killer (cgroup memory.events oom_kill "
                f"{oom_kills_before} -> {oom_kills_after}); see {job_dir / 'worker.log'}"
            )
    else:
        record.status, record.error_type = "crashed", f"exit {returncode}"
        record.message = f"worker exited {returncode} without a result; see {job_dir / 'worker.log'}"


def add_memory_peaks(record: CellRecord, sampler: PhasePeakSampler) -> None:
    """Headline peaks: the artifact scored and timed (eval and timing phases), not the build
    before them or the FP32 reference pass after them. The VRAM peak is split into its parts:
    the CUDA context, what the artifact holds before its first call (weights, engine, session),
    and what running it adds (activations, workspaces, runtime arenas)."""
    if record.status != "ok":
        return
    vram = [v for v in (sampler.peak("vram", "eval"), record.metrics.get("vram_timed_mb")) if v is not None]
    peaks = {
        "peak_rss_mb": sampler.peak("rss", "eval", "timing"),
        "peak_vram_mb": max(vram, default=None),  # the sampler keeps quiet while the worker times
        "peak_vram_build_mb": sampler.peak("vram", "build"),
    }
    record.metrics.update({k: v for k, v in peaks.items() if v is not None})
    m = record.metrics
    if {"peak_vram_mb", "vram_loaded_mb", "cuda_context_mb"} <= m.keys():
        m["vram_artifact_mb"] = m["vram_loaded_mb"] - m["cuda_context_mb"]
        m["vram_running_mb"] = max(0.0, m["peak_vram_mb"] - m["vram_loaded_mb"])
