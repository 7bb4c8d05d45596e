"""Your own model: `model=module model.factory=package.module:function` benchmarks any importable
function that returns an nn.Module, called with `model.options` as keyword arguments. Its input
is declared in the config: `model.input_shape` (one sample, float) for synthetic inputs, or a
dataset whose samples it takes (`dataset=digits`, with `model.num_classes`)."""

from __future__ import annotations

import importlib
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from torch import nn

from benchmark.data import Splits
from benchmark.models import LoadedModel, register


def resolve_factory(spec: str):
    """package.module:function -> the function (a clear error for a spec that does not resolve)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"model.factory={spec!r}: write it as package.module:function")
    factory = importlib.import_module(module_name)
    for part in attribute.split("."):
        factory = getattr(factory, part)
    return factory


@register("module")
def load_factory_model(model_cfg: DictConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    kwargs = OmegaConf.to_container(model_cfg.options, resolve=True)
    module = resolve_factory(model_cfg.factory)(**kwargs)
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"model.factory={model_cfg.factory} returned a {type(module).__name__}, not an nn.Module"
        )
    weights = "pretrained" if model_cfg.pretrained else "random"
    return LoadedModel(
        module.float().eval(), weights, {"factory": model_cfg.factory, "factory_options": kwargs}
    )
