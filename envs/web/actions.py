"""The web env's tool argument models (pydantic -> published JSON schemas)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


# Bounds on what one call may carry into the browser: a field of megabytes (typed key by key by
# Playwright) or a URL of megabytes would hold the shared browser for everyone, then time out as
# an infrastructure error; past these, the call is a malformed action the agent reads.
MAX_VALUE = 100_000
MAX_URL = 8192


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _as_id(v: object) -> object:
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class ElementArgs(_Args):
    id: str = Field(max_length=32, description="element id: the number in brackets in the page text, e.g. 12")
    _norm = field_validator("id", mode="before")(_as_id)


class ClickArgs(ElementArgs):
    button: Literal["left", "right", "middle"] = "left"
    double: bool = Field(False, description="double-click")


class FillArgs(ElementArgs):
    value: str = Field(max_length=MAX_VALUE, description="text that replaces the field's content")


class SelectArgs(ElementArgs):
    options: str | list[str] = Field(description="option label or value (a list for multi-selects)")

    @field_validator("options")
    @classmethod
    def _bounded(cls, v: str | list[str]) -> str | list[str]:
        items = [v] if isinstance(v, str) else v
        if len(items) > 500 or sum(len(x) for x in items) > MAX_VALUE:
            raise ValueError(f"at most 500 options of {MAX_VALUE} characters in all")
        return v


class PressArgs(_Args):
    key: str = Field(max_length=64, description="a key or chord in Playwright notation: Enter, Tab, ArrowDown, Control+a")
    id: str | None = Field(None, max_length=32, description="element to focus first (default: the focused element)")
    _norm = field_validator("id", mode="before")(_as_id)


class ScrollArgs(_Args):
    dx: int = Field(0, description="pixels right")
    dy: int = Field(0, description="pixels down (negative: up)")
    id: str | None = Field(None, max_length=32, description="scroll this element into view instead")
    _norm = field_validator("id", mode="before")(_as_id)


class DragArgs(_Args):
    source: str = Field(max_length=32, description="id of the element to drag")
    target: str = Field(max_length=32, description="id of the element to drop it on")
    _norm = field_validator("source", "target", mode="before")(_as_id)


class GotoArgs(_Args):
    url: str = Field(max_length=MAX_URL, description="absolute URL, or a path on the current site like /cart")


class NewTabArgs(_Args):
    url: str | None = Field(None, max_length=MAX_URL, description="URL to open in the new tab (default: blank)")


class TabArgs(_Args):
    index: int = Field(ge=0, description="tab index as listed under Tabs")


class TabCloseArgs(_Args):
    index: int | None = Field(None, ge=0, description="tab to close (default: the active one)")


class MessageArgs(_Args):
    text: str = Field(max_length=MAX_VALUE, description="your message to the user: the answer for questions; ends the task")


class InfeasibleArgs(_Args):
    reason: str = Field(max_length=MAX_VALUE, description="why the task cannot be done on these sites; ends the task")


class NoopArgs(_Args):
    wait_ms: int = Field(0, ge=0, le=5000, description="milliseconds to wait (for a page that is still updating)")


# ---- coordinate and selection tools (coords=True) -------------------------------------------------
# Points are viewport CSS pixels, as the ` @x,y,w,h` boxes of the page text give them. Any float is
# accepted here: a point off the viewport (or NaN, inf) is refused by the action itself, as an
# action error the agent reads in last_action_error (pointer.py), like an unknown element id.
Button = Literal["left", "right", "middle"]


class PointArgs(_Args):
    x: float = Field(description="viewport x in CSS pixels (0 = left edge), as in the page text's @x,y,w,h boxes")
    y: float = Field(description="viewport y in CSS pixels (0 = top edge)")


class MouseClickArgs(PointArgs):
    button: Button = "left"
    double: bool = Field(False, description="double-click")


class MouseButtonArgs(PointArgs):
    button: Button = "left"


class MouseDragArgs(_Args):
    from_x: float = Field(description="viewport x where the press happens")
    from_y: float = Field(description="viewport y where the press happens")
    to_x: float = Field(description="viewport x where the button is released")
    to_y: float = Field(description="viewport y where the button is released")


class WheelArgs(PointArgs):
    dx: int = Field(0, description="pixels to scroll right (negative: left)")
    dy: int = Field(0, description="pixels to scroll down (negative: up)")


class SelectTextArgs(ElementArgs):
    text: str = Field(min_length=1, max_length=MAX_VALUE,
                      description="text to select inside the element (its first occurrence; spaces and line breaks match loosely)")
