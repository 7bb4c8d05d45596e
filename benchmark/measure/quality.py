"""Quality of the timed artifact.

Fidelity to the FP32 eager reference (top-1 agreement, relative output error) is measured in
the worker, batch by batch, on the same inputs. F1 and accuracy are computed by torchmetrics
from the worker's predictions in the parent process: importing torchmetrics costs several
seconds, paid once per sweep there instead of once per cell.

A meter turns a model's outputs into a compact summary kept on the host (`summarize`): the
artifact's during the eval pass, the FP32 model's after timing (so nothing of the FP32 pass is
resident while the artifact is scored and timed), then compares the two (`compare`). Only the
batch's `valid` rows count: the rest pad the last batch.

`gate_failure` is the quality gate: a row whose fidelity collapses is not a speed result."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from benchmark.data import Batch


class FidelityMeter:
    """Classifiers: predictions of the artifact and how far its class scores are from FP32.
    `to_scores` maps the model's outputs to (batch, classes) scores (T5: its label words)."""

    def __init__(self, to_scores: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.to_scores = to_scores or (lambda outputs: outputs)
        self.predictions: list[int] = []
        self.reference_predictions: list[int] = []
        self.agree = 0
        self.err_sq = 0.0
        self.ref_sq = 0.0

    def summarize(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        return self.to_scores(outputs)[: batch.valid].detach().float().cpu()

    def update(self, outputs: torch.Tensor, reference: torch.Tensor, batch: Batch) -> None:
        self.compare(self.summarize(outputs, batch), reference)

    def compare(self, logits: torch.Tensor, reference: torch.Tensor) -> None:
        predicted, reference_predicted = logits.argmax(-1), reference.argmax(-1)
        self.predictions += predicted.tolist()
        self.reference_predictions += reference_predicted.tolist()
        self.agree += int((predicted == reference_predicted).sum())
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

    predictions = reference_predictions = None  # no classes: F1 does not apply

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

    def summarize(self, outputs: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        return self._next_token(outputs, batch)

    def update(
        self, outputs: torch.Tensor, reference: tuple[torch.Tensor, torch.Tensor], batch: Batch
    ) -> None:
        self.compare(self.summarize(outputs, batch), reference)

    def compare(
        self, summary: tuple[torch.Tensor, torch.Tensor], reference: tuple[torch.Tensor, torch.Tensor]
    ) -> None:
        predicted, loss = summary
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


CLASS_MEAN_HEAD = "class means"  # fact random_head: a random model fitted to clear top-1 decisions


@dataclass(frozen=True)
class GatedRow:
    """What the quality gate needs to know of a row besides its metrics."""

    precision: str
    near_tied: bool = False  # random weights' near-tied logits: top-1 agreement is reported, not gated
    tf32: bool = False  # an fp32 row with TF32 allowed is held to the tf32 bound
    tf32_seen: bool = False  # torch's TF32 flags were on while the row ran (its record says)


def gate_failure(metrics: dict[str, float], row: GatedRow, gate) -> str | None:
    """Why this row fails its quality gate (conf: quality_gate), or None if it passes.
    MLPerf's rule is the model: a reduced-precision row keeps at least a stated share of the
    FP32 quality (F1 where labels exist), its predictions agree with FP32's (unless its logits
    are near-tied, as a random network's are: its argmax flips with any rounding, and
    agreement would measure the tie, not the precision), and its outputs stay within the relative
    error its precision allows (a collapse to zeros is 1.0; TF32 in an "fp32" row is ~1e-4)."""
    reasons = []
    if row.tf32_seen and not row.tf32:  # a library flipped it: the float layers ran TF32, unasked
        reasons.append("TF32 was on while it ran, though tf32=false")
    precision = row.precision
    agreement, min_agreement = metrics.get("top1_agreement"), gate.min_top1_agreement.get(precision)
    if not row.near_tied and None not in (agreement, min_agreement) and agreement < min_agreement:
        reasons.append(f"top-1 agreement with FP32 {agreement:.3f} < {min_agreement:g}")
    rel_error = metrics.get("rel_error")
    max_error = gate.max_rel_error.get("tf32" if row.tf32 and precision == "fp32" else precision)
    if None not in (rel_error, max_error) and rel_error > max_error:
        reasons.append(f"relative error vs FP32 {rel_error:.3g} > {max_error:g}")
    f1, f1_fp32, min_ratio = (
        metrics.get("f1_macro"),
        metrics.get("f1_macro_fp32"),
        gate.min_f1_ratio.get(precision),
    )
    if f1 is not None and f1_fp32 and min_ratio is not None and f1 < min_ratio * f1_fp32:
        reasons.append(f"F1 {f1:.4f} < {min_ratio:g} x FP32's {f1_fp32:.4f}")
    return "; ".join(reasons) or None
