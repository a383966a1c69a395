"""The Setup tab of the Train screen: the candidate checklist and the session settings.

The checklist holds every candidate that fits the charter's task (the baseline is always
trained, so it is checked and locked); presets check a fixed list. The settings fields are
validated as they are typed, with the message under the field.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Input, Label, Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from app.domain.metrics import TaskType
from app.domain.training import CANDIDATES, PRESETS, candidates_for
from screens.train_format import candidate_text, plan_text, read_settings
from screens.widgets.toggles import CheckList

SEARCH_KINDS = [("none", "none"), ("random", "random"), ("halving", "halving")]
FIELDS = ("cv", "search", "budget", "time_limit", "seed")


class TrainSetup(Vertical):
    """Candidates to train and how: folds, search, budget, time limit, seed."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 (Textual's name)
        super().__init__(id=id)
        self.charter_task: TaskType | None = None
        self.overrides: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(id="setup-area"):
            candidates: CheckList[str] = CheckList(id="candidates")
            candidates.border_title = "Models (space toggles)"
            yield candidates
            with Vertical(id="setup-form"):
                yield from self._field("cv", "CV folds", "5", "2 to 20")
                with Horizontal(classes="train-row"):
                    yield Label("Search", classes="train-label")
                    yield Select(
                        SEARCH_KINDS, value="none", allow_blank=False, compact=True, id="t-search"
                    )
                yield from self._field("budget", "Budget", "", "20 trials, or 60s / 5m")
                yield from self._field("time_limit", "Time limit", "", "s per model (optional)")
                yield from self._field("seed", "Seed", "42", "0 to 4294967295")
                with Horizontal(classes="train-buttons"):
                    yield Button("Quick (q)", id="b-quick", compact=True)
                    yield Button("Thorough (a)", id="b-thorough", compact=True)
                    yield Button("Params (e)", id="b-params", compact=True)
                with Horizontal(classes="train-buttons"):
                    yield Button("Start (t)", id="b-start", variant="primary", compact=True)
                    yield Button("Resume (r)", id="b-resume", compact=True)
                yield Static("", id="setup-plan", markup=False)
                yield Static("", id="setup-session", markup=False)
        with VerticalScroll(id="candidate-box"):
            yield Static("", id="candidate-info", markup=False)

    def _field(self, name: str, label: str, value: str, hint: str) -> ComposeResult:
        with Horizontal(classes="train-row"):
            yield Label(label, classes="train-label")
            yield Input(value, placeholder=hint, compact=True, id=f"t-{name}")
        yield Static("", id=f"te-{name}", classes="train-error", markup=False)

    # -- candidates --------------------------------------------------------------------------

    def set_task(self, task: TaskType) -> None:
        """List the candidates of ``task`` (keeping the checks when the task is unchanged)."""
        if task is self.charter_task:
            return
        self.charter_task = task
        listing = self.query_one("#candidates", SelectionList)
        listing.clear_options()
        quick = set(PRESETS["quick"][task])
        listing.add_options(
            [
                Selection(
                    self._prompt(c.key, c.label),
                    c.key,
                    c.key in quick,
                    id=c.key,
                    disabled=c.key == "dummy",
                )
                for c in candidates_for(task)
            ]
        )
        listing.highlighted = 0
        self.describe()
        self.validate()

    def _prompt(self, key: str, label: str) -> Content:
        if key == "dummy":
            return Content(f"{label} · always")
        return Content(label + (" •" if self.overrides.get(key) else ""))

    def set_overrides(self, overrides: dict[str, dict[str, Any]]) -> None:
        """Keep the edited hyperparameters; mark edited candidates with •."""
        self.overrides = overrides
        listing = self.query_one("#candidates", SelectionList)
        for index in range(listing.option_count):
            option = listing.get_option_at_index(index)
            label = CANDIDATES[option.value].label
            listing.replace_option_prompt_at_index(index, self._prompt(option.value, label))
        self.describe()

    def keys(self) -> list[str]:
        """Every candidate in the list, in order."""
        listing = self.query_one("#candidates", SelectionList)
        return [listing.get_option_at_index(i).value for i in range(listing.option_count)]

    def models(self) -> list[str]:
        """The checked candidates, baseline first."""
        listing = self.query_one("#candidates", SelectionList)
        chosen = set(listing.selected)
        return ["dummy"] + [k for k in self.keys() if k in chosen and k != "dummy"]

    def preset(self, name: str) -> None:
        """Check exactly the candidates of a preset."""
        if self.charter_task is None:
            return
        listing = self.query_one("#candidates", SelectionList)
        wanted = set(PRESETS[name][self.charter_task]) | {"dummy"}
        listing.deselect_all()
        for key in self.keys():
            if key in wanted:
                listing.select(key)

    def highlighted(self) -> str | None:
        """The key of the highlighted candidate."""
        listing = self.query_one("#candidates", SelectionList)
        if listing.highlighted is None or not listing.option_count:
            return None
        return listing.get_option_at_index(listing.highlighted).value

    def describe(self) -> None:
        """Show the highlighted candidate's description and parameters."""
        key = self.highlighted()
        info = self.query_one("#candidate-info", Static)
        info.update(candidate_text(key, self.overrides.get(key, {})) if key else "")

    @on(SelectionList.SelectionHighlighted, "#candidates")
    def _moved(self) -> None:
        self.describe()

    # -- settings ----------------------------------------------------------------------------

    def fields(self) -> dict[str, str]:
        """The raw text of each settings field."""
        out = {
            name: self.query_one(f"#t-{name}", Input).value for name in FIELDS if name != "search"
        }
        out["search"] = str(self.query_one("#t-search", Select).value)
        return out

    def validate(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The settings as TrainSettings keyword arguments, with errors shown by field."""
        values, errors = read_settings(self.fields())
        self.show_errors(errors)
        plan = self.query_one("#setup-plan", Static)
        if self.charter_task is None:
            plan.update("")
        elif errors:
            plan.update("Fix the settings marked ✗ to start.")
        else:
            plan.update(plan_text(self.models(), values))
        return values, errors

    def show_session(self, text: str) -> None:
        """Say what the last session did and whether resume has work."""
        self.query_one("#setup-session", Static).update(text)

    @on(SelectionList.SelectedChanged, "#candidates")
    def _checked(self) -> None:
        self.validate()

    def show_errors(self, errors: dict[str, str]) -> None:
        """Show each field's message (hide the others)."""
        for name in FIELDS:
            if name == "search":
                continue
            box = self.query_one(f"#te-{name}", Static)
            box.update(f"✗ {errors[name]}" if name in errors else "")
            box.display = name in errors

    @on(Input.Changed)
    @on(Select.Changed, "#t-search")
    def _changed(self, event: Any) -> None:
        event.stop()
        self.validate()
