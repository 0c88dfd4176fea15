"""Each stored object is bound to its backup: swapped objects are detected, not restored or handed out."""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import update

from dbapi import runtime
from dbapi.models import Backup, db
from tests.dbapi.test_operations import app_dsn, create_database, load_shop, shop_rows


@pytest.fixture
def two_backups(dbapi_app, dbapi_client, callback_receiver, dbapi_names, dbapi_admin_dsn) -> dict:
    """Backups of two databases with different rows, and a third database to restore into."""
    made = {}
    for label, rows in (("first", 11), ("second", 23)):
        source = create_database(dbapi_client, callback_receiver, dbapi_names(label))
        load_shop(app_dsn(dbapi_admin_dsn, source), rows=rows)
        operation = dbapi_client.run("POST", f"/databases/{source['database']['id']}/backups",
                                     json={"callback_url": callback_receiver.url})
        made[label] = dbapi_client.call("GET", f"/backups/{operation['backup_id']}").json()
    target = create_database(dbapi_client, callback_receiver, dbapi_names("target"))
    load_shop(app_dsn(dbapi_admin_dsn, target), rows=7)
    return {**made, "target": target}


def swap_objects(dbapi_app, first_id: str, second_id: str) -> None:
    """What an attacker with write access to the bucket (or a mix-up in it) does: exchange two objects."""
    with dbapi_app.app_context():
        storage = runtime().storage
        first, second = db.session.get(Backup, first_id), db.session.get(Backup, second_id)
        first_bytes = b"".join(storage.read(first.storage_key))
        second_bytes = b"".join(storage.read(second.storage_key))
        storage.write(first.storage_key, iter([second_bytes]))
        storage.write(second.storage_key, iter([first_bytes]))


def download(dbapi_client, backup_id: str) -> requests.Response:
    grant = dbapi_client.call("POST", "/tokens", json={"action": "download", "backup_id": backup_id}).json()
    return dbapi_client.http.get(grant["url"], headers={"Authorization": f"Bearer {grant['token']}"}, timeout=60,
                                 stream=True)


def test_swapped_objects_are_neither_restored_nor_downloaded(
    dbapi_app, dbapi_client, callback_receiver, dbapi_admin_dsn, two_backups
):
    first, second, target = two_backups["first"], two_backups["second"], two_backups["target"]
    swap_objects(dbapi_app, first["id"], second["id"])

    failed = dbapi_client.run("POST", f"/databases/{target['database']['id']}/restore",
                              json={"backup_id": first["id"], "callback_url": callback_receiver.url}, expect="failed")
    assert f"the stored object is not backup {first['id']}" in failed["error"]
    assert callback_receiver.delivered(failed["id"])[0]["error"] == failed["error"]
    assert len(shop_rows(app_dsn(dbapi_admin_dsn, target))) == 7  # left as it was

    response = download(dbapi_client, second["id"])
    assert response.status_code == 409
    assert f"the stored object is not backup {second['id']}" in response.json()["message"]
    assert b"PGDMP" not in response.content


def test_an_archive_that_differs_from_the_recorded_sha256_is_refused(
    dbapi_app, dbapi_client, callback_receiver, dbapi_admin_dsn, two_backups
):
    """The records, not the objects, were changed (say a restored copy of dbapi's own database): the SHA-256 of
    what decrypts no longer matches, and the last chunk is never delivered."""
    first, target = two_backups["first"], two_backups["target"]
    with dbapi_app.app_context():
        db.session.execute(update(Backup).where(Backup.id == first["id"]).values(sha256="0" * 64))
        db.session.commit()

    failed = dbapi_client.run("POST", f"/databases/{target['database']['id']}/restore",
                              json={"backup_id": first["id"], "callback_url": callback_receiver.url}, expect="failed")
    assert f"backup {first['id']} failed its integrity check" in failed["error"]
    assert "0" * 64 in failed["error"]
    assert len(shop_rows(app_dsn(dbapi_admin_dsn, target))) == 7

    # A small archive is one chunk, checked whole before the answer starts.
    response = download(dbapi_client, first["id"])
    assert response.status_code == 409
    assert f"backup {first['id']} failed its integrity check" in response.json()["message"]


def test_a_large_archive_that_differs_from_the_recorded_sha256_is_cut_short(
    dbapi_app, dbapi_client, callback_receiver, dbapi_names, dbapi_admin_dsn
):
    source = create_database(dbapi_client, callback_receiver, dbapi_names("large"))
    load_shop(app_dsn(dbapi_admin_dsn, source), rows=40_000)  # several MiB of archive: many chunks
    operation = dbapi_client.run("POST", f"/databases/{source['database']['id']}/backups",
                                 json={"callback_url": callback_receiver.url})
    backup = dbapi_client.call("GET", f"/backups/{operation['backup_id']}").json()
    assert backup["size_bytes"] > 1024 * 1024 + 65536
    with dbapi_app.app_context():
        db.session.execute(update(Backup).where(Backup.id == backup["id"]).values(sha256="0" * 64))
        db.session.commit()

    response = download(dbapi_client, backup["id"])
    assert response.status_code == 200 and int(response.headers["Content-Length"]) == backup["size_bytes"]
    received = bytearray()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for chunk in response.iter_content(65536):
            received += chunk
    assert 0 < len(received) < backup["size_bytes"]  # cut short: the client can tell the file is broken
