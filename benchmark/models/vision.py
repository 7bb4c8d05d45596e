"""torchvision classification models (model.family: torchvision), weights from the local
torch hub cache only: a sweep never downloads (`make data` fetches them beforehand)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from omegaconf import DictConfig

from benchmark.data import BadDataFile, MissingAsset, Splits
from benchmark.models import LoadedModel, register


def weights_file(weights) -> Path:
    """Where torch.hub keeps a weights enum's file (what load_state_dict_from_url reads first)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


@register("torchvision")
def load_torchvision(model_cfg: DictConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    from torchvision.models import get_model, get_model_weights

    if not model_cfg.pretrained:
        module = get_model(
            model_cfg.arch, weights=None, num_classes=model_cfg.num_classes or splits.num_classes
        )
        return LoadedModel(module.eval(), "random")
    name = model_cfg.options.get("weights") or "DEFAULT"
    weights = get_model_weights(model_cfg.arch)[name]
    file = weights_file(weights)
    if not file.is_file():
        raise MissingAsset(
            f"{model_cfg.arch} weights {weights} not found at {file}: run `make data` on a machine with internet, "
            "or model.pretrained=false for random weights"
        )
    try:
        module = get_model(model_cfg.arch, weights=weights)
    except (RuntimeError, EOFError, OSError) as exc:
        raise BadDataFile(
            f"{file} cannot be loaded ({type(exc).__name__}: {exc}); delete it and run `make data`"
        ) from None
    return LoadedModel(module.eval(), "pretrained", {"weights_enum": str(weights)})
