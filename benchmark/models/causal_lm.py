"""Decoder-only language models (model.family: causal_lm), e.g. GPT-Neo 125M.

Timed: one forward pass over fixed-length sequences, logits for every position (the cost of
scoring text). Quality: next-token agreement with FP32 and perplexity over the real tokens
(measure/quality.py, NextTokenMeter). Generation speed, a second metric, is measured only where
the artifact is the plain module (the eager backend), with generate() and its KV cache."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from benchmark.data import Splits
from benchmark.data.hf_hub import fetch_checkpoint, from_local
from benchmark.models import LoadedModel, register
from benchmark.models.hf import random_config

PROMPT_TOKENS = 16  # generation starts from the first tokens of each sequence: no padding inside


class NextTokenLogits(nn.Module):
    """(input_ids, attention_mask) -> (batch, length, vocab) logits."""

    def __init__(self, model: nn.Module, generate_tokens: int):
        super().__init__()
        self.model, self.generate_tokens = model, generate_tokens

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(
            input_ids=input_ids, attention_mask=attention_mask, use_cache=False, return_dict=False
        )[0]

    @torch.inference_mode()
    def generation_tokens_per_s(
        self, input_ids: torch.Tensor, sync: Callable[[], None], repeats: int = 3
    ) -> float:
        """Greedy generate() of `generate_tokens` new tokens per row; best of `repeats` runs."""
        prompt = input_ids[:, :PROMPT_TOKENS]
        kwargs = dict(
            attention_mask=torch.ones_like(prompt),
            do_sample=False,
            max_new_tokens=self.generate_tokens,
            min_new_tokens=self.generate_tokens,  # a fixed count: tokens/s must not depend on EOS
            pad_token_id=self.model.config.eos_token_id,
        )
        self.model.generate(prompt, **kwargs)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            sync()
            t0 = time.perf_counter()
            self.model.generate(prompt, **kwargs)
            sync()
            best = min(best, time.perf_counter() - t0)
        return prompt.shape[0] * self.generate_tokens / best


def generation_metrics(artifact, inputs: tuple, sync: Callable[[], None]) -> dict[str, float]:
    """Generation speed, where the artifact runs the plain module (generate() needs it)."""
    module = artifact.eager_module
    if not isinstance(module, NextTokenLogits):
        return {}
    return {"generation_tokens_per_s": module.generation_tokens_per_s(inputs[0], sync)}


@dataclass
class CausalLmOptions:
    generate_tokens: int = 32  # new tokens per row in the generation-speed metric
    config_class: str | None = None  # transformers' config class: random weights without a download
    config: dict[str, Any] = field(default_factory=dict)  # its dimensions (the checkpoint's)


@register("causal_lm", options=CausalLmOptions, fetch=fetch_checkpoint)
def load_causal_lm(model_cfg: DictConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    from transformers import AutoModelForCausalLM

    if model_cfg.pretrained:
        model = from_local(AutoModelForCausalLM, model_cfg, "the weights", attn_implementation="eager")
        weights = "pretrained"
    else:
        model = AutoModelForCausalLM.from_config(random_config(model_cfg), attn_implementation="eager")
        weights = "random"
    facts = {
        "architecture": type(model).__name__,
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
    }
    module = NextTokenLogits(model, model_cfg.options.generate_tokens).eval()
    return LoadedModel(module, weights, facts, task="language_modeling", extra_metrics=generation_metrics)
