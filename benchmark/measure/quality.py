"""Quality of the timed artifact.

Fidelity to the FP32 eager reference (top-1 agreement, relative output error) is measured in
the worker, batch by batch, on the same inputs. F1 and accuracy are computed by torchmetrics
from the worker's predictions in the parent process: importing torchmetrics costs several
seconds, paid once per sweep there instead of once per cell."""

from __future__ import annotations

import torch


class FidelityMeter:
    """Predictions of the artifact and how far its outputs are from the FP32 reference."""

    def __init__(self) -> None:
        self.predictions: list[int] = []
        self.agree = 0
        self.err_sq = 0.0
        self.ref_sq = 0.0

    def update(self, logits: torch.Tensor, reference: torch.Tensor) -> None:
        logits, reference = logits.detach().float().cpu(), reference.float().cpu()
        predicted = logits.argmax(-1)
        self.predictions += predicted.tolist()
        self.agree += int((predicted == reference.argmax(-1)).sum())
        self.err_sq += float(((logits - reference) ** 2).sum())
        self.ref_sq += float((reference**2).sum())

    def compute(self) -> dict[str, float]:
        if not self.predictions:
            raise ValueError("no samples were evaluated")
        return {
            "eval_samples": float(len(self.predictions)),
            "top1_agreement": self.agree / len(self.predictions),
            "rel_error": (self.err_sq**0.5) / max(self.ref_sq**0.5, 1e-12),
        }


def classification_scores(predictions: list[int], labels: list[int], num_classes: int) -> dict[str, float]:
    """Macro-averaged F1 (each class counts alike) and accuracy, through torchmetrics."""
    from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

    if len(predictions) != len(labels) or not labels:
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    preds, target = torch.tensor(predictions), torch.tensor(labels)
    return {
        "f1_macro": float(multiclass_f1_score(preds, target, num_classes, average="macro")),
        "accuracy": float(multiclass_accuracy(preds, target, num_classes, average="micro")),
    }
