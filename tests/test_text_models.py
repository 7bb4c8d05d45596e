"""T5 (answers positive/negative) and GPT-Neo (next-token logits) from tiny checkpoints built
here with save_pretrained and read back through the same loaders as the real ones."""

import copy
import json
import math

import pytest
import torch

from benchmark.backends import BuildContext, create_backend
from benchmark.data import batches, load_dataset
from benchmark.measure.quality import NextTokenMeter
from benchmark.models import load_model
from benchmark.sweep.cell import unsupported_reason
from tests.conftest import WORDS, compose_cell, run_benchmark, write_imdb_acl

SPECIAL = ["<pad>", "</s>", "<unk>"]
VOCAB = [*SPECIAL, "sst2", "sentence", ":", "positive", "negative", *WORDS]


def save_word_tokenizer(root, pad: bool) -> None:
    """A word-level tokenizer (what AutoTokenizer reads back from tokenizer.json)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    special = {"unk_token": "<unk>", "eos_token": "</s>", **({"pad_token": "<pad>"} if pad else {})}
    PreTrainedTokenizerFast(tokenizer_object=words, **special).save_pretrained(root)


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    from transformers import T5Config, T5ForConditionalGeneration

    root = tmp_path_factory.mktemp("tiny-t5")
    save_word_tokenizer(root, pad=True)
    config = T5Config(vocab_size=len(VOCAB), d_model=16, d_ff=32, d_kv=8, num_layers=1, num_heads=2,
                      pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)  # fmt: skip
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(root)
    return root


@pytest.fixture(scope="module")
def tiny_gptneo(tmp_path_factory):
    from transformers import GPTNeoConfig, GPTNeoForCausalLM

    root = tmp_path_factory.mktemp("tiny-gptneo")
    save_word_tokenizer(root, pad=False)  # like GPT-Neo's: no pad token, the loader pads with EOS
    config = GPTNeoConfig(vocab_size=len(VOCAB), hidden_size=16, num_layers=2, num_heads=2,
                          attention_types=[[["global", "local"], 1]], max_position_embeddings=64,
                          window_size=8, bos_token_id=1, eos_token_id=1)  # fmt: skip
    torch.manual_seed(0)
    GPTNeoForCausalLM(config).save_pretrained(root)
    return root


def text_model(name, path, data_dir):
    cfg = compose_cell(f"model={name}", f"model.arch={path}", "model.max_length=16").model
    splits = load_dataset("imdb", data_dir, model_cfg=cfg)
    return cfg, splits, load_model(cfg, splits, data_dir)


def build(loaded, batch, backend, workdir):
    ctx = BuildContext(copy.deepcopy(loaded.module), batch.inputs, compose_cell("precision=fp32").precision,
                       torch.device("cpu"), lambda: iter(()), "dynamic", workdir, 2)  # fmt: skip
    return create_backend(compose_cell(f"backend={backend}").backend).build(ctx)


def test_t5_reads_the_prompt_and_scores_its_label_words(tiny_t5, tmp_path):
    write_imdb_acl(tmp_path)
    cfg, splits, loaded = text_model("t5", tiny_t5, tmp_path)
    (ids, mask), _ = splits.eval[0]
    assert ids[:3].tolist() == [VOCAB.index("sst2"), VOCAB.index("sentence"), VOCAB.index(":")]
    assert loaded.facts["label_token_ids"] == [VOCAB.index("negative"), VOCAB.index("positive")]
    batch = next(batches(splits.eval, 4))
    with torch.inference_mode():
        outputs = loaded.module(*batch.inputs)
    assert outputs.shape == (4, cfg.options.max_new_tokens, len(VOCAB))
    assert torch.equal(loaded.to_scores(outputs), outputs[:, 0, loaded.facts["label_token_ids"]])


def test_t5_greedy_steps_match_generate(tiny_t5, tmp_path):
    write_imdb_acl(tmp_path)
    _, splits, loaded = text_model("t5", tiny_t5, tmp_path)
    ids, mask = next(batches(splits.eval, 4)).inputs
    with torch.inference_mode():
        steps = loaded.module(ids, mask).argmax(-1)
        generated = loaded.module.model.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=2,
                                                 min_new_tokens=2)  # fmt: skip
    assert torch.equal(steps, generated[:, 1:])  # generate() starts with the decoder start token


def test_t5_fp16_is_refused_with_the_reason():
    assert "use bf16" in unsupported_reason(
        compose_cell("model=t5", "precision=fp16", "backend=eager"), "cuda"
    )
    assert unsupported_reason(compose_cell("model=t5", "precision=bf16", "backend=eager"), "cuda") is None


@pytest.mark.parametrize("backend", ["eager", "torchscript", "onnxruntime"])
@pytest.mark.parametrize("name", ["t5", "gptneo"])
def test_text_models_run_through_each_cpu_backend(name, backend, tiny_t5, tiny_gptneo, tmp_path):
    write_imdb_acl(tmp_path)
    _, splits, loaded = text_model(name, {"t5": tiny_t5, "gptneo": tiny_gptneo}[name], tmp_path)
    batch = next(batches(splits.eval, 4))
    artifact = build(loaded, batch, backend, tmp_path)
    with torch.inference_mode():
        assert torch.allclose(artifact.run(*batch.inputs), loaded.module(*batch.inputs), atol=1e-4)


def test_gptneo_perplexity_is_the_models_own_loss(tiny_gptneo, tmp_path):
    write_imdb_acl(tmp_path)
    _, splits, loaded = text_model("gptneo", tiny_gptneo, tmp_path)
    batch = next(batches(splits.eval, 4))
    ids, mask = batch.inputs
    assert (mask == 0).any()  # reviews shorter than max_length: the padding must not count
    meter = NextTokenMeter()
    with torch.inference_mode():
        outputs = loaded.module(ids, mask)
        meter.update(outputs, meter.summarize(outputs, batch), batch)
        labels = ids.masked_fill(mask == 0, -100)
        loss = loaded.module.model(input_ids=ids, attention_mask=mask, labels=labels).loss
    metrics = meter.compute()
    assert metrics["top1_agreement"] == 1.0 and metrics["rel_error"] == 0.0
    assert metrics["perplexity"] == pytest.approx(math.exp(float(loss)), rel=1e-4)
    assert metrics["eval_tokens"] == int(mask[:, 1:].sum())


def test_gptneo_generation_speed_counts_new_tokens(tiny_gptneo, tmp_path):
    write_imdb_acl(tmp_path)
    _, splits, loaded = text_model("gptneo", tiny_gptneo, tmp_path)
    extra_metrics = loaded.extra_metrics  # what the worker calls after the timed loop
    artifact = build(loaded, next(batches(splits.eval, 2)), "eager", tmp_path)
    inputs = next(batches(splits.eval, 2)).inputs
    assert extra_metrics(artifact, inputs, lambda: None)["generation_tokens_per_s"] > 0
    artifact.eager_module = None  # a compiled or exported artifact: generate() cannot run on it
    assert extra_metrics(artifact, inputs, lambda: None) == {}


TINY_GPTNEO = ("model=gptneo", "model.pretrained=false", "dataset=synthetic", "model.max_length=16",
               "model.vocab_size=64", "model.options.config.vocab_size=64", "model.options.config.hidden_size=16",
               "model.options.config.num_layers=2", "model.options.config.num_heads=2",
               "model.options.config.attention_types=[[[global,local],1]]", "model.options.generate_tokens=4",
               "eval_samples=8", "timing.min_iters=3", "timing.min_s=0.05", "timing.warmup_s=0.05")  # fmt: skip


def test_gptneo_cell_logs_perplexity_and_no_f1(tmp_path):
    done = run_benchmark(tmp_path, *TINY_GPTNEO, "device=cpu", "batch_size=4", "backend=eager")
    assert done.returncode == 0, done.stderr[-2000:]
    (record_file,) = tmp_path.glob("outputs/runs/*/record.json")
    record = json.loads(record_file.read_text())
    assert record["status"] == "ok", record["message"]
    metrics = record["metrics"]
    assert metrics["top1_agreement"] == 1.0 and metrics["perplexity"] > 1.0
    assert metrics["generation_tokens_per_s"] > 0 and "f1_macro" not in metrics
    assert record["facts"]["weights"] == "random"
