"""`make data`: fetch, on a machine with internet, exactly what the model YAMLs (conf/model)
declare, so that sweeps run offline afterwards. For each YAML, its family's fetcher gets the
weights it names (torchvision weights -> the torch hub cache, Hugging Face checkpoints -> the
Hugging Face cache) and its dataset's fetcher gets its dataset (IMDB, ImageNet-mini with Kaggle
credentials) into --data-dir. A family or dataset module brings its own fetcher (`register(...,
fetch=...)`); those that need nothing from the internet (custom, module, onnx; digits, synthetic)
have none. A YAML whose arch is an interpolation (the generic torchvision and hf ones) names no
weights until overridden; one with `pretrained: false` needs none."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Fetch:
    label: str  # "torchvision resnet18", "dataset imdb"
    run: Callable[[], str]  # downloads, returns where it put it


def declared_fetches(data_dir: Path, model_dir: Path | None = None) -> list[Fetch]:
    """One Fetch per distinct asset the model YAMLs declare, models first."""
    from omegaconf import OmegaConf

    from benchmark import data, models
    from benchmark.config import conf_dir
    from benchmark.plugins import import_plugin

    weights, datasets = {}, {}
    for path in sorted((model_dir or conf_dir() / "model").glob("*.yaml")):
        model = OmegaConf.load(path)
        family, dataset = model.get("family"), model.get("dataset")
        if family and ":" not in family and model.get("pretrained", True) and not interpolated(model, "arch"):
            import_plugin("models", family)
            if family in models.FETCHERS:
                weights.setdefault(f"{family} {model.arch}", _bind(models.FETCHERS[family], model))
        if dataset and ":" not in dataset:
            import_plugin("data", dataset)
            if dataset in data.FETCHERS:
                datasets.setdefault(f"dataset {dataset}", _bind(data.FETCHERS[dataset], data_dir))
    return [Fetch(label, run) for label, run in {**weights, **datasets}.items()]


def interpolated(node, key: str) -> bool:
    return "${" in str(node._get_node(key)._value()) if key in node else True


def _bind(fetch: Callable, argument) -> Callable[[], str]:
    return lambda: fetch(argument)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.data.fetch", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    args = parser.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    for fetch in declared_fetches(args.data_dir):
        print(fetch.run())


if __name__ == "__main__":
    main()
