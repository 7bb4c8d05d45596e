"""Quality of the timed artifact.

Fidelity to the FP32 eager reference (top-1 agreement, relative output error) is measured in
the worker, batch by batch, on the same inputs. F1 and accuracy are computed by torchmetrics
from the worker's predictions in the parent process: importing torchmetrics costs several
seconds, paid once per sweep there instead of once per cell.

A meter first turns the FP32 model's outputs into a compact reference kept on the host
(`reference`), then compares the artifact's outputs on the same batch with it (`update`).
Only the batch's `valid` rows count: the rest pad the last batch."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from benchmark.data import Batch


class FidelityMeter:
    """Classifiers: predictions of the artifact and how far its class scores are from FP32.
    `to_scores` maps the model's outputs to (batch, classes) scores (T5: its label words)."""

    def __init__(self, to_scores: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.to_scores = to_scores or (lambda outputs: outputs)
        self.predictions: list[int] = []
        self.agree = 0
        self.err_sq = 0.0
        self.ref_sq = 0.0

    def reference(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        return self.to_scores(outputs)[: batch.valid].float().cpu()

    def update(self, outputs: torch.Tensor, reference: torch.Tensor, batch: Batch) -> None:
        logits = self.to_scores(outputs)[: batch.valid].detach().float().cpu()
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


class NextTokenMeter:
    """Language models: next-token agreement with FP32 (`top1_agreement`), perplexity of the
    artifact and of FP32 on the text, and the relative error of the per-token losses, over the
    real (unmasked) tokens. The reference keeps two numbers per token, not the logits."""

    predictions = None  # no classes: F1 does not apply

    def __init__(self) -> None:
        self.tokens = 0
        self.agree = 0
        self.nll = 0.0
        self.ref_nll = 0.0
        self.err_sq = 0.0
        self.ref_sq = 0.0

    @staticmethod
    def _next_token(outputs: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Per real next token: the predicted id, and the loss of the true id."""
        ids, mask = (t[: batch.valid, 1:].to(outputs.device) for t in batch.inputs[:2])
        logits = outputs[: batch.valid, :-1].float()
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids, reduction="none")
        real = mask.bool()
        return logits.argmax(-1)[real].cpu(), loss[real].cpu()

    def reference(self, outputs: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        return self._next_token(outputs, batch)

    def update(
        self, outputs: torch.Tensor, reference: tuple[torch.Tensor, torch.Tensor], batch: Batch
    ) -> None:
        predicted, loss = self._next_token(outputs, batch)
        ref_predicted, ref_loss = reference
        self.tokens += predicted.numel()
        self.agree += int((predicted == ref_predicted).sum())
        self.nll += float(loss.double().sum())
        self.ref_nll += float(ref_loss.double().sum())
        self.err_sq += float(((loss - ref_loss) ** 2).sum())
        self.ref_sq += float((ref_loss**2).sum())

    def compute(self) -> dict[str, float]:
        if not self.tokens:
            raise ValueError("no token was evaluated")
        return {
            "eval_tokens": float(self.tokens),
            "top1_agreement": self.agree / self.tokens,
            "perplexity": math.exp(self.nll / self.tokens),
            "reference_perplexity": math.exp(self.ref_nll / self.tokens),
            "rel_error": (self.err_sq**0.5) / max(self.ref_sq**0.5, 1e-12),
        }


def meter_for(task: str, to_scores=None) -> FidelityMeter | NextTokenMeter:
    if task == "language_modeling":
        return NextTokenMeter()
    return FidelityMeter(to_scores)


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
