"""The zoo's loaders on data and checkpoints built here (never downloaded): ImageNet-mini as a
generated ImageFolder, IMDB in both layouts, a tiny BERT saved with save_pretrained and loaded
through the same path as the real checkpoint."""

import copy
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from benchmark.backends import BuildContext, create_backend
from benchmark.data import BadDataFile, MissingAsset, batches, load_dataset
from benchmark.models import load_model
from tests.conftest import WORDS, compose_cell, write_imdb_acl


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    root = tmp_path_factory.mktemp("tiny-bert")
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(root)
    config = BertConfig(
        vocab_size=len(WORDS) + 5,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=2,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(root)
    return root


def bert_cfg(path, **extra):
    return compose_cell(
        "model=bert", f"model.arch={path}", "model.max_length=16", *[f"{k}={v}" for k, v in extra.items()]
    ).model


def write_imdb_arrow(root):
    import pyarrow as pa

    for split in ("train", "test"):
        (root / "imdb" / split).mkdir(parents=True)
        table = pa.table({"text": ["awful bad", "great good"] * 5, "label": [0, 1] * 5})
        with (
            pa.OSFile(str(root / "imdb" / split / "data-00000-of-00001.arrow"), "wb") as sink,
            pa.ipc.new_stream(sink, table.schema) as writer,
        ):
            writer.write_table(table)


@pytest.mark.parametrize("layout", [write_imdb_acl, write_imdb_arrow])
def test_imdb_loads_shuffled_and_tokenized_to_fixed_length(layout, tiny_bert, tmp_path):
    layout(tmp_path)
    splits = load_dataset("imdb", tmp_path, seed=0, model_cfg=bert_cfg(tiny_bert))
    (ids, mask), _ = splits.eval[0]
    assert ids.shape == mask.shape == (16,) and ids.dtype == torch.long
    labels = [int(splits.eval[i][1]) for i in range(len(splits.eval))]
    assert sorted(set(labels)) == [0, 1] and labels != sorted(labels)  # shuffled, not negatives first


def test_imdb_missing_or_empty_names_the_fix(tiny_bert, tmp_path):
    with pytest.raises(MissingAsset, match="make data"):
        load_dataset("imdb", tmp_path, model_cfg=bert_cfg(tiny_bert))
    (tmp_path / "imdb" / "aclImdb" / "test" / "neg").mkdir(parents=True)
    with pytest.raises(BadDataFile, match="holds no review"):
        load_dataset("imdb", tmp_path, model_cfg=bert_cfg(tiny_bert))


@pytest.mark.parametrize("backend", ["eager", "torchscript", "onnxruntime"])
def test_tiny_bert_runs_through_each_cpu_backend(backend, tiny_bert, tmp_path):
    write_imdb_acl(tmp_path)
    model_cfg = bert_cfg(tiny_bert)
    splits = load_dataset("imdb", tmp_path, model_cfg=model_cfg)
    loaded = load_model(model_cfg, splits, tmp_path)
    assert loaded.weights == "pretrained"
    batch = next(batches(splits.eval, 4))
    ctx = BuildContext(copy.deepcopy(loaded.module), batch.inputs, compose_cell("precision=fp32").precision, torch.device("cpu"),
                       lambda: iter(()), "dynamic", tmp_path, 2)  # fmt: skip
    artifact = create_backend(compose_cell(f"backend={backend}").backend).build(ctx)
    with torch.inference_mode():
        expected = loaded.module(*batch.inputs)
        assert torch.allclose(artifact.run(*batch.inputs), expected, atol=1e-4)
    assert batch.inputs[1].min() == 0  # padded rows: the mask reaches the fused attention too
    if backend == "onnxruntime":  # one fused attention and two skip layer norms per layer
        assert artifact.facts["ort_fusions"]["attention"] == 2
        assert artifact.facts["ort_fusions"]["skip_layer_normalization"] == 4
        assert artifact.facts["ort_fusions"]["bias_gelu"] == 2  # exact to 1e-4 above: GELU fused right


def test_random_bert_needs_no_download():
    cfg = compose_cell("model=bert", "model.pretrained=false", "model.max_length=8").model
    cfg = OmegaConf.merge(cfg, {"options": {"config_class": "BertConfig"}})
    splits = load_dataset("synthetic", None, model_cfg=cfg, limit=4)
    (ids, mask), label = splits.eval[0]
    assert ids.shape == (8,) and int(ids.max()) < 30522 and label == -1 and not splits.labelled


def test_missing_checkpoint_and_weights_name_make_data(tmp_path, monkeypatch):
    with pytest.raises(MissingAsset, match="make data"):
        load_model(
            compose_cell("model=bert").model,
            load_dataset("synthetic", None, model_cfg=compose_cell("model=bert").model, limit=2),
            tmp_path,
        )
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    resnet = compose_cell("model=resnet").model
    with pytest.raises(MissingAsset, match=r"resnet18 weights .*make data"):
        load_model(resnet, load_dataset("synthetic", None, model_cfg=resnet, limit=2), tmp_path)


def make_imagenet(root, classes=1000, per_class=1):
    for split in ("train", "val"):
        for c in range(classes):
            folder = root / "imagenet-mini" / split / f"n{c:08d}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.new("RGB", (40, 30), (c % 256, i * 40, 0)).save(folder / f"img{i}.JPEG")


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet")
    make_imagenet(root)
    return root


def test_imagenet_mini_labels_follow_sorted_wnids(imagenet):
    splits = load_dataset("imagenet_mini", imagenet, model_cfg=compose_cell("model=cnn").model, limit=20)
    assert len(splits.eval) == 20 and splits.num_classes == 1000
    (image,), label = splits.eval[5]
    assert image.shape == (3, 224, 224)
    assert 0 <= label < 1000


def test_imagenet_mini_corrupt_image_is_named(imagenet, tmp_path):
    bad = imagenet / "imagenet-mini" / "val" / "n00000000" / "img0.JPEG"
    original = bad.read_bytes()
    bad.write_bytes(b"not a jpeg")
    try:
        splits = load_dataset("imagenet_mini", imagenet, model_cfg=compose_cell("model=cnn").model)
        with pytest.raises(BadDataFile, match="img0.JPEG is not a readable image"):
            splits.eval[0]
    finally:
        bad.write_bytes(original)


def test_imagenet_mini_missing_class_folder_is_refused(tmp_path):
    make_imagenet(tmp_path, classes=3)
    with pytest.raises(BadDataFile, match="holds 3 class folders, not 1000"):
        load_dataset("imagenet_mini", tmp_path, model_cfg=compose_cell("model=cnn").model)


def test_truncated_checkpoint_names_its_folder(tiny_bert, tmp_path):
    import shutil

    broken = tmp_path / "broken-bert"
    shutil.copytree(tiny_bert, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    write_imdb_acl(tmp_path)
    cfg = bert_cfg(broken)
    with pytest.raises(BadDataFile, match=rf"the weights of {broken} cannot be read .*{broken}.*make data"):
        load_model(cfg, load_dataset("imdb", tmp_path, model_cfg=cfg), tmp_path)


def test_make_data_fetches_what_the_model_yamls_declare():
    from benchmark.data.fetch import declared_fetches

    assert [f.label for f in declared_fetches(Path("data"))] == [
        "hf textattack/bert-base-uncased-imdb",
        "causal_lm EleutherAI/gpt-neo-125M",
        "torchvision mobilenet_v3_large",
        "torchvision resnet18",
        "t5 google-t5/t5-small",
        "dataset imdb",
        "dataset imagenet_mini",
    ]  # not the generic torchvision/hf YAMLs (no arch until overridden), nor digits or synthetic


def test_a_new_model_yaml_is_fetched_by_its_familys_fetcher(tmp_path, monkeypatch):
    from benchmark import data, models
    from benchmark.data.fetch import declared_fetches
    from benchmark.plugins import import_plugin

    import_plugin("models", "torchvision")
    import_plugin("data", "imdb")
    asked = []
    monkeypatch.setitem(models.FETCHERS, "torchvision", lambda cfg: asked.append(cfg.options.weights) or "w")
    monkeypatch.setitem(data.FETCHERS, "imdb", lambda folder: asked.append(folder) or "d")
    (tmp_path / "effnet.yaml").write_text(
        "name: efficientnet_b0\nfamily: torchvision\narch: efficientnet_b0\ndataset: imdb\n"
        "options:\n  weights: IMAGENET1K_V1\n"
    )
    (tmp_path / "mine.yaml").write_text(
        "name: mine\nfamily: torchvision\narch: resnet18\npretrained: false\n"
    )
    fetches = declared_fetches(tmp_path / "data", model_dir=tmp_path)
    assert [f.label for f in fetches] == ["torchvision efficientnet_b0", "dataset imdb"]
    assert [f.run() for f in fetches] == ["w", "d"] and asked == ["IMAGENET1K_V1", tmp_path / "data"]
