"""POST /tokens: a short-lived token a developer presents to download a backup or upload a dump."""
from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import request

from dbapi import runtime
from dbapi.operations import transfers
from dbapi.views.auth import service_auth
from dbapi.views.schemas import DownloadTokenIn, TokenIn, TokenOut

bp = APIBlueprint("tokens", __name__, tag="Tokens")


@bp.post("/tokens")
@bp.auth_required(service_auth)
@bp.input(TokenIn, location="json", arg_name="body")
@bp.output(TokenOut, status_code=201)
@bp.doc(responses=[400, 404, 409])
def issue_token(body: TokenIn) -> dict[str, Any]:
    """Issue a signed, expiring token for one action on one resource.

    download: bound to a succeeded backup, usable until it expires. upload: bound to a ready database, single-use.
    """
    grant, base_url = body.root, runtime().settings.public_url or request.host_url
    if isinstance(grant, DownloadTokenIn):
        return transfers.grant_download(grant.backup_id, ttl_seconds=grant.ttl_seconds, base_url=base_url)
    return transfers.grant_upload(
        grant.database_id, ttl_seconds=grant.ttl_seconds, callback_url=grant.callback_url, base_url=base_url
    )
