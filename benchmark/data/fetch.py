"""`make data`: fetch, on a machine with internet, everything the zoo reads offline afterwards.

- IMDB: the original aclImdb archive -> data/imdb/aclImdb
- torchvision weights of resnet/mobilenet -> the torch hub cache (TORCH_HOME)
- Hugging Face checkpoints of the zoo (bert, t5, gptneo: every conf/model YAML of a Hugging
  Face family that names its checkpoint) -> the Hugging Face cache (HF_HOME)
- ImageNet-mini: Kaggle's 'ifigotin/imagenetmini-1000' through the kaggle CLI when it and its
  credentials are present; otherwise how to get it by hand.
After this, sweeps run with the hubs' offline switches set and never download."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from pathlib import Path

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
TORCHVISION = {"resnet18": "IMAGENET1K_V1", "mobilenet_v3_large": "IMAGENET1K_V1"}
HF_FAMILIES = ("hf", "t5", "causal_lm")
# PyTorch weights, configs and tokenizers only: not the TensorFlow, Flax, Rust or ONNX copies.
HF_SKIP = ["*.h5", "*.msgpack", "*.ot", "*.onnx", "onnx/*", "*.tflite", "*.gguf"]
KAGGLE_DATASET = "ifigotin/imagenetmini-1000"


def fetch_imdb(data_dir: Path) -> None:
    target = data_dir / "imdb" / "aclImdb"
    if (target / "test").is_dir():
        print(f"IMDB: already in {target}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "aclImdb.tar.gz"
        print(f"IMDB: downloading {IMDB_URL}")
        urllib.request.urlretrieve(IMDB_URL, archive)
        with tarfile.open(archive) as tar:
            tar.extractall(data_dir / "imdb", filter="data")
    print(f"IMDB: {target}")


def fetch_torchvision() -> None:
    from torchvision.models import get_model, get_model_weights

    for arch, weights in TORCHVISION.items():
        get_model(arch, weights=get_model_weights(arch)[weights])
        print(f"torchvision: {arch} {weights} cached")


def zoo_checkpoints() -> list[str]:
    """The checkpoints the zoo's YAMLs name (the generic `hf` YAML names none until overridden)."""
    from omegaconf import OmegaConf

    from benchmark.config import conf_dir

    checkpoints = []
    for path in sorted((conf_dir() / "model").glob("*.yaml")):
        model = OmegaConf.load(path)
        if model.get("family") in HF_FAMILIES and "${" not in str(model._get_node("arch")._value()):
            checkpoints.append(model.arch)
    return checkpoints


def fetch_hf() -> None:
    from huggingface_hub import snapshot_download

    for repo in zoo_checkpoints():
        print(f"Hugging Face: {repo} cached in {snapshot_download(repo, ignore_patterns=HF_SKIP)}")


def fetch_imagenet_mini(data_dir: Path) -> None:
    target = data_dir / "imagenet-mini"
    if (target / "val").is_dir():
        print(f"ImageNet-mini: already in {target}")
        return
    kaggle = shutil.which("kaggle")
    has_credentials = (Path.home() / ".kaggle" / "kaggle.json").is_file()
    if not (kaggle and has_credentials):
        print(
            f"ImageNet-mini: not fetched. Get Kaggle's '{KAGGLE_DATASET}' (pip install kaggle, put your API token in "
            f"~/.kaggle/kaggle.json, rerun `make data`), or download it from kaggle.com and unpack it so that "
            f"{target}/train and {target}/val hold the 1,000 wnid folders."
        )
        return
    subprocess.run(
        [kaggle, "datasets", "download", "-d", KAGGLE_DATASET, "-p", str(data_dir), "--unzip"], check=True
    )
    print(f"ImageNet-mini: {target}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.data.fetch", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    args = parser.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    fetch_imdb(args.data_dir)
    fetch_torchvision()
    fetch_hf()
    fetch_imagenet_mini(args.data_dir)


if __name__ == "__main__":
    main()
