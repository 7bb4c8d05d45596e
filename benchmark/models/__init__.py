"""Model registry: a family name (model.family in the YAML) -> a loader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from benchmark.data import Splits


@dataclass
class LoadedModel:
    module: nn.Module  # float32, eval mode, on the CPU
    weights: str  # trained | pretrained | random: the report marks random weights
    facts: dict[str, Any] = field(default_factory=dict)
    task: str = "classification"  # classification | language_modeling: how quality is measured
    # outputs -> (batch, classes) scores, applied outside the timed loop (None: outputs are scores)
    to_scores: Callable[[torch.Tensor], torch.Tensor] | None = None


Loader = Callable[[DictConfig, Splits, Path], LoadedModel]
FAMILIES: dict[str, Loader] = {}


def register(family: str) -> Callable[[Loader], Loader]:
    def wrap(loader: Loader) -> Loader:
        FAMILIES[family] = loader
        return loader

    return wrap


def known_families() -> list[str]:
    from benchmark.models import causal_lm, custom, hf, text_to_text, vision  # noqa: F401  (register their families)

    return sorted(FAMILIES)


def load_model(model_cfg: DictConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    known = known_families()
    if model_cfg.family not in known:
        raise ValueError(f"unknown model family {model_cfg.family!r}; known: {', '.join(known)}")
    return FAMILIES[model_cfg.family](model_cfg, splits, cache_dir)
