"""A champion/challenger comparison and its decision (computed by ``app.services.retrain``,
stored as the ``compared`` event's details, read back by the CLI, the screen and the report)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.domain.evaluation import GateOutcome


class Side(BaseModel):
    """One model's primary metric on the comparison rows."""

    run_id: int
    candidate: str
    dataset: str
    bundle_version: int | None = None
    value: float | None = None
    low: float | None = None
    high: float | None = None


class Comparison(BaseModel):
    """Champion against challenger on the same held-out labelled rows, and the decision."""

    id: int = 0
    """The id of the ``compared`` event that stores this comparison."""
    metric: str
    label: str
    higher_is_better: bool
    compare_batch: int
    n_rows: int
    n_left_out: int = 0
    """Comparison rows without a usable label or rejected by either bundle."""
    resamples: int
    seed: int
    confidence: float
    champion: Side
    challenger: Side
    difference: float | None = None
    """Challenger minus champion (the primary metric's units)."""
    difference_low: float | None = None
    difference_high: float | None = None
    margin: float = 0.0
    gate: str
    gate_summary: str = ""
    decision: Literal["promote", "keep"]
    reason: str
    lineage: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)

    def text(self) -> str:
        """The comparison for people, a few lines."""

        def side(name: str, s: Side) -> str:
            value = "undefined" if s.value is None else f"{s.value:.4f}"
            interval = f" (95% CI {s.low:.4f} – {s.high:.4f})" if s.low is not None else ""
            where = f"bundle v{s.bundle_version}, " if s.bundle_version else ""
            return f"  {name:<10} run {s.run_id} ({s.candidate}, {where}{s.dataset}): {value}{interval}"

        diff = "undefined"
        if self.difference is not None:
            diff = f"{self.difference:+.4f}"
            if self.difference_low is not None and self.difference_high is not None:
                diff += f" (95% CI {self.difference_low:+.4f} – {self.difference_high:+.4f})"
        better = "higher" if self.higher_is_better else "lower"
        return "\n".join(
            [
                f"{self.label} on {self.n_rows:,} held-out rows of batch {self.compare_batch} "
                f"({better} is better; {self.n_left_out:,} rows left out):",
                side("champion", self.champion),
                side("challenger", self.challenger),
                f"  difference (challenger − champion): {diff}, paired bootstrap of "
                f"{self.resamples} resamples; margin {self.margin:g}",
                f"  challenger gate: {GateOutcome(self.gate).label} {self.gate_summary}".rstrip(),
                f"Decision: {self.decision.upper()} — {self.reason}",
                *(f"  note: {n}" for n in self.notes),
            ]
        )
