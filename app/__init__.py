"""Admin Panel.

The application factory lives in `app.factory`; `from app import create_app` still works, but lazily, so that
importing a light submodule (the `deis-db` CLI is `app.devcli`) does not load Flask, SQLAlchemy and the rest.
"""
from __future__ import annotations

from typing import Any

_FACTORY_NAMES = ("create_app", "REQUEST_ID_HEADER")


def __getattr__(name: str) -> Any:
    if name in _FACTORY_NAMES:
        from app import factory

        return getattr(factory, name)
    raise AttributeError(f"module 'app' has no attribute {name!r}")
