import pytest
import torch
from sklearn.metrics import f1_score

from benchmark.measure.quality import QualityMeter


def test_f1_matches_sklearn_macro_and_fidelity_is_exact_for_identical_outputs():
    torch.manual_seed(0)
    logits = torch.randn(200, 5)
    labels = torch.randint(0, 5, (200,))
    meter = QualityMeter(num_classes=5)
    for chunk in range(0, 200, 64):
        meter.update(logits[chunk : chunk + 64], logits[chunk : chunk + 64], labels[chunk : chunk + 64])
    m = meter.compute()
    assert m["f1_macro"] == pytest.approx(f1_score(labels, logits.argmax(1), average="macro"), abs=1e-6)
    assert m["accuracy"] == pytest.approx(float((logits.argmax(1) == labels).float().mean()), abs=1e-6)
    assert m["top1_agreement"] == 1.0 and m["rel_error"] == 0.0 and m["eval_samples"] == 200


def test_fidelity_counts_disagreement_and_relative_error():
    reference = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    outputs = reference.clone()
    outputs[0] = torch.tensor([0.0, 2.0])  # one flipped prediction
    meter = QualityMeter(num_classes=2, labelled=False)
    meter.update(outputs, reference, torch.full((4,), -1))
    m = meter.compute()
    assert m["top1_agreement"] == pytest.approx(0.75)
    assert m["rel_error"] == pytest.approx((8**0.5) / (16**0.5))
    assert "f1_macro" not in m  # unlabelled data: no F1 to report
