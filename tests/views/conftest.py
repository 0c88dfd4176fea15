"""Fixtures of the page tests."""
from tests.panel_variants import panel_with  # noqa: F401  (a fixture)
