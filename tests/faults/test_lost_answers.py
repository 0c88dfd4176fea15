"""The panel's dbapi client under a lost answer: dbapi did the work but the answer never arrived (a 502 after the
request was handled). The client sends the same request_id again, dbapi answers with the operation it already
started, and the panel ends with one database, not a failed operation beside an orphan."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.operations.database_provisioning import create_database
from app.services.databases_api import CALLBACK_PATH, DatabasesApi
from tests.databases.conftest import app_named, clients, synced, wait_finished  # noqa: F401
from tests.dbapi.conftest import DBAPI_SERVICE_KEY
from tests.faults.conftest import Served
from tests.sync.conftest import locks, sync  # noqa: F401  (the real synchronizer)


def test_a_create_whose_answer_was_lost_is_resent_and_makes_exactly_one_database(
        synced, clients, live_server, dbapi_app, dbapi_worker, dbapi_names):  # noqa: F811
    from dbapi.models import Database as RemoteDatabase, db as dbapi_db

    front = Served(dbapi_app, "dbapi")
    try:
        api = DatabasesApi(front.url, DBAPI_SERVICE_KEY, live_server + CALLBACK_PATH)
        front.faults.configure(apply_then_fail_rate=1.0, apply_then_fail_methods=["POST"], error_statuses=[502])
        answers: list[int] = []

        def only_the_first_answer_is_lost(response, *args, **kwargs):
            answers.append(response.status_code)
            front.faults.clear()

        api.session.hooks["response"].append(only_the_first_answer_is_lost)
        prefix = dbapi_names("lost") + "_"
        operation = create_database(db.session, api, app_named("billing"),
                                    server=clients.database_server("eu-prod"), actor="alice", name_prefix=prefix)

        assert answers == [502, 202]
        finished = wait_finished(operation)
        assert finished.state == "succeeded", finished.error
        with dbapi_app.app_context():
            made = dbapi_db.session.scalars(select(RemoteDatabase).where(RemoteDatabase.name.startswith(prefix))).all()
            assert len(made) == 1
            dbapi_db.session.remove()
        assert front.faults.state()["injected"]["apply_then_fail"] == 1
    finally:
        front.stop()
