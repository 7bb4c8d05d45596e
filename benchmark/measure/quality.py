"""Quality of the timed artifact: F1 and accuracy against labels (torchmetrics), and
fidelity to the FP32 eager reference on the same inputs (top-1 agreement, relative error)."""

from __future__ import annotations

import torch
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score


class QualityMeter:
    def __init__(self, num_classes: int, labelled: bool = True):
        self.labelled = labelled
        self.f1 = MulticlassF1Score(num_classes=num_classes, average="macro")
        self.accuracy = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.samples = 0
        self.agree = 0
        self.err_sq = 0.0
        self.ref_sq = 0.0

    def update(self, logits: torch.Tensor, reference: torch.Tensor, labels: torch.Tensor) -> None:
        """All three for the valid rows of one batch; logits are cast to float32 on the host."""
        logits, reference = logits.detach().float().cpu(), reference.float().cpu()
        if self.labelled:
            self.f1.update(logits, labels)
            self.accuracy.update(logits, labels)
        self.samples += logits.shape[0]
        self.agree += int((logits.argmax(-1) == reference.argmax(-1)).sum())
        self.err_sq += float(((logits - reference) ** 2).sum())
        self.ref_sq += float((reference**2).sum())

    def compute(self) -> dict[str, float]:
        if self.samples == 0:
            raise ValueError("no samples were evaluated")
        metrics = {
            "eval_samples": float(self.samples),
            "top1_agreement": self.agree / self.samples,
            "rel_error": (self.err_sq**0.5) / max(self.ref_sq**0.5, 1e-12),
        }
        if self.labelled:
            metrics["f1_macro"] = float(self.f1.compute())
            metrics["accuracy"] = float(self.accuracy.compute())
        return metrics
