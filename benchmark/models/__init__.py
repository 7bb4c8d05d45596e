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
    # The model's own metrics beyond the harness's, run after the timed loop on the timed
    # artifact: (artifact, timing inputs, sync) -> {name: value}, e.g. a language model's
    # generation speed. The worker calls it without knowing what kind of model it holds.
    extra_metrics: Callable[..., dict[str, float]] | None = None


Loader = Callable[[DictConfig, Splits, Path], LoadedModel]
Fetcher = Callable[[DictConfig], str]  # model YAML -> what it fetched (`make data`)
FAMILIES: dict[str, Loader] = {}
OPTIONS: dict[str, type] = {}  # family -> the dataclass of its model.options
FETCHERS: dict[str, Fetcher] = {}  # family -> how `make data` fetches a model YAML's weights


def register(
    family: str, options: type | None = None, fetch: Fetcher | None = None
) -> Callable[[Loader], Loader]:
    """`options`: the family's model.options as a dataclass; a key it lacks is refused before
    any work (benchmark.sweep.cell reads the fields from the source) and again as the model loads.
    Families without one (custom, module) pass model.options on as keyword arguments.
    `fetch`: downloads what a model YAML of this family names (`make data`, online only);
    families that need nothing from the internet (custom, module, onnx) have none."""

    def wrap(loader: Loader) -> Loader:
        FAMILIES[family] = loader
        if options is not None:
            OPTIONS[family] = options
        if fetch is not None:
            FETCHERS[family] = fetch
        return loader

    return wrap


def known_families() -> list[str]:
    """The families the modules of this folder register (read from their sources, no import)."""
    from benchmark.plugins import PACKAGE, declared

    return sorted(declared(PACKAGE / "models"))


def load_model(model_cfg: DictConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    """The family's module is found by the name it registers and imported alone."""
    from benchmark.plugins import import_plugin

    if ":" in model_cfg.family:  # a family outside this package: package.module:function
        from benchmark.plugins import external_loader

        return external_loader(model_cfg.family)(model_cfg, splits, cache_dir)
    import_plugin("models", model_cfg.family)
    if model_cfg.family in OPTIONS:  # a key the family does not take fails here, named (TypeError)
        from omegaconf import OmegaConf

        OPTIONS[model_cfg.family](**OmegaConf.to_container(model_cfg.options, resolve=True))
    return FAMILIES[model_cfg.family](model_cfg, splits, cache_dir)
