"""The redaction function against generated secrets: wherever a credential sits in free text (a URL's password,
an Authorization header, `token=...`, a JSON field, a PEM block, a JWT, an AWS key id), the text that comes out of
`redact_text` (and out of any log record) does not contain it, whatever text surrounds it."""
from __future__ import annotations

import logging

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app import redaction
from app.redaction import MASK, redact, redact_text
from tests.fuzz.examples import count

TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/="
URL_PASSWORD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~!$&()*+,;=%:"
tokens = st.text(TOKEN_ALPHABET, min_size=12, max_size=48)
url_passwords = st.text(URL_PASSWORD_ALPHABET, min_size=12, max_size=40)
SURROUNDING = st.text(max_size=60) | st.sampled_from(["", "sync failed:", "HTTP 500 from", "{", "'", "(", "ERROR"])

FORMS = {
    "url password": (url_passwords, lambda s: f"postgres://shop:{s}@pg.eu.internal:5432/shop"),
    "url user token": (st.text(TOKEN_ALPHABET.replace("/", ""), min_size=12, max_size=40),
                       lambda s: f"https://{s}@github.com/acme/shop.git"),
    "bearer header": (tokens, lambda s: f"Authorization: Bearer {s}"),
    "token header": (tokens, lambda s: f"authorization=token {s}"),
    "basic header": (tokens, lambda s: f"'Authorization': 'Basic {s}'"),
    "key=value": (tokens, lambda s: f"password={s}"),
    "api key": (tokens, lambda s: f"X-Api-Key: {s}"),
    "json field": (tokens, lambda s: f'{{"dbapi_token": "{s}", "ok": true}}'),
    "query string": (tokens, lambda s: f"GET /download?token={s}&x=1"),
    "secret env": (tokens, lambda s: f"SECRET_KEY_BASE={s}"),
    "pem": (st.text(TOKEN_ALPHABET, min_size=12, max_size=64),
            lambda s: f"-----BEGIN PRIVATE KEY-----\nMIIE{s}\n-----END PRIVATE KEY-----"),
    "jwt": (st.text(TOKEN_ALPHABET.replace(".", "").replace("/", "").replace("+", "").replace("=", "")
                    .replace("~", ""), min_size=12, max_size=40),
            lambda s: f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.{s}"),
    "aws key id": (st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=16, max_size=16), lambda s: f"AKIA{s}"),
}


@st.composite
def embedded_secrets(draw, form: str | None = None):
    form = form or draw(st.sampled_from(sorted(FORMS)))
    secret_strategy, render = FORMS[form]
    secret = draw(secret_strategy)
    before, after = draw(SURROUNDING), draw(SURROUNDING)
    separator = draw(st.sampled_from([" ", "\n", "\t", " | ", ", ", "; "]))
    return form, secret, f"{before}{separator}{render(secret)}{separator}{after}"


@pytest.mark.parametrize("form", sorted(FORMS))
@given(data=st.data())
def test_redact_text_never_returns_a_secret_embedded_in_any_text(form, data):
    form, secret, text = data.draw(embedded_secrets(form))
    count(f"redaction.redact_text({form})")
    assume(secret not in text.replace(secret, "", 1))  # the text around it happens to hold it: nothing to learn
    redacted = redact_text(text)
    assert secret not in redacted, f"{form}: {redacted!r}"
    assert MASK in redacted


@given(embedded_secrets())
def test_a_log_record_never_holds_a_secret_embedded_in_its_message(example):
    form, secret, text = example
    count("redaction.log_record")
    assume(secret not in text.replace(secret, "", 1))
    redaction.install_log_redaction()
    record = logging.getLogger("tests.fuzz").makeRecord("tests.fuzz", logging.ERROR, __file__, 1,
                                                        "job failed: %s", (text,), None)
    assert secret not in record.getMessage()


@given(st.sampled_from(["DB_PASSWORD", "STRIPE_KEY", "deis_token", "X-Auth", "SESSION_SECRET", "aws_secret"]),
       tokens, st.recursive(st.text(max_size=8), lambda children: st.lists(children, max_size=3)
                            | st.dictionaries(st.text(max_size=8), children, max_size=3), max_leaves=6))
def test_redact_masks_a_secret_named_key_at_any_depth(key, secret, noise):
    count("redaction.redact(nested)")
    payload = {"context": [noise, {"config": {key: secret}}]}
    redacted = redact(payload)
    assert redacted["context"][1]["config"][key] == MASK
    assert secret not in repr(redacted).replace(repr(noise), "") or secret in repr(noise)
