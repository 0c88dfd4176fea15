"""`GET /healthz` answers without a session or the database."""
from __future__ import annotations


def test_healthz_answers_ok_to_anyone(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_data(as_text=True) == "ok\n"
    assert response.headers["Cache-Control"] == "no-store"
    assert client.post("/healthz").status_code == 405
