"""A ready database or a succeeded backup that the Databases API has no id for is refused saying so, not with a
message that contradicts itself ("is ready: only a ready database can do that"). Found by the authorization matrix."""
from __future__ import annotations

import pytest

from app.operations import database_backups, developer_transfers
from app.operations.database_backups import BackupRefused
from tests import factories as make


def test_rows_the_databases_api_does_not_know_are_refused_in_words_that_say_so(db_session):
    database = make.database(db_session, make.app(db_session, "shop"), name="shop_db", state="ready")
    backup = make.backup(db_session, database, state="succeeded")
    # Neither call reaches the Databases API (None would fail loudly if it did).
    with pytest.raises(BackupRefused, match="Database shop_db has no id at the Databases API") as upload:
        developer_transfers.grant_upload(db_session, None, database, actor="alice")
    with pytest.raises(BackupRefused, match=f"Backup #{backup.id} has no stored object at the Databases API"
                       ) as download:
        developer_transfers.grant_download(db_session, None, backup, actor="alice")
    with pytest.raises(BackupRefused, match="has no stored object at the Databases API") as restore:
        database_backups._require_restorable(backup)
    for refused in (upload, download, restore):
        assert "only a" not in str(refused.value)
