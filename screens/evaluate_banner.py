"""The gate banner: PASS / FAIL / TOO CLOSE TO CALL, the reason and where to go back."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from app.domain.evaluation import Evaluation

OUTCOME_CLASSES = ("-pass", "-fail", "-too_close", "-none")


class GateBanner(Vertical):
    """One coloured line with the verdict and its summary, then the pointers back (as many
    as fit; the Gate tab lists them all)."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="gate-head"):
            yield Static("", id="gate-badge", markup=False)
            yield Static("", id="gate-summary", markup=False)
        yield Static("", id="gate-pointers", markup=False)

    def show(
        self,
        e: Evaluation | None,
        empty: str,
        charter_version: int | None,
        most: int,
    ) -> None:
        """Show the gate of ``e`` (``empty`` says why there is none) with at most ``most``
        lines of pointers; a charter changed since ``e`` was judged is said first."""
        outcome = e.gate.outcome.value if e is not None else "none"
        for name in OUTCOME_CLASSES:
            self.set_class(name == f"-{outcome}", name)
        badge = self.query_one("#gate-badge", Static)
        summary = self.query_one("#gate-summary", Static)
        pointers = self.query_one("#gate-pointers", Static)
        if e is None:
            badge.update(" NOT EVALUATED ")
            summary.update(empty)
            pointers.display = False
            return
        badge.update(f" {e.gate.outcome.label} ")
        summary.update(e.gate.summary)
        lines = [f"→ revisit {p.stage}: {p.reason}" for p in e.gate.pointers]
        if charter_version not in (None, e.charter_version):
            lines.insert(
                0,
                f"⚠ judged against charter v{e.charter_version}, now v{charter_version}: "
                "e evaluates again",
            )
        if len(lines) > most:
            lines = [*lines[: most - 1], f"… {len(lines) - most + 1} more on the Gate tab (g)"]
        pointers.update("\n".join(lines))
        pointers.display = bool(lines)

    @property
    def outcome_text(self) -> str:
        """The verdict as shown (for tests and the palette)."""
        return str(self.query_one("#gate-badge", Static).render()).strip()
