"""Checkboxes, radio buttons and selection lists whose state reads without colour.

Textual draws the same glyph inside the box whether it is on or off (``▐X▌``, ``▐●▌``) and
tells the states apart by colour only. These draw the glyph when on and an empty box when
off (``▐ ▌``), so the state is clear on a monochrome terminal, to colour-blind users and in a
screen capture. Every toggle in the app is one of these (app.tcss styles them as usual).
"""

from __future__ import annotations

from typing import Generic

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import Checkbox, RadioButton, SelectionList
from textual.widgets._toggle_button import ToggleButton
from textual.widgets.option_list import OptionDoesNotExist
from textual.widgets.selection_list import SelectionType

OFF = " "
"""What the box holds when the toggle is off."""


class Check(Checkbox):
    """A checkbox: ``▐X▌`` checked, ``▐ ▌`` unchecked."""

    @property  # type: ignore[override]
    def BUTTON_INNER(self) -> str:  # noqa: N802 - overrides Textual's class attribute
        return Checkbox.BUTTON_INNER if self.value else OFF


class Radio(RadioButton):
    """A radio button: ``▐●▌`` chosen, ``▐ ▌`` not."""

    @property  # type: ignore[override]
    def BUTTON_INNER(self) -> str:  # noqa: N802 - overrides Textual's class attribute
        return RadioButton.BUTTON_INNER if self.value else OFF


class CheckList(SelectionList[SelectionType], Generic[SelectionType]):
    """A selection list whose unselected items show an empty box."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        try:
            selection = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return strip
        if selection.value in self._selected:
            return strip
        segments = list(strip)
        if len(segments) < 2 or segments[1].text != ToggleButton.BUTTON_INNER:
            return strip  # not the first line of an item: no box on it
        segments[1] = Segment(OFF, segments[1].style)
        return Strip(segments, strip.cell_length)
