"""scikit-learn's bundled 8x8 digits (1,797 images, 10 classes): needs no download,
so every machine gets a real F1. Split 70/30, stratified, with a fixed seed."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from benchmark.cache import save_atomically
from benchmark.data import Splits, register

SPLIT_SEED = 0  # fixed, so the eval split never moves with the benchmark's seed


class _LabelledImages(TensorDataset):
    def __getitem__(self, index):
        image, label = super().__getitem__(index)
        return (image,), label


def _split_from_sklearn() -> dict[str, torch.Tensor]:
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_digits()
    train_idx, eval_idx = train_test_split(
        range(len(bunch.target)), test_size=0.3, stratify=bunch.target, random_state=SPLIT_SEED
    )
    return {
        "images": torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1)
        / 16.0,  # (N, 1, 8, 8) in [0, 1]
        "labels": torch.tensor(bunch.target, dtype=torch.long),
        "train_idx": torch.tensor(train_idx),
        "eval_idx": torch.tensor(eval_idx),
    }


@register("digits")
def load_digits(data_dir: Path | None = None, seed: int = 0, cache_dir: Path | None = None, **_) -> Splits:
    # Importing scikit-learn costs ~2.5 s per worker: the split is cached after the first cell.
    cached = cache_dir / "datasets" / "digits-split.pt" if cache_dir else None
    if cached and cached.is_file():
        split = torch.load(cached, weights_only=True)
    else:
        split = _split_from_sklearn()
        if cached:
            save_atomically(split, cached)
    images, labels, train_idx, eval_idx = (
        split["images"],
        split["labels"],
        split["train_idx"],
        split["eval_idx"],
    )
    return Splits(
        name="digits",
        eval=_LabelledImages(images[eval_idx], labels[eval_idx]),
        train=_LabelledImages(images[train_idx], labels[train_idx]),
        num_classes=10,
        cheap_to_train=True,
    )
