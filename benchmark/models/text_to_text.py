"""T5 as a sentiment classifier (model.family: t5): it answers "sst2 sentence: <review>" with
the word "positive" or "negative", so F1 is computable.

The timed module runs the encoder once and then `max_new_tokens` greedy decoder steps (each
step feeds back the previous argmax, as generate() would, without a KV cache so that trace and
export see one static graph). It returns every step's vocabulary logits, so no compiler can
drop a step; the class scores are read afterwards, outside the timed loop, from the first
step's logits of the two label words."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from benchmark.data import Splits
from benchmark.data.hf_hub import fetch_checkpoint, from_local, load_tokenizer
from benchmark.models import LoadedModel, register
from benchmark.models.hf import random_config

# SDPA's output view fails torch.export with a dynamic batch (a transposed, non-contiguous
# tensor); T5's own attention exports, so every backend runs the same attention code.
ATTENTION = "eager"


class GreedyAnswer(nn.Module):
    """(input_ids, attention_mask) -> (batch, max_new_tokens, vocab) logits of greedy decoding."""

    def __init__(self, model: nn.Module, max_new_tokens: int):
        super().__init__()
        self.model, self.max_new_tokens = model, max_new_tokens
        self.start_token = int(model.config.decoder_start_token_id)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        encoded = self.model.encoder(input_ids=input_ids, attention_mask=attention_mask, return_dict=False)
        decoded = torch.full_like(input_ids[:, :1], self.start_token)
        steps = []
        for _ in range(self.max_new_tokens):
            logits = self.model(
                encoder_outputs=encoded,
                attention_mask=attention_mask,
                decoder_input_ids=decoded,
                use_cache=False,
                return_dict=False,
            )[0][:, -1]
            steps.append(logits)
            decoded = torch.cat([decoded, logits.argmax(-1, keepdim=True)], dim=1)
        return torch.stack(steps, dim=1)


class LabelWordScores:
    """Outputs of GreedyAnswer -> (batch, classes) scores: the first answer token's logits of
    each label word, in class order (IMDB: negative, positive)."""

    def __init__(self, token_ids: list[int]):
        self.token_ids = token_ids

    def __call__(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs[:, 0, self.token_ids]


def label_token_ids(model_cfg: DictConfig) -> list[int]:
    """Each label word must be one token of the checkpoint's vocabulary; random weights use the
    ids from the YAML (t5-small's), so no tokenizer is needed."""
    if not model_cfg.pretrained:
        return list(model_cfg.options.label_token_ids)
    tokenizer = load_tokenizer(model_cfg)
    ids = []
    for word in model_cfg.options.label_words:
        pieces = tokenizer(word, add_special_tokens=False).input_ids
        if len(pieces) != 1:
            raise ValueError(
                f"label word {word!r} is {len(pieces)} tokens for {model_cfg.arch}; pick one-token words"
            )
        ids += pieces
    return ids


@dataclass
class T5Options:
    max_new_tokens: int = 2  # greedy decoder steps timed: the answer word, then end-of-sequence
    label_words: list[str] = field(default_factory=list)  # one-token answers, in the dataset's class order
    label_token_ids: list[int] = field(default_factory=list)  # their ids, for random weights (no tokenizer)
    config_class: str | None = None  # transformers' config class: random weights without a download
    config: dict[str, Any] = field(default_factory=dict)  # its dimensions (the checkpoint's)


@register("t5", options=T5Options, fetch=fetch_checkpoint)
def load_t5(model_cfg: DictConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    from transformers import T5ForConditionalGeneration

    if model_cfg.pretrained:
        model = from_local(
            T5ForConditionalGeneration, model_cfg, "the weights", attn_implementation=ATTENTION
        )
        weights = "pretrained"
    else:
        model = T5ForConditionalGeneration._from_config(
            random_config(model_cfg), attn_implementation=ATTENTION
        )
        weights = "random"
    token_ids = label_token_ids(model_cfg)
    facts = {
        "architecture": type(model).__name__,
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "max_new_tokens": model_cfg.options.max_new_tokens,
        "label_token_ids": token_ids,
    }
    module = GreedyAnswer(model, model_cfg.options.max_new_tokens).eval()
    return LoadedModel(module, weights, facts, to_scores=LabelWordScores(token_ids))
