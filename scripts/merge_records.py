"""Merge record archives into one: the study's records.tgz plus what a GPU session collected.

A resumed sweep writes only the cells it measured again; the rest stay in the earlier folder
that `gpu_trust.sh restore` made (<sweep>_earlier). A re-measured cell has a new cell_id (its
code digest changed), so keeping both records would give its label two rows: here each
<sweep>/<job folder> keeps the record of the last archive that has it, `<sweep>_earlier`
counting as `<sweep>`.

    python scripts/merge_records.py docs/results/study/records.tgz \\
        docs/results/study/records.tgz /work/.device/N/records.tgz
"""

import argparse
import io
import tarfile
from pathlib import PurePosixPath

EARLIER = "_earlier"


def member_key(name: str) -> str | None:
    """<sweep>/<job folder>/record.json or <sweep>/multirun.yaml, the sweep without _earlier."""
    parts = PurePosixPath(name).parts
    parts = parts[1:] if parts and parts[0] == "." else parts
    if len(parts) < 2 or parts[-1] not in ("record.json", "multirun.yaml"):
        return None
    sweep = parts[0]
    while sweep.endswith(EARLIER):  # restored more than once: <sweep>_earlier_earlier
        sweep = sweep.removesuffix(EARLIER)
    return "/".join((sweep, *parts[1:]))


def merged(archives: list[str]) -> dict[str, bytes]:
    """Key -> file bytes; a later archive, and in one archive a folder without _earlier, wins."""
    files: dict[str, bytes] = {}
    for archive in archives:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and member_key(m.name)]
            # the earlier folders first, so the same archive's new measurement replaces them
            for member in sorted(members, key=lambda m: EARLIER not in m.name):
                files[member_key(member.name)] = tar.extractfile(member).read()
    return files


def write(files: dict[str, bytes], out: str) -> None:
    with tarfile.open(out, "w:gz") as tar:
        for key in sorted(files):
            info = tarfile.TarInfo("./" + key)
            info.size = len(files[key])
            tar.addfile(info, io.BytesIO(files[key]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", help="the merged archive (may be one of the inputs)")
    parser.add_argument("archives", nargs="+", help="record archives, oldest first")
    args = parser.parse_args()
    files = merged(args.archives)
    write(files, args.out)
    sweeps = sorted({key.split("/")[0] for key in files})
    records = sum(key.endswith("record.json") for key in files)
    print(f"{args.out}: {records} records in {', '.join(sweeps)}")


if __name__ == "__main__":
    main()
