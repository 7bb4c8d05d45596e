"""The end of a sweep, in the launching process (a Hydra callback, conf/config.yaml
hydra.callbacks): the summary of every cell's outcome, and the exit code it implies."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from benchmark.sweep.summary import EXIT, OUTCOME_FILE, sweep_summary


class SweepSummary(Callback):
    started = 0.0  # every job of this run, measured or resumed, writes its outcome after this

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        # only this run's (1 s: file times are coarse): a sweep folder given again keeps older jobs' files
        files = [
            p for p in sorted(sweep_dir.glob(f"*/{OUTCOME_FILE}")) if p.stat().st_mtime >= self.started - 1
        ]
        outcomes = [json.loads(p.read_text()) for p in files]
        lines, EXIT["code"] = sweep_summary(outcomes)
        lines.insert(1, f"Records: {sweep_dir}")
        print("\n" + "\n".join(lines), flush=True)
