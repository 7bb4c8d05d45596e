"""The study's small custom models. Each takes images (B, C, H, W) of any size and class
count, so the same architecture runs on 8x8 digits and on ImageNet-shaped input."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import nn

from benchmark.data import Splits
from benchmark.models import LoadedModel, register


class FCN(nn.Module):
    def __init__(self, channels: int, height: int, width: int, num_classes: int, hidden: int = 256):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * height * width, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden // 2),
            nn.ReLU(),
            nn.Linear(hidden // 2, num_classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)


class CNN(nn.Module):
    def __init__(self, channels: int, height: int, width: int, num_classes: int, width_mult: int = 32):
        super().__init__()
        c = width_mult
        self.features = nn.Sequential(
            nn.Conv2d(channels, c, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, 2 * c, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * c, 2 * c, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(2 * c, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


class LSTM(nn.Module):
    """Reads the image row by row: a sequence of H steps of C*W features. The state starts
    at zero inside each call, so nothing ties the module to one batch size."""

    def __init__(self, channels: int, height: int, width: int, num_classes: int, hidden: int = 128):
        super().__init__()
        self.lstm = nn.LSTM(channels * width, hidden, batch_first=True)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        b, c, h, w = images.shape
        rows = images.permute(0, 2, 1, 3).reshape(b, h, c * w)
        out, _ = self.lstm(rows)
        return self.head(out[:, -1])


ARCHITECTURES: dict[str, type[nn.Module]] = {"fcn": FCN, "cnn": CNN, "lstm": LSTM}


@register("custom")
def load_custom(model_cfg: DictConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    from benchmark.models.training import TrainRecipe, cache_key, load_or_train

    (image,), _ = splits.eval[0]
    shape = tuple(image.shape)
    module = ARCHITECTURES[model_cfg.arch](*shape, num_classes=splits.num_classes, **model_cfg.options)
    if not (model_cfg.pretrained and splits.cheap_to_train):
        return LoadedModel(module.eval(), "random", {"input_shape": shape})
    recipe = TrainRecipe()
    key = cache_key(model_cfg.arch, shape, splits.num_classes, splits.name, recipe)
    path = cache_dir / "weights" / f"{model_cfg.arch}-{splits.name}-{key}.pt"
    trained_now = load_or_train(module, splits.train, path, recipe)
    return LoadedModel(
        module.eval(),
        "trained",
        {"input_shape": shape, "weights_file": str(path), "trained_now": trained_now},
    )
