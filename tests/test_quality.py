import pytest
import torch
from sklearn.metrics import f1_score

from benchmark.data import Batch
from benchmark.measure.quality import FidelityMeter, classification_scores


def batch_of(rows: int, valid: int | None = None) -> Batch:
    return Batch((torch.zeros(rows, 1),), torch.zeros(rows), rows if valid is None else valid)


def test_f1_is_macro_averaged_like_sklearn():
    torch.manual_seed(0)
    predictions = torch.randint(0, 5, (200,)).tolist()
    labels = torch.randint(0, 5, (200,)).tolist()
    scores = classification_scores(predictions, labels, num_classes=5)
    assert scores["f1_macro"] == pytest.approx(f1_score(labels, predictions, average="macro"), abs=1e-6)
    assert scores["accuracy"] == pytest.approx(
        sum(p == t for p, t in zip(predictions, labels, strict=True)) / 200
    )


def test_scores_refuse_mismatched_lengths():
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        classification_scores([0, 1, 1], [0, 1], num_classes=2)


def test_identical_outputs_have_perfect_fidelity():
    logits = torch.randn(130, 7)
    meter = FidelityMeter()
    for chunk in range(0, 130, 64):
        outputs = logits[chunk : chunk + 64]
        batch = batch_of(len(outputs))
        meter.update(outputs, meter.summarize(outputs, batch), batch)
    m = meter.compute()
    assert m == {"eval_samples": 130.0, "top1_agreement": 1.0, "rel_error": 0.0}
    assert meter.predictions == logits.argmax(1).tolist()


def test_fidelity_counts_disagreement_and_relative_error():
    reference = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    outputs = reference.clone()
    outputs[0] = torch.tensor([0.0, 2.0])  # one flipped prediction
    meter = FidelityMeter()
    meter.update(outputs, reference, batch_of(4))
    m = meter.compute()
    assert m["top1_agreement"] == pytest.approx(0.75)
    assert m["rel_error"] == pytest.approx((8**0.5) / (16**0.5))


def test_padding_rows_are_not_scored_and_scores_come_from_to_scores():
    outputs = torch.randn(4, 3, 5)  # e.g. T5: (batch, steps, vocabulary)
    meter = FidelityMeter(to_scores=lambda out: out[:, 0, [1, 3]])
    batch = batch_of(4, valid=3)
    reference = meter.summarize(outputs, batch)
    assert reference.shape == (3, 2)
    meter.update(outputs, reference, batch)
    assert meter.predictions == outputs[:3, 0, [1, 3]].argmax(-1).tolist()
    assert meter.compute()["eval_samples"] == 3.0
