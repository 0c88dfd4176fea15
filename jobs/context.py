"""The app context a job runs in: the worker pushes one; a job started elsewhere builds its own."""
from __future__ import annotations

from flask import current_app, has_app_context

from app import create_app

_app = None


def panel():
    """The panel app for this process (the worker's, or one built on first use)."""
    global _app
    if has_app_context():
        return current_app._get_current_object()
    if _app is None:
        _app = create_app()
        _app.app_context().push()
    return _app
