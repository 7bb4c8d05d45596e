"""torchvision classification models (model.family: torchvision), weights from the local
torch hub cache only: a sweep never downloads (`make data` fetches them beforehand)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig

from benchmark.data import BadDataFile, MissingAsset, Splits, batches
from benchmark.measure.quality import CLASS_MEAN_HEAD
from benchmark.models import LoadedModel, register

SETTLE_SAMPLES, SETTLE_BATCH = 128, 32


def weights_file(weights) -> Path:
    """Where torch.hub keeps a weights enum's file (what load_state_dict_from_url reads first)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


@dataclass
class TorchvisionOptions:
    weights: str = "DEFAULT"  # the weights enum's member (IMAGENET1K_V1, ...), when pretrained


def fetch_weights(model_cfg: DictConfig) -> str:
    """`make data`: the weights a model YAML names (options.weights) -> the torch hub cache."""
    from torchvision.models import get_model, get_model_weights

    weights = get_model_weights(model_cfg.arch)[model_cfg.options.get("weights") or "DEFAULT"]
    get_model(model_cfg.arch, weights=weights)
    return f"torchvision: {model_cfg.arch} {weights} cached in {weights_file(weights)}"


@register("torchvision", options=TorchvisionOptions, fetch=fetch_weights)
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
        facts = {"random_init": init}
        classes = fit_class_mean_head(module, splits.train)
        if classes:  # its top-1 decisions are clear, so the quality gate holds them to the 0.99 rule
            facts["random_init"] += f"; classifier head = the mean features of {classes} train-split classes"
            facts["random_head"] = CLASS_MEAN_HEAD
        return LoadedModel(module.eval(), "random", facts)
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


@torch.no_grad()
def fit_class_mean_head(module: torch.nn.Module, train_split, samples: int = SETTLE_SAMPLES) -> int:
    """A random head gives 1,000 near-tied logits, whose argmax flips under any rounding (top-1
    agreement of fp16 0.98, of bf16 0.88 on MobileNetV3-Large), while a trained model's top class
    stands clear. So, as a nearest-class-mean classifier, set the last Linear layer's row c to the
    centred mean of the features it sees on train-split samples of class c (unit length, scaled so
    that a sample on its class mean scores about 10 like a trained model's logit). Rows of classes
    the split has no sample of are zero. Returns the classes fitted (0: no labels or no Linear)."""
    heads = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    if not heads:
        return 0
    head, features, labels = heads[-1], [], []
    hook = head.register_forward_hook(lambda _m, args, _out: features.append(args[0]))
    try:
        module.eval()
        for batch in batches(train_split, SETTLE_BATCH, samples):
            module(*batch.inputs)
            features[-1] = features[-1][: batch.valid]
            labels.append(batch.labels[: batch.valid])
    finally:
        hook.remove()
    seen, label = torch.cat(features).float(), torch.cat(labels)
    classes = [c for c in label.unique().tolist() if 0 <= c < head.out_features]
    if not classes:
        return 0
    centre = seen.mean(0)
    weight = torch.zeros_like(head.weight)
    for c in classes:
        weight[c] = seen[label == c].mean(0) - centre
    scale = 10 / (seen - centre).norm(dim=1).mean().clamp_min(1e-12)
    weight *= scale / weight.norm(dim=1, keepdim=True).clamp_min(1e-12)
    head.weight.copy_(weight)
    if head.bias is not None:
        head.bias.copy_(-weight @ centre)
    return len(classes)
