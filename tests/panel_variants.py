"""A second panel app with some settings changed (proxy hops, ASSETS=local, production headers, key lists).

Built with the real factory on the same database as the `app` fixture, so users made with `make_user` exist in
it. The factory sets process-wide things (the rate limiter's storage, the masking key lists): they are put back
when the test ends.
"""
from __future__ import annotations

import dataclasses

import pytest

from app import create_app, redaction
from app.extensions import limiter
from tests.conftest import IsolatedClient


@pytest.fixture
def panel_with(app, settings):
    """`panel_with(trusted_proxy_hops=1)`: a panel app built from the test settings with these changes."""

    def build(**changes):
        variant = create_app(dataclasses.replace(settings, **changes), TESTING=True)
        variant.test_client_class = IsolatedClient
        limiter.reset()
        return variant

    yield build
    redaction.configure(settings.secret_config_keys, settings.public_config_keys)
    limiter.init_app(app)  # the limiter is one object: hand its storage back to the main test app
    limiter.reset()
