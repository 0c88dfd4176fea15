"""Names and keys are matched in full: a trailing newline (which a "$" lets through) or any other hostile tail is
refused with 422 and changes nothing."""
from __future__ import annotations

import json

import pytest

from dbapi import pgtools
from dbapi.config import ConfigError, Settings
from dbapi.pgtools import InvalidNameError
from dbapi.storage import LocalStorage, StorageError
from tests.dbapi.test_api import counts, server_databases, server_roles

HOSTILE = ["shop\n", "shop\r\n", "shop\n; DROP DATABASE postgres", "\nshop", "shop\x0b", "shop ", "shop\t", "shop\u2028"]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", ["name", "owner_role", "server", "request_id", "callback_url"])
def test_hostile_tails_are_422_and_create_nothing(dbapi_app, dbapi_client, callback_receiver, dbapi_admin_dsn,
                                                  dbapi_names, field, value):
    body = {"name": dbapi_names("tail"), "server": "main", "callback_url": callback_receiver.url,
            "request_id": "req-tail"}
    # name and owner_role get the hostile value itself; the others keep a valid value with the hostile tail.
    body[field] = value if field in ("name", "owner_role") else body[field] + value.replace("shop", "")
    before = counts(dbapi_app), server_databases(dbapi_admin_dsn), server_roles(dbapi_admin_dsn)
    response = dbapi_client.call("POST", "/databases", data=json.dumps(body),
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 422, (body, response.text)
    assert field in response.json()["detail"]["json"]
    assert (counts(dbapi_app), server_databases(dbapi_admin_dsn), server_roles(dbapi_admin_dsn)) == before
    assert callback_receiver.requests == []


@pytest.mark.parametrize("value", HOSTILE)
def test_names_are_matched_in_full_before_any_sql(value):
    with pytest.raises(InvalidNameError):
        pgtools.validate_name(value)


def test_server_names_and_storage_keys_are_matched_in_full(tmp_path):
    with pytest.raises(ConfigError, match="server name 'main\\\\n'"):
        Settings.from_env({"DBAPI_DATA_DIR": str(tmp_path), "DBAPI_SERVERS": json.dumps({"main\n": {"dsn": "host=x"}})})
    storage = LocalStorage(tmp_path / "store")
    for key in ("backups/db/x.dbapi\n", "backups/db\n/x.dbapi"):
        with pytest.raises(StorageError):
            storage.write(key, iter([b"x"]))
    assert not list((tmp_path / "store").rglob("*\n*"))
