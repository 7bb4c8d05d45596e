"""IMDB sentiment (25,000 test reviews, binary) from data/imdb, in either layout:
- Hugging Face `datasets` saved to disk: data/imdb/{train,test}/*.arrow (read with pyarrow);
- the original aclImdb folders: data/imdb/aclImdb/{train,test}/{neg,pos}/*.txt.
The test split is stored negatives first, so it is shuffled with a seed. Tokenization (fixed
padding to model.max_length; the attention mask is an input like the ids) happens here,
before any timing. Calibration reads the train split."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from benchmark.data import BadDataFile, MissingAsset, Splits, register

FETCH = "run `make data` on a machine with internet (it saves IMDB to data/imdb)"
URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
TRAIN_SAMPLES = 512  # enough for INT8 calibration


def read_arrow_split(folder: Path) -> tuple[list[str], list[int]]:
    import pyarrow as pa

    files = sorted(folder.glob("*.arrow"))
    if not files:
        raise MissingAsset(f"no .arrow file in {folder}; {FETCH}")
    texts, labels = [], []
    for file in files:
        try:
            with pa.memory_map(str(file)) as source:
                table = pa.ipc.open_stream(source).read_all()
        except pa.ArrowInvalid as exc:
            raise BadDataFile(f"{file} is not a readable Arrow file ({exc}); {FETCH}") from None
        texts += table.column("text").to_pylist()
        labels += table.column("label").to_pylist()
    return texts, labels


def read_aclimdb_split(folder: Path) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    for label, polarity in enumerate(("neg", "pos")):
        for file in sorted((folder / polarity).glob("*.txt")):
            texts.append(file.read_text(encoding="utf-8"))
            labels.append(label)
    return texts, labels


def read_split(root: Path, split: str) -> tuple[list[str], list[int]]:
    if (root / split).is_dir() and any((root / split).glob("*.arrow")):
        texts, labels = read_arrow_split(root / split)
    elif (root / "aclImdb" / split).is_dir():
        texts, labels = read_aclimdb_split(root / "aclImdb" / split)
    else:
        raise MissingAsset(
            f"IMDB {split} split not found under {root} (neither {split}/*.arrow nor aclImdb/{split}/); {FETCH}"
        )
    if not texts:
        raise BadDataFile(f"IMDB {split} split under {root} holds no review; {FETCH}")
    return texts, labels


def shuffled(
    texts: list[str], labels: list[int], seed: int, limit: int | None
) -> tuple[list[str], list[int]]:
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed))[:limit].tolist()
    return [texts[i] for i in order], [labels[i] for i in order]


def tokenize(tokenizer, texts: list[str], labels: list[int], model_cfg) -> TensorDataset:
    encoded = tokenizer(
        [model_cfg.prompt + text for text in texts],
        padding="max_length",
        truncation=True,
        max_length=model_cfg.max_length,
        return_tensors="pt",
    )
    return _TextPairs(encoded["input_ids"], encoded["attention_mask"], torch.tensor(labels))


class _TextPairs(TensorDataset):
    def __getitem__(self, index):
        ids, mask, label = super().__getitem__(index)
        return (ids, mask), label


def fetch_imdb(data_dir: Path) -> str:
    """`make data`: the original aclImdb archive -> data/imdb/aclImdb."""
    import tarfile
    import tempfile
    import urllib.request

    target = data_dir / "imdb" / "aclImdb"
    if (target / "test").is_dir():
        return f"IMDB: already in {target}"
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "aclImdb.tar.gz"
        print(f"IMDB: downloading {URL}")
        urllib.request.urlretrieve(URL, archive)
        with tarfile.open(archive) as tar:
            tar.extractall(data_dir / "imdb", filter="data")
    return f"IMDB: {target}"


@register("imdb", fetch=fetch_imdb)
def load_imdb(data_dir: Path, model_cfg, seed: int = 0, limit: int | None = None, **_) -> Splits:
    from benchmark.data.hf_hub import load_tokenizer

    root = Path(data_dir) / "imdb"
    tokenizer = load_tokenizer(model_cfg)
    test = shuffled(*read_split(root, "test"), seed, limit)
    train = shuffled(*read_split(root, "train"), seed + 1, TRAIN_SAMPLES)
    return Splits(
        "imdb",
        tokenize(tokenizer, *test, model_cfg),
        tokenize(tokenizer, *train, model_cfg),
        num_classes=2,
    )
