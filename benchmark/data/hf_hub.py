"""Hugging Face checkpoints and tokenizers from the local cache only (local_files_only), so a
sweep never downloads (`make data` fetches them). Below both the models (which load weights) and
the datasets (which tokenize text with the model's tokenizer)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from benchmark.data import BadDataFile, MissingAsset

FETCH = "run `make data` on a machine with internet, or model.pretrained=false with dataset=synthetic"
# PyTorch weights, configs and tokenizers only: not the TensorFlow, Flax, Rust or ONNX copies.
SKIP = ["*.h5", "*.msgpack", "*.ot", "*.onnx", "onnx/*", "*.tflite", "*.gguf"]


def fetch_checkpoint(model_cfg: DictConfig) -> str:
    """`make data`, for every Hugging Face family: the checkpoint a model YAML names."""
    from huggingface_hub import snapshot_download

    return (
        f"Hugging Face: {model_cfg.arch} cached in {snapshot_download(model_cfg.arch, ignore_patterns=SKIP)}"
    )


def from_local(loader, model_cfg: DictConfig, what: str, **kwargs):
    try:
        return loader.from_pretrained(model_cfg.arch, local_files_only=True, **kwargs)
    except OSError as exc:
        if (
            "does not appear to have" in str(exc)
            or "local_files_only" in str(exc)
            or "offline" in str(exc).lower()
        ):
            raise MissingAsset(
                f"{what} of {model_cfg.arch} not in the local Hugging Face cache: {FETCH}"
            ) from None
        raise BadDataFile(unreadable(model_cfg.arch, what, exc)) from None
    except Exception as exc:  # a truncated file fails inside its parser (safetensors, tokenizers, json)
        raise BadDataFile(unreadable(model_cfg.arch, what, exc)) from None


def checkpoint_folder(arch: str) -> str:
    """Where the checkpoint's files are: the folder itself, or its Hugging Face cache entry."""
    if Path(arch).is_dir():
        return arch
    from huggingface_hub.constants import HF_HUB_CACHE

    return str(Path(HF_HUB_CACHE) / f"models--{arch.replace('/', '--')}")


def unreadable(arch: str, what: str, exc: Exception) -> str:
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return (
        f"{what} of {arch} cannot be read ({type(exc).__name__}: {detail}); a file in "
        f"{checkpoint_folder(arch)} is truncated or corrupt: delete that folder and {FETCH}"
    )


def load_tokenizer(model_cfg: DictConfig):
    from transformers import AutoTokenizer

    tokenizer = from_local(AutoTokenizer, model_cfg, "the tokenizer")
    if tokenizer.pad_token is None:  # GPT-style vocabularies have none; padded positions are masked
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
