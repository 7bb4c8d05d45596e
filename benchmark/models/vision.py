"""torchvision classification models (model.family: torchvision), weights from the local
torch hub cache only: a sweep never downloads (`make data` fetches them beforehand)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig

from benchmark.data import BadDataFile, MissingAsset, Splits, batches
from benchmark.models import LoadedModel, register

SETTLE_SAMPLES, SETTLE_BATCH = 128, 32


def weights_file(weights) -> Path:
    """Where torch.hub keeps a weights enum's file (what load_state_dict_from_url reads first)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


@dataclass
class TorchvisionOptions:
    weights: str = "DEFAULT"  # the weights enum's member (IMAGENET1K_V1, ...), when pretrained


@register("torchvision", options=TorchvisionOptions)
def load_torchvision(model_cfg: DictConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    from torchvision.models import get_model, get_model_weights

    if not model_cfg.pretrained:
        module = get_model(
            model_cfg.arch, weights=None, num_classes=model_cfg.num_classes or splits.num_classes
        )
        settled = settle_batchnorm(module, splits.train)
        init = "torchvision's random init"
        if settled:
            init += f"; BatchNorm running statistics from {settled} train-split samples"
        return LoadedModel(module.eval(), "random", {"random_init": init})
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


@torch.no_grad()
def settle_batchnorm(module: torch.nn.Module, train_split, samples: int = SETTLE_SAMPLES) -> int:
    """Random weights behave like trained ones only if each BatchNorm's running statistics fit
    the activations it sees. torchvision's init leaves mean 0 / variance 1 everywhere, so a
    random MobileNetV3-Large shrinks its activations block by block (3.4 -> 3e-8) until fp16
    underflows to zeros. As training would, set them from a few train-split batches (never
    eval data; a cumulative average, momentum=None). Returns the samples used (0: no BatchNorm)."""
    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    module.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    seen = 0
    for batch in batches(train_split, SETTLE_BATCH, samples):
        module(*batch.inputs)
        seen += batch.valid
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    module.eval()
    return seen
