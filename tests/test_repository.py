"""The checkout itself: it travels to the GPU machine with every device call, beside a wheel part."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import ROOT

# issue 17: under 10 MB, so the checkout and a 48 MiB ORT part fit one 64 MiB device transfer
TRACKED_LIMIT_BYTES = 10_000_000


def test_the_tracked_tree_stays_under_10_mb():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    paths = [ROOT / name.decode() for name in listed.stdout.split(b"\0") if name]
    sizes = {path: path.stat().st_size for path in paths if path.is_file()}
    largest = sorted(sizes, key=sizes.get, reverse=True)[:5]
    assert sum(sizes.values()) < TRACKED_LIMIT_BYTES, "largest: " + ", ".join(
        f"{p.relative_to(ROOT)} {sizes[p] / 1e6:.1f} MB" for p in largest
    )
