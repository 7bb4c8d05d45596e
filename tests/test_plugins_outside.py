"""A model family and a dataset added from outside the project: one module each plus one model
YAML, in a temporary folder on Hydra's config search path and on PYTHONPATH; no edit here."""

from __future__ import annotations

import json
import os
import textwrap

from tests.conftest import FAST_TIMING, ROOT, run_benchmark

FAMILY = """
import torch
from benchmark.models import LoadedModel


class Tiny(torch.nn.Module):
    def __init__(self, features: int, classes: int):
        super().__init__()
        self.head = torch.nn.Linear(features, classes)

    def forward(self, x):
        return self.head(x.flatten(1))


def load_tiny(model_cfg, splits, cache_dir):
    torch.manual_seed(0)
    return LoadedModel(Tiny(12, splits.num_classes).eval(), "random", {"from": "my_plugins.tiny_family"})
"""

DATASET = """
import torch
from torch.utils.data import Dataset
from benchmark.data import Splits


class Blobs(Dataset):  # a sample is (inputs tuple, label), as the benchmark's datasets give
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return (self.x[i],), int(self.y[i])


def load_blobs(data_dir, seed=0, limit=None, **_):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(96, 12, generator=g), torch.randint(0, 3, (96,), generator=g)
    return Splits("blobs", Blobs(x[64:], y[64:]), Blobs(x[:64], y[:64]), 3, labelled=True)
"""

MODEL_YAML = """
name: tiny
family: my_plugins.tiny_family:load_tiny
arch: tiny
dataset: my_plugins.blobs:load_blobs
pretrained: false
"""


def test_a_family_and_a_dataset_from_a_folder_of_your_own(tmp_path):
    package = tmp_path / "plugins" / "my_plugins"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tiny_family.py").write_text(textwrap.dedent(FAMILY))
    (package / "blobs.py").write_text(textwrap.dedent(DATASET))
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "tiny.yaml").write_text(MODEL_YAML)

    done = run_benchmark(
        tmp_path, f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "model=tiny", "device=cpu", *FAST_TIMING,
        env={"PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path / "plugins")])},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(next(tmp_path.glob("outputs/runs/*/record.json")).read_text())
    assert (record["status"], record["model"]) == ("ok", "tiny")
    assert record["facts"]["from"] == "my_plugins.tiny_family" and record["facts"]["dataset"] == "blobs"
    assert record["metrics"]["eval_samples"] == 32
