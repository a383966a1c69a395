"""How the Retrain screen words its state: the empty states and the comparison panel."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text

from app.domain.guide import STAGE_PURPOSE
from app.domain.stages import Stage
from screens.retrain_data import (
    RetrainState,
    comparison_rows,
    gate_label,
    lineage_lines,
    reason_text,
)

CLI = "mlwb retrain --batches 1,2 [--window 90d] [--rerun-leaderboard]"


def empty_state(s: RetrainState) -> tuple[str, str]:
    """The empty state's text and style class, or ``("", "")`` when there is work to do."""
    purpose = STAGE_PURPOSE[Stage.RETRAIN]
    if s.production is None:
        made = (
            f"{s.n_versions} bundle version(s) registered, none" if s.n_versions else "No bundle is"
        )
        return (
            f"{purpose}\n\n"
            f"{made} in production, so there is no champion to challenge.\n"
            "Go to Deploy (6): build a bundle (b), then promote it (p). Then monitor new "
            "batches with their labels (7) and come back here.\n"
            f"CLI: mlwb deploy, then mlwb registry promote N; later {CLI}",
            "-locked",
        )
    if not s.labelled:
        have = f"{len(s.batches)} batch(es), none labelled" if s.batches else "no batches yet"
        return (
            f"{purpose}\n\n"
            f"v{s.production} is in production; monitoring has {have}.\n"
            "A challenger needs labelled rows: go to Monitor (7) and add a batch with its "
            "label column (a), or add labels that arrived later (l).\n"
            "CLI: mlwb monitor add FILE --label-column C --key ID, or "
            f"mlwb monitor labels BATCH FILE --key ID; then {CLI}",
            "-current",
        )
    return "", ""


def comparison_text(
    s: RetrainState, theme: Mapping[str, str], shadow_summary: str | None = None
) -> Text:
    """The last comparison, decision first; or how to make one. ``shadow_summary`` is the
    shadow evidence (``shadow.summary``) once read, when a challenger is shadowed."""
    c = s.comparison
    text = Text()
    if c is None:
        text.append("No comparison yet.\n", style="bold")
        text.append(
            "Select the batches to add (space), then press t (or enter) to train a challenger "
            "with the champion's configuration on the raw rows plus those batches. Both models "
            "are then scored on the held-out batch and compared by a paired bootstrap; the "
            "challenger is promoted only if its gate passes and it is better."
        )
        return text
    good = c.decision == "promote"
    colour = theme.get("success" if good else "warning", "")
    text.append(f"Last comparison #{c.id}: ", style="bold")
    text.append(f" {c.decision.upper()} ", style=f"bold reverse {colour}")
    text.append(f"\n{reason_text(c)}\n", style=colour)
    if s.promoted_as is not None:
        then = "" if s.production == s.promoted_as else ", then rolled back"
        text.append(f"Promoted as bundle v{s.promoted_as}{then}", style="bold")
        if s.override_reason:
            text.append(f" (override: {s.override_reason})")
        text.append(".\n")
    better = "higher" if c.higher_is_better else "lower"
    text.append(
        f"\n{c.label} on {c.n_rows:,} held-out rows of batch {c.compare_batch} "
        f"({better} is better; {c.n_left_out:,} left out)\n",
        style="bold",
    )
    rows = comparison_rows(c)
    value_w = max(5, *(len(r[1]) for r in rows))
    text.append(f"{'':<11}{'value':>{value_w}}  {c.confidence:.0%} CI\n", style="dim")
    for name, value, ci, _ in rows:
        style = "bold" if name == "challenger" else ""
        text.append(f"{name:<11}{value:>{value_w}}  {ci}\n", style=style)
    text.append(
        f"difference: challenger − champion · paired bootstrap ×{c.resamples} · "
        f"margin {c.margin:g}\n",
        style="dim",
    )
    gate_ok = c.gate == "pass"
    text.append("challenger gate ")
    text.append(
        gate_label(c.gate),
        style=f"bold {theme.get('success' if gate_ok else 'error', '')}",
    )
    if c.gate_summary:
        text.append(f" {c.gate_summary}")
    text.append("\n\n")
    shadow_text(text, s, shadow_summary)
    text.append("Challenger lineage\n", style="bold")
    text.append(f"champion   {rows[0][3]}\n")
    text.append(f"challenger {rows[1][3]}\n")
    for line in lineage_lines(c):
        text.append(f"{line}\n")
    for note in c.notes:
        text.append(f"note: {note}\n", style="dim")
    text.append("\n")
    if s.promoted_as is not None and s.production == s.promoted_as:
        back = f"r rolls back to v{s.rollback_to}" if s.rollback_to else "r rolls back"
        text.append(f"Next: {back}, or train another challenger (t).", style="dim")
    elif s.promoted_as is not None:
        text.append(
            f"Production is v{s.production} again (rolled back): train a new challenger (t).",
            style="dim",
        )
    elif s.production != c.champion.bundle_version:
        text.append(
            f"Production is now v{s.production}: train a new challenger (t) to compare with it.",
            style="dim",
        )
    elif good:
        text.append("Next: p promotes the challenger (asks first).", style="dim")
    else:
        text.append(
            "Next: add more labelled batches, or p promotes anyway with a recorded reason.",
            style="dim",
        )
    return text


def shadow_text(text: Text, s: RetrainState, summary: str | None) -> None:
    """The shadow section: the evidence so far, or what shadowing would do."""
    c = s.comparison
    text.append("Shadow scoring\n", style="bold")
    if s.shadow is None:
        if c is not None and s.promoted_as is None:
            text.append(
                "Not shadowing. s shadows the challenger: every labelled batch added on "
                "Monitor is then scored by both models on the same rows, while production "
                "keeps answering.\n\n",
                style="dim",
            )
        else:
            text.append("Not shadowing.\n\n", style="dim")
        return
    if summary is None:
        run = f" (run {s.shadow_run})" if s.shadow_run is not None else ""
        text.append(f"Shadowing bundle v{s.shadow}{run}: reading its results…\n", style="dim")
    else:
        text.append(f"{summary}\n")
    other = c is not None and s.shadow_run is not None and s.shadow_run != c.challenger.run_id
    if other:
        text.append("That is an earlier challenger, not the last comparison's.\n", style="dim")
    text.append("s stops shadowing.\n\n", style="dim")
