"""ImageNet-mini (Kaggle 'ifigotin/imagenetmini-1000'): data/imagenet-mini/{train,val}/<wnid>/*.JPEG.
Sorted wnid folders = torchvision's class index. The eval split is val (3,923 images);
INT8 calibration reads train. Preprocessing is the model's own (its weights' transforms)."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset, Subset

from benchmark.data import BadDataFile, MissingAsset, Splits, register

CLASSES = 1000
KAGGLE_DATASET = "ifigotin/imagenetmini-1000"
FETCH = (
    "run `make data` (needs Kaggle credentials) or unpack imagenetmini-1000 there; offline: "
    "dataset=synthetic_imagenet model.pretrained=false (random weights, fidelity to FP32 only)"
)


def imagenet_transform(model_cfg):
    """The weights' own transforms for torchvision models; the standard ImageNet ones otherwise."""
    from torchvision import transforms
    from torchvision.models import get_model_weights

    if model_cfg is not None and model_cfg.family == "torchvision":
        weights = model_cfg.options.get("weights") or "DEFAULT"
        return get_model_weights(model_cfg.arch)[weights].transforms()
    return transforms.Compose(
        [transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
         transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]
    )  # fmt: skip


class ImageFolderSplit(Dataset):
    def __init__(self, root: Path, transform):
        from torchvision.datasets import ImageFolder

        self.folder = ImageFolder(str(root), transform=transform, loader=self._open)

    @staticmethod
    def _open(path: str):
        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except (UnidentifiedImageError, OSError) as exc:
            raise BadDataFile(
                f"{path} is not a readable image ({type(exc).__name__}): delete or replace it"
            ) from None

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, index: int):
        image, label = self.folder[index]
        return (image,), label


def check_layout(root: Path) -> None:
    for split in ("train", "val"):
        folder = root / split
        if not folder.is_dir():
            raise MissingAsset(f"ImageNet-mini not found: {folder} is missing; {FETCH}")
        wnids = sorted(p.name for p in folder.iterdir() if p.is_dir())
        if len(wnids) != CLASSES:
            raise BadDataFile(
                f"{folder} holds {len(wnids)} class folders, not {CLASSES}: sorted folders must be torchvision's "
                f"class index, so a missing class would shift every label; restore the full set ({FETCH})"
            )


def fetch_imagenet_mini(data_dir: Path) -> str:
    """`make data`: through the kaggle CLI when it and its credentials are here; else how to
    get it by hand."""
    import shutil
    import subprocess

    target = data_dir / "imagenet-mini"
    if (target / "val").is_dir():
        return f"ImageNet-mini: already in {target}"
    kaggle = shutil.which("kaggle")
    if not (kaggle and (Path.home() / ".kaggle" / "kaggle.json").is_file()):
        return (
            f"ImageNet-mini: not fetched. Get Kaggle's '{KAGGLE_DATASET}' (pip install kaggle, put your API token in "
            f"~/.kaggle/kaggle.json, rerun `make data`), or download it from kaggle.com and unpack it so that "
            f"{target}/train and {target}/val hold the 1,000 wnid folders."
        )
    subprocess.run(
        [kaggle, "datasets", "download", "-d", KAGGLE_DATASET, "-p", str(data_dir), "--unzip"], check=True
    )
    return f"ImageNet-mini: {target}"


@register("imagenet_mini", fetch=fetch_imagenet_mini)
def load_imagenet_mini(
    data_dir: Path, model_cfg=None, seed: int = 0, limit: int | None = None, **_
) -> Splits:
    root = Path(data_dir) / "imagenet-mini"
    check_layout(root)
    transform = imagenet_transform(model_cfg)
    evaluation = ImageFolderSplit(root / "val", transform)
    if limit is not None and limit < len(evaluation):  # val is sorted by class: sample across classes
        picked = torch.randperm(len(evaluation), generator=torch.Generator().manual_seed(seed))[:limit]
        evaluation = Subset(evaluation, sorted(picked.tolist()))
    return Splits("imagenet_mini", evaluation, ImageFolderSplit(root / "train", transform), CLASSES)
