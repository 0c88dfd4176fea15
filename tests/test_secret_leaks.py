"""The secret-leak check itself: it finds a secret wherever the suite produced it (a log record, a page, an API
answer), in its encoded forms too, names it by a hash prefix only, and lets through only the allowed places."""
from __future__ import annotations

import logging
import secrets

from tests.secret_leaks import ALLOWED, fingerprint, find_leaks, produced


def test_a_secret_in_a_log_record_or_a_page_is_found_and_named_by_its_hash_only(client):
    marker = f"never-registered-{secrets.token_hex(8)}"  # not in the session's registry: the run itself stays clean
    logging.getLogger("tests.leak_example").warning("reached %s", marker)  # no "token=": the panel redacts those itself
    html = client.get("/login").get_data(as_text=True)
    csrf = html.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]

    leaks = find_leaks({marker: "example token", csrf: "a CSRF token"}, produced())

    places = {(leak.label, leak.where) for leak in leaks}
    assert ("example token", "log tests.leak_example") in places
    assert ("a CSRF token", "response panel GET /login 200") in places
    assert all(marker not in str(leak) and fingerprint(marker) in str(leak)
               for leak in leaks if leak.label == "example token")


def test_encoded_forms_are_found_and_allowed_places_are_not_leaks():
    secret = "s3cr3t/with+odd&chars"
    entries = [
        {"where": "log app.services.deis", "text": "GET https://x/?t=s3cr3t%2Fwith%2Bodd%26chars"},
        {"where": "response panel GET /api/v1/apps 200", "text": '{"value": "s3cr3t/with+odd&chars"}'},
        {"where": "response panel POST /apps/7/config/reveal 200", "text": "s3cr3t/with+odd&chars"},
    ]
    leaks = find_leaks({secret: "masked config value API_KEY"}, entries, ALLOWED)
    assert sorted(leak.where for leak in leaks) == ["log app.services.deis", "response panel GET /api/v1/apps 200"]
    assert find_leaks({secret: "masked config value API_KEY"}, entries[2:], ALLOWED) == []
    assert find_leaks({secret: "Deis token (user)"}, entries[2:], ALLOWED) != []  # allowed only for what it shows
