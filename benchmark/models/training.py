"""Train a small model on a cheap dataset with a fixed seed, and cache the weights
under outputs/ so later cells (and later sweeps) reuse them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from benchmark.cache import save_atomically


@dataclass(frozen=True)
class TrainRecipe:
    epochs: int = 30
    lr: float = 3e-3
    batch_size: int = 64
    seed: int = 0


def cache_key(arch: str, shape: tuple[int, ...], num_classes: int, dataset: str, recipe: TrainRecipe) -> str:
    blob = json.dumps([arch, shape, num_classes, dataset, asdict(recipe), torch.__version__], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def train_classifier(model: nn.Module, data: Dataset, recipe: TrainRecipe) -> nn.Module:
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    loader = DataLoader(data, batch_size=recipe.batch_size, shuffle=True, generator=generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, recipe.epochs * len(loader))
    model.train()
    for _ in range(recipe.epochs):
        for (images,), labels in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(images), labels).backward()
            optimizer.step()
            scheduler.step()
    return model.eval()


def load_or_train(model: nn.Module, data: Dataset, weights_path: Path, recipe: TrainRecipe) -> bool:
    """Load cached weights if present, else train and cache. Returns True when it trained."""
    if weights_path.is_file():
        try:
            model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
            return False
        except Exception:
            weights_path.unlink()  # a truncated or stale file: train again
    train_classifier(model, data, recipe)
    save_atomically(model.state_dict(), weights_path)
    return True
