"""The app's toggles read without colour: an empty box when off, the glyph when on."""

from __future__ import annotations

import re
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import RadioSet

from screens.widgets.toggles import Check, CheckList, Radio


class Toggles(App[None]):
    def compose(self) -> ComposeResult:
        yield Check("rerun leaderboard", id="check", compact=True)
        with RadioSet(id="radios"):
            yield Radio("keep", value=True, id="keep")
            yield Radio("retrain", id="retrain")
        listing: CheckList[str] = CheckList(("hgb", "hgb", True), ("rf", "rf"), id="models")
        yield listing


def line(widget: CheckList[str], y: int) -> str:
    return widget.render_line(y).text


async def test_checked_and_unchecked_differ_without_colour() -> None:
    app = Toggles()
    async with app.run_test(size=(60, 12)) as pilot:
        check = app.query_one("#check", Check)
        assert str(check.render()).startswith("▐ ▌ rerun leaderboard")
        await pilot.click("#check")
        await pilot.pause()
        assert check.value and str(check.render()).startswith("▐X▌ rerun leaderboard")

        keep, retrain = app.query_one("#keep", Radio), app.query_one("#retrain", Radio)
        assert str(keep.render()).startswith("▐●▌") and str(retrain.render()).startswith("▐ ▌")
        await pilot.click("#retrain")
        await pilot.pause()
        assert str(keep.render()).startswith("▐ ▌") and str(retrain.render()).startswith("▐●▌")

        models = app.query_one("#models", CheckList)
        assert line(models, 0).startswith("▐X▌ hgb") and line(models, 1).startswith("▐ ▌ rf")
        models.toggle("rf")
        models.toggle("hgb")
        await pilot.pause()
        assert line(models, 0).startswith("▐ ▌ hgb") and line(models, 1).startswith("▐X▌ rf")
        assert models.selected == ["rf"]


def test_every_toggle_in_the_app_is_one_of_these() -> None:
    screens = Path(__file__).resolve().parents[2] / "screens"
    made = re.compile(r"\b(Checkbox|RadioButton|SelectionList)\(")
    found = [
        f"{path.relative_to(screens)}: {match.group(0)}"
        for path in screens.rglob("*.py")
        for match in made.finditer(path.read_text())
    ]
    assert found == []
