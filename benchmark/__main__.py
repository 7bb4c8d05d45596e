"""Hydra entry point: `python -m benchmark [overrides]`, `-m` for a sweep, `--help` for the groups."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from benchmark.config import conf_dir, register_configs

register_configs()
# Library chatter that tells a user nothing (the worker's own log keeps everything): MLflow's
# "Creating initial MLflow database tables..." and the like stay out of the sweep's lines.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    if not multirun and not runnable_here(cfg):
        drop_refused_run_folder(Path(hydra_cfg.runtime.output_dir))
        return
    from benchmark.results.tracking import default_tracking_uri, log_cell_safely, sweep_name
    from benchmark.sweep.job import run_cell, sweep_id_of
    from benchmark.sweep.progress import SweepProgress, sweep_size
    from benchmark.sweep.resume import earlier_sweep, sweep_overrides
    from benchmark.sweep.summary import (
        EXIT,
        earlier_same_failure,
        exit_code,
        print_cell_line,
        print_cell_table,
        print_resumed_line,
        save_outcome,
    )

    job_dir = Path(hydra_cfg.runtime.output_dir)
    launch_dir = Path(hydra_cfg.runtime.cwd)
    sweep_dir = job_dir.parent if multirun else job_dir
    # the sweep's own command (multirun.yaml: `model=fcn,cnn`), not this job's `model=fcn`
    command = (sweep_overrides(sweep_dir) if multirun else None) or list(hydra_cfg.overrides.task)
    sweeper_params = hydra_cfg.sweeper.get("params")
    if not cfg.experiment:
        cfg.experiment = sweep_name(command, sweeper_params, cfg.model.name)
    sweep_id, done = sweep_id_of(job_dir, multirun), {}
    if cfg.resume and multirun:
        earlier = earlier_sweep(sweep_dir)
        if earlier:
            sweep_id, done = earlier.sweep_id, earlier.records
    record, resumed_from = run_cell(cfg, job_dir, sweep_id, done)
    uri = cfg.tracking_uri or default_tracking_uri(launch_dir)
    if resumed_from:  # recorded by the earlier run, which may not have logged it (or to another store)
        log_cell_safely(record, resumed_from, uri, cfg.experiment, sweep_dir, unless_logged=True)
        print_resumed_line(record, resumed_from)
    else:
        logged = log_cell_safely(record, job_dir / "record.json", uri, cfg.experiment, sweep_dir)
        if multirun:
            print_cell_line(record, earlier_same_failure(record, sweep_dir))
        else:
            print_cell_table(record)
            if logged:
                print(f"MLflow: {uri}, experiment {cfg.experiment}. Next: make report, make ui")
            else:  # the warning above says why; the cell is measured all the same
                print(f"MLflow: NOT logged to {uri}; the record above is JSON only (the warning says why)")
            EXIT["code"] = exit_code([record.status], [record.error_type])
    if multirun:
        save_outcome(record, job_dir, uri, cfg.experiment)
        print(
            "  " + SweepProgress(sweep_dir, sweep_size(command, sweeper_params)).finished(hydra_cfg.job.num),
            flush=True,
        )


def runnable_here(cfg: DictConfig) -> bool:
    """A single run's input and the machine, checked before anything heavy is imported: a
    cell that cannot run gets one line on stderr and exit code 2 (a sweep records it instead)."""
    from benchmark.sweep.cell import BadInput, check_input, resolve_device, unsupported_reason
    from benchmark.sweep.summary import EXIT, EXIT_BAD_INPUT

    try:
        check_input(cfg)
        reason = unsupported_reason(cfg, resolve_device(cfg.device))
        problem = f"cannot run here: {reason}" if reason else None
    except BadInput as exc:
        problem = f"bad input: {exc}"
    if problem:
        print(problem, file=sys.stderr)
        EXIT["code"] = EXIT_BAD_INPUT
    return problem is None


def drop_refused_run_folder(run_dir: Path) -> None:
    """A refused single run measured nothing, so the folder Hydra made for it goes too, with the
    empty `outputs/runs` above it: only while it holds nothing but Hydra's composed config and
    an empty log (`hydra.run.dir=.` in a folder with anything else in it keeps everything)."""
    import shutil

    entries = list(run_dir.iterdir()) if run_dir.is_dir() else []
    if not all(e.name == ".hydra" or (e.suffix == ".log" and e.stat().st_size == 0) for e in entries):
        return
    for entry in entries:
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    made_by_us = [run_dir]
    if run_dir.parent.name == "runs":  # the default hydra.run.dir, outputs/runs/<time>
        made_by_us += [run_dir.parent, run_dir.parent.parent]
    for folder in made_by_us:
        try:
            folder.rmdir()  # only an empty one
        except OSError:
            return


def preflight() -> None:
    """Checks Hydra cannot make: one line and exit 2, before anything is composed."""
    from benchmark.sweep.cell import (
        BadInput,
        check_group_choices,
        check_model_option_overrides,
        check_option_overrides,
        check_override_keys,
        check_override_values,
        options_of_swept_groups_forced,
    )

    overrides = [a for a in sys.argv[1:] if "=" in a and not a.startswith("-")]
    try:
        check_override_keys(overrides)
        check_group_choices(overrides)
        check_override_values(overrides)
        check_option_overrides(overrides)
        check_model_option_overrides(overrides)
    except BadInput as exc:
        print(f"bad input: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    sys.argv[1:] = options_of_swept_groups_forced(sys.argv[1:])


if __name__ == "__main__":
    from benchmark.sweep.interrupt import exit_interrupted, install_interrupt_note, raise_if_interrupted
    from benchmark.sweep.summary import EXIT

    preflight()
    install_interrupt_note()
    try:
        main()
        raise_if_interrupted()  # a Ctrl-C that a finalizer swallowed during the last cell
    except KeyboardInterrupt:  # the running cell's worker got it too
        exit_interrupted()
    raise SystemExit(EXIT["code"])
