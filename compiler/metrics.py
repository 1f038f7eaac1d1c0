"""Scoring an edit exactly as docs/method.md §6 (the authors' evaluation), on logits already computed.

The one implementation: the edit-quality benchmark (benchmarks/edit_quality) and `catsplit eval`
(compiler/evaluate.py) both score through these functions.

Per video: softmax over every logit of the model, the coarse class c's probability set to 0 and the
rest renormalised, then the probabilities averaged over the video's views, then the argmax. For a flat
edit "every logit" means the old rows including c plus the new rows; since c is then masked, the
renormalised probabilities equal a softmax over the logits without c, which is what the spliced head
outputs, so `masked_probs` takes the coarse column as an optional extra column to drop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


def masked_probs(logits: np.ndarray, mask: int | None = None) -> np.ndarray:
    """logits [N, V, C] (N videos, V views) -> probabilities [N, C], p(mask) = 0, renormalised per view,
    then averaged over views."""
    z = np.asarray(logits, np.float64)
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    if mask is not None:
        p[..., mask] = 0.0
        p /= np.maximum(p.sum(axis=-1, keepdims=True), 1e-300)
    return p.mean(axis=1)


def predictions(logits: np.ndarray, mask: int | None = None) -> np.ndarray:
    """Argmax of `masked_probs` [N]."""
    return masked_probs(logits, mask).argmax(axis=1)


@dataclass(frozen=True)
class TargetScore:
    """One edit of one target: counts for pooled generality and the locality ratio."""

    target: str
    correct: int          # target clips labelled with the right subcategory
    clips: int            # target clips
    edited_acc: float     # accuracy of the edited model on the other clips (c masked)
    original_acc: float   # accuracy of the original model on the same clips (c masked)

    @property
    def generality(self) -> float:
        return self.correct / self.clips

    @property
    def locality(self) -> float:
        return self.edited_acc / self.original_acc


def generality(scores: Sequence[TargetScore]) -> float:
    """Pooled over targets: sum correct / sum clips."""
    return sum(s.correct for s in scores) / sum(s.clips for s in scores)


def locality(scores: Sequence[TargetScore]) -> float:
    """Mean over targets of acc(edited) / acc(original)."""
    return float(np.mean([s.locality for s in scores]))


def summary(per_seed: Sequence[Sequence[TargetScore]]) -> dict[str, tuple[float, float]]:
    """(mean, sample std over seeds) of generality, locality and their mean, in percent."""
    g = np.array([generality(s) for s in per_seed]) * 100
    loc = np.array([locality(s) for s in per_seed]) * 100
    m = (g + loc) / 2
    std = (lambda x: float(np.std(x, ddof=1)) if len(x) > 1 else 0.0)  # noqa: E731
    return {"generality": (float(g.mean()), std(g)), "locality": (float(loc.mean()), std(loc)),
            "mean": (float(m.mean()), std(m))}


def label_predictions(edited: np.ndarray, edited_labels: Sequence[str], original: np.ndarray,
                      original_labels: Sequence[str], coarse: int) -> tuple[np.ndarray, np.ndarray]:
    """Each clip's predicted label (object arrays [N]) by the edited model and by the original one.

    edited [N, V, C'] are the edited model's scoring logits (c still present as a column where the
    model has one, see the module doc), original [N, V, C] the original model's; c = original_labels[coarse]
    is masked in both.
    """
    c_name = original_labels[coarse]
    coarse_edited = list(edited_labels).index(c_name) if c_name in edited_labels else None
    pe = np.asarray(edited_labels, dtype=object)[predictions(edited, coarse_edited)]
    po = np.asarray(original_labels, dtype=object)[predictions(original, coarse)]
    return pe, po


def score_predictions(target: str, new_labels: Sequence[str], pe: np.ndarray, po: np.ndarray,
                      truth: Sequence[str], inside: np.ndarray) -> TargetScore:
    """Score predicted labels (`label_predictions`): generality on the `inside` clips (truth = their
    subcategory), the locality accuracies on the others (truth in the original label space)."""
    truth = np.asarray(truth, dtype=object)
    inside = np.asarray(inside, bool)
    new = set(new_labels)
    correct = int(sum(p == t and p in new for p, t in zip(pe[inside], truth[inside])))
    out = ~inside
    return TargetScore(target, correct, int(inside.sum()), _accuracy(pe[out], truth[out]),
                       _accuracy(po[out], truth[out]))


def _accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of equal entries; NaN for no clips (a user's clip list may have none outside c)."""
    return float((pred == truth).mean()) if len(truth) else float("nan")


def score_target(target: str, new_labels: Sequence[str], edited_labels: Sequence[str],
                 original_labels: Sequence[str], coarse: int, edited: np.ndarray, original: np.ndarray,
                 truth: Sequence[str], inside: np.ndarray) -> TargetScore:
    """Score one edit on every val clip.

    edited [N, V, C'] and original [N, V, C] are logits as `label_predictions` takes them; truth = each
    clip's label in the ORIGINAL label space for clips outside the target and its fine label for clips
    inside (`inside` [N] bool). The edited model's columns are named `edited_labels`.
    """
    pe, po = label_predictions(edited, edited_labels, original, original_labels, coarse)
    return score_predictions(target, new_labels, pe, po, truth, inside)
