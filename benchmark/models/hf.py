"""Hugging Face sequence classifiers (model.family: hf), and what the other Hugging Face
families (t5, causal_lm) share: checkpoints from the local cache only (local_files_only), so a
sweep never downloads; `make data` fetches them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from benchmark.data import Splits
from benchmark.data.hf_hub import fetch_checkpoint, from_local
from benchmark.models import LoadedModel, register


class LogitsOnly(nn.Module):
    """(input_ids, attention_mask) -> logits: one tensor out, so trace and export stay simple."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=False)[0]


def random_config(model_cfg: DictConfig, **overrides):
    """The architecture's config without a download when the YAML names its class (with the
    checkpoint's dimensions in options.config); otherwise the cached checkpoint's config."""
    import transformers

    if "config_class" in model_cfg.options:
        dims = OmegaConf.to_container(model_cfg.options.config) if "config" in model_cfg.options else {}
        return getattr(transformers, model_cfg.options.config_class)(**dims, **overrides)
    return from_local(transformers.AutoConfig, model_cfg, "the config", **overrides)


@dataclass
class HfOptions:
    config_class: str | None = None  # transformers' config class: random weights without a download
    config: dict[str, Any] = field(default_factory=dict)  # its dimensions (the checkpoint's)


@register("hf", options=HfOptions, fetch=fetch_checkpoint)
def load_hf(model_cfg: DictConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    from transformers import AutoModelForSequenceClassification

    num_labels = model_cfg.num_classes or splits.num_classes
    if not model_cfg.pretrained:
        model = AutoModelForSequenceClassification.from_config(
            random_config(model_cfg, num_labels=num_labels), attn_implementation="sdpa"
        )
        weights = "random"
    else:
        model = from_local(
            AutoModelForSequenceClassification, model_cfg, "the weights", attn_implementation="sdpa"
        )
        weights = "pretrained"
    facts = {
        "architecture": type(model).__name__,
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
    }
    return LoadedModel(LogitsOnly(model).eval(), weights, facts)
