"""Answering htmx: only the swapped block for an htmx request, the whole page otherwise (and on history restore)."""
from __future__ import annotations

from typing import Any

from flask import render_template, request
from jinja2_fragments.flask import render_block


def is_htmx_partial() -> bool:
    """Whether this request wants a fragment: htmx sent it, and it is not restoring a page from history."""
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-History-Restore-Request")


def render_page(template: str, block: str, **context: Any) -> str:
    """Render `block` of `template` for htmx, else the full page."""
    if is_htmx_partial():
        return render_block(template, block, **context)
    return render_template(template, **context)
