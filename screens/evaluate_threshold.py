"""The live decision threshold: label metrics recomputed from stored holdout scores.

A worker scores the holdout once (the model is not refitted); after that every threshold
change is four counts over the holdout rows, done on the UI thread, turned into metrics by
the bootstrap module's ``metrics_from_confusion`` (the service's own formulas, equal to
scikit-learn's). Intervals are not recomputed: they belong to the stored threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from app.services.bootstrap import confusion_counts, metrics_from_confusion

STEP = 0.01
"""How far ``+`` and ``-`` move the threshold."""
LOWEST, HIGHEST = 0.01, 0.99


@dataclass
class HoldoutScores:
    """Positive-class scores of one evaluated model on its holdout, and the truth."""

    run_id: int
    evaluation_id: int
    truth: np.ndarray
    """Boolean: the row is of the positive class."""
    score: np.ndarray
    curve: dict[str, np.ndarray] = field(default_factory=dict)
    """Precision, recall, F1 (and the primary metric) over a grid of thresholds."""

    @property
    def rows(self) -> int:
        """Holdout rows."""
        return len(self.truth)

    def metrics_at(self, threshold: float) -> dict[str, float]:
        """Every label metric when rows scoring at least ``threshold`` are called positive."""
        found = metrics_from_confusion(*confusion_counts(self.truth, self.score >= threshold))
        return {name: float(values[0]) for name, values in found.items()}

    def confusion_at(self, threshold: float) -> tuple[int, int, int, int]:
        """(TN, FP, FN, TP) at ``threshold``."""
        tp, fp, fn, tn = confusion_counts(self.truth, self.score >= threshold)
        return int(tn), int(fp), int(fn), int(tp)


def nudge(threshold: float, steps: int) -> float:
    """``threshold`` moved by ``steps`` × STEP, kept inside (0, 1) and rounded to 3 places."""
    return round(min(HIGHEST, max(LOWEST, threshold + steps * STEP)), 3)


def parse_threshold(text: str) -> float | None:
    """A typed threshold, or None when it is not a number strictly between 0 and 1."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return round(value, 3) if 0 < value < 1 else None
