"""Judge recorded cells again with the quality gate (thresholds are config keys, so a gate can
change after the measurements): every measured record.json under the folders gets the status
the gate gives it now, its figures untouched. Prints what changed.

Usage: python scripts/rejudge_quality.py <folder> [<folder> ...] [-- quality_gate.key=value ...]"""

from __future__ import annotations

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmark.config import conf_dir, register_configs  # noqa: E402
from benchmark.results.records import CellRecord  # noqa: E402
from benchmark.sweep.job import apply_quality_gate  # noqa: E402


def rejudge(record: CellRecord, cfg) -> bool:
    """True when the record's verdict changed."""
    if record.status not in ("ok", "invalid"):
        return False
    before = (record.status, record.message)
    record.status, record.message, record.error_type = "ok", "", ""
    cfg.tf32 = bool(record.config.get("tf32", False))
    apply_quality_gate(record, cfg)
    return (record.status, record.message) != before


def main(argv: list[str]) -> None:
    folders, overrides = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    if not folders:
        raise SystemExit(__doc__.splitlines()[-1])
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    for path in sorted(p for folder in folders for p in Path(folder).rglob("record.json")):
        record = CellRecord.load(path)
        if rejudge(record, cfg):
            record.save(path)
            print(f"{record.name}: {record.status} {record.message}".rstrip())


if __name__ == "__main__":
    main(sys.argv[1:])
