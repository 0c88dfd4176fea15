"""Answering htmx: only the swapped block for an htmx request, the whole page otherwise (and on history restore)."""
from __future__ import annotations

from typing import Any

from flask import Response, make_response, render_template, request
from jinja2_fragments.flask import render_block


def is_htmx_partial() -> bool:
    """Whether this request wants a fragment: htmx sent it, and it is not restoring a page from history."""
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-History-Restore-Request")


def render_page(template: str, block: str, push_url: str | None = None, **context: Any) -> Response:
    """Render `block` of `template` for htmx, else the full page.

    `push_url` is the canonical address of what is shown: htmx puts it in the address bar instead of the raw form
    query (which carries every empty filter).
    """
    if not is_htmx_partial():
        return make_response(render_template(template, **context))
    response = make_response(render_block(template, block, **context))
    if push_url is not None:
        response.headers["HX-Push-Url"] = push_url
    return response
