"""Who may call what: the panel's service key on the management API, a resource token on download/upload."""
from __future__ import annotations

import hmac

from apiflask import HTTPTokenAuth

from dbapi import runtime

service_auth = HTTPTokenAuth(
    scheme="Bearer",
    security_scheme_name="ServiceKey",
    description="The panel's DBAPI_SERVICE_KEY.",
)
resource_token_auth = HTTPTokenAuth(
    scheme="Bearer",
    security_scheme_name="ResourceToken",
    description="A download or upload token from POST /tokens, bound to one resource and one action.",
)


@service_auth.verify_token
def _verify_service_key(presented: str) -> str | None:
    expected = runtime().settings.service_key
    # Constant time: the comparison must not reveal how much of a guessed key was right.
    if presented and hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8")):
        return "panel"
    return None


@resource_token_auth.verify_token
def _take_resource_token(presented: str) -> str | None:
    # The token is checked against the resource in the view (tokens.check); here only its presence.
    return presented or None
