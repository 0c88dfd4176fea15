"""WSGI entry point: `gunicorn dbapi.wsgi:app` (use threaded or async workers: downloads and uploads stream)."""
from dbapi import create_app

app = create_app()
