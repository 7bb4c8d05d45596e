"""Datasets: a registry of loaders, each returning an eval split and a train split
(training of the small custom models, and INT8 calibration: never the eval split)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Subset

Inputs = tuple[torch.Tensor, ...]


@dataclass
class Splits:
    name: str
    eval: Dataset  # items: (inputs tuple, label); label -1 where there is none
    train: Dataset
    num_classes: int
    labelled: bool = True  # False: synthetic data, quality is fidelity to FP32 only
    cheap_to_train: bool = False  # the custom models may be trained on it in seconds


@dataclass
class Batch:
    inputs: Inputs
    labels: torch.Tensor
    valid: int  # rows that are real samples; the rest pad the last batch to a fixed shape


def batches(dataset: Dataset, batch_size: int, limit: int | None = None) -> Iterator[Batch]:
    """Fixed-shape batches: the last partial batch is padded by repeating its last sample,
    so every backend sees one shape per cell, and only `valid` rows are scored."""
    if limit is not None and limit < len(dataset):
        dataset = Subset(dataset, range(limit))
    for inputs, labels in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        valid = labels.shape[0]
        if valid < batch_size:
            pad = batch_size - valid
            inputs = [torch.cat([t, t[-1:].expand(pad, *t.shape[1:])]) for t in inputs]
            labels = torch.cat([labels, labels[-1:].expand(pad)])
        yield Batch(tuple(inputs), labels, valid)


class MissingAsset(FileNotFoundError):
    """A dataset or weight file that is not on this machine; the message names the fetch command."""


class BadDataFile(ValueError):
    """A data file that exists but cannot be read (corrupt image, empty file, truncated weights)."""


Loader = Callable[..., Splits]
DATASETS: dict[str, Loader] = {}
FETCHERS: dict[str, Callable[[Path], str]] = {}  # dataset -> how `make data` fetches it into data_dir


def register(name: str, fetch: Callable[[Path], str] | None = None) -> Callable[[Loader], Loader]:
    """`fetch(data_dir)`: downloads the dataset (`make data`, online only) and says where it put
    it; generated or bundled datasets (synthetic, digits) have none."""

    def wrap(loader: Loader) -> Loader:
        DATASETS[name] = loader
        if fetch is not None:
            FETCHERS[name] = fetch
        return loader

    return wrap


def load_dataset(
    name: str,
    data_dir: Path,
    seed: int = 0,
    cache_dir: Path | None = None,
    model_cfg=None,
    limit: int | None = None,
) -> Splits:
    """`limit` caps the eval split (after any shuffle), so large splits load only what is scored.
    The loader's module is found by the name it registers (benchmark/plugins.py)."""
    from benchmark.plugins import import_plugin

    if ":" in name:  # a dataset outside this package: package.module:function
        from benchmark.plugins import external_loader

        return external_loader(name)(
            data_dir=data_dir, seed=seed, cache_dir=cache_dir, model_cfg=model_cfg, limit=limit
        )
    import_plugin("data", name)
    return DATASETS[name](data_dir=data_dir, seed=seed, cache_dir=cache_dir, model_cfg=model_cfg, limit=limit)
