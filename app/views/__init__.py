"""Blueprints: HTML pages (htmx), later the developer API `/api/v1` and the Chef endpoints `/chef`."""
