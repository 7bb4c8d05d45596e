"""Random inputs of the model's shape: quality is fidelity to FP32 only (no accuracy is scored).
Each sample is generated from its index, so every backend of a sweep sees the same inputs
and nothing large is held in memory."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from benchmark.data import Splits, register

# Fidelity to FP32 needs no large set, and the zoo's big models take ~0.5 s a sample on a CPU.
EVAL_SAMPLES, TRAIN_SAMPLES = 64, 512
TRAIN_OFFSET = 1_000_000  # calibration samples never coincide with eval samples
# Images come in classes: each is its class's template (a fixed random image) plus a little noise.
# Like real data, the classes are far apart next to the noise, so a random model given a class-mean
# head (benchmark/models/vision.py) decides as clearly as a trained one, and a reduced precision is
# judged on decisions that mean something rather than on near-ties of random logits.
IMAGE_CLASSES, IMAGE_NOISE = 32, 0.1
TEMPLATE_OFFSET = 2_000_000


class RandomImages(Dataset):
    """Sample i: template of class i % classes (seeded by template_seed, so the eval and train
    splits share them) + IMAGE_NOISE x its own noise (seeded by seed + i); its label is the class."""

    def __init__(self, shape: tuple[int, ...], size: int, seed: int, template_seed: int, classes: int):
        self.shape, self.size, self.seed = shape, size, seed
        self.template_seed, self.classes = template_seed, max(1, min(classes, IMAGE_CLASSES))

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        label = index % self.classes
        template = torch.randn(
            self.shape, generator=torch.Generator().manual_seed(self.template_seed + label)
        )
        noise = torch.randn(self.shape, generator=torch.Generator().manual_seed(self.seed + index))
        return (template + IMAGE_NOISE * noise,), label


class RandomTokens(Dataset):
    def __init__(self, length: int, vocab_size: int, size: int, seed: int):
        self.length, self.vocab_size, self.size, self.seed = length, vocab_size, size, seed

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        g = torch.Generator().manual_seed(self.seed + index)
        ids = torch.randint(0, self.vocab_size, (self.length,), generator=g)
        return (ids, torch.ones(self.length, dtype=torch.long)), -1


def onnx_sample_shape(path: str) -> list[int] | None:
    """An ONNX file's first input shape past the batch axis, if every dimension is a number."""
    import onnx

    dims = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim[1:]
    if not all(d.HasField("dim_value") for d in dims):
        raise ValueError(f"{path}: its input shape past the batch axis is symbolic: set model.input_shape")
    return [d.dim_value for d in dims]


def _images(shape: tuple[int, ...], classes: int, seed: int):
    return lambda n, s: RandomImages(shape, n, s, seed + TEMPLATE_OFFSET, classes)


def _splits(name: str, make, num_classes: int, limit: int | None, seed: int) -> Splits:
    return Splits(
        name,
        make(limit or EVAL_SAMPLES, seed),
        make(TRAIN_SAMPLES, seed + TRAIN_OFFSET),
        num_classes,
        labelled=False,
    )


@register("synthetic")
def load_synthetic(model_cfg, seed: int = 0, limit: int | None = None, **_) -> Splits:
    """Shaped by the model's YAML: images of model.image_size, or model.max_length token ids."""
    classes = model_cfg.num_classes or 1000
    if model_cfg.input_kind == "text":
        vocab = model_cfg.vocab_size or 1000  # ids below 1000 are valid in any real vocabulary
        return _splits(
            "synthetic", lambda n, s: RandomTokens(model_cfg.max_length, vocab, n, s), classes, limit, seed
        )
    shape = model_cfg.get("input_shape") or (
        onnx_sample_shape(model_cfg.path) if model_cfg.get("path") else None
    )
    if shape:  # declared by the model (model=module, model=onnx): any float shape
        shape = tuple(shape)
        return _splits("synthetic", _images(shape, classes, seed), classes, limit, seed)
    if model_cfg.image_size is None:
        raise ValueError(
            f"model {model_cfg.name} declares no image_size: use dataset=synthetic_imagenet (or digits)"
        )
    shape = (3, model_cfg.image_size, model_cfg.image_size)
    return _splits("synthetic", _images(shape, classes, seed), classes, limit, seed)


@register("synthetic_imagenet")
def load_synthetic_imagenet(
    seed: int = 0, limit: int | None = None, data_dir: Path | None = None, **_
) -> Splits:
    """ImageNet-shaped (3x224x224, 1,000 classes) random images, for any image model."""
    return _splits("synthetic_imagenet", _images((3, 224, 224), 1000, seed), 1000, limit, seed)
