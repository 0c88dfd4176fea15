"""Each browser journey ends in a screenshot under docs/screenshots/ (shown in the README): the same file name on
every run, so a re-run changes pixels (times, ids), never the set of files."""
from __future__ import annotations

from pathlib import Path

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


def save(page, name: str, focus=None) -> Path:
    """Write what the page shows now (the viewport, 1280×800) to docs/screenshots/<name>.png, scrolled so that the
    `focus` locator (the part the journey is about) is at the top, else from the top of the page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if focus is None:
        page.evaluate("window.scrollTo(0, 0)")
    else:
        focus.evaluate("element => element.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(path), animations="disabled", caret="hide")
    assert path.stat().st_size > 10_000, f"{path} looks empty"
    return path
