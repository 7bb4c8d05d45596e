import pytest
import torch
from sklearn.metrics import f1_score

from benchmark.measure.quality import FidelityMeter, classification_scores


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
        meter.update(logits[chunk : chunk + 64], logits[chunk : chunk + 64])
    m = meter.compute()
    assert m == {"eval_samples": 130.0, "top1_agreement": 1.0, "rel_error": 0.0}
    assert meter.predictions == logits.argmax(1).tolist()


def test_fidelity_counts_disagreement_and_relative_error():
    reference = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    outputs = reference.clone()
    outputs[0] = torch.tensor([0.0, 2.0])  # one flipped prediction
    meter = FidelityMeter()
    meter.update(outputs, reference)
    m = meter.compute()
    assert m["top1_agreement"] == pytest.approx(0.75)
    assert m["rel_error"] == pytest.approx((8**0.5) / (16**0.5))
