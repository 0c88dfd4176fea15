"""schemathesis against /openapi.json, in-process: no 5xx, and every answer matches the documented schema.

It runs against its own dbapi app (own state database, own storage folder, own RQ queue that no worker consumes):
generated requests may ask for databases with arbitrary valid names and callback URLs anywhere, so nothing they
start may ever run, touch the PostgreSQL server, or send a callback.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth

from dbapi import create_app, runtime
from dbapi.config import Settings
from dbapi.models import db
from tests.fuzz.examples import count

MAX_EXAMPLES = 25  # per operation and mode: about 25 s for the whole API on two cores


@pytest.fixture(scope="module")
def dbapi_fuzzed_app(dbapi_environ, tmp_path_factory):
    """A dbapi sharing nothing but its configuration with the rest of the session."""
    environ = {
        **dbapi_environ,
        "DBAPI_DATA_DIR": str(tmp_path_factory.mktemp("dbapi-schemathesis")),
        "DBAPI_QUEUE": dbapi_environ["DBAPI_QUEUE"] + "-never-worked",
    }
    app = create_app(Settings.from_env(environ))
    yield app
    with app.app_context():
        runtime().queue.delete(delete_jobs=True)


# schemathesis' own pytest plugin (from_fixture) reads a node attribute pytest 9 no longer has, so the cases are
# driven with plain Hypothesis: one @given per operation and generation mode.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_openapi_document(dbapi_fuzzed_app, mode):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", dbapi_fuzzed_app)
    service_headers = {"Authorization": f"Bearer {dbapi_fuzzed_app.extensions['dbapi'].settings.service_key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 13  # 12 + POST /backups/{id}/verify (restore drills, issue 12)
    failures: dict[str, str] = {}
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def check(case) -> None:
            count(f"dbapi.schemathesis({mode.value})")
            case.call_and_validate(headers=service_headers)

        try:
            check()
        except Exception as error:  # collect every operation's first failure, then report them together
            failures[operation.label] = str(error)[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


STATEFUL_STEPS = 20  # per sequence; the profile decides how many sequences


def test_sequences_of_calls_linked_by_their_answers_conform_and_never_fail(dbapi_fuzzed_app):
    """Stateful: schemathesis chains calls through the links between answers and parameters (a created
    database's id into GET /databases/{id}, an operation's id into GET /operations/{id}, a token into a download),
    so the calls reach real objects rather than 404s; every answer must match the document and none may be a 5xx."""
    from hypothesis import settings as current

    schema = schemathesis.openapi.from_wsgi("/openapi.json", dbapi_fuzzed_app)
    machine = schema.as_state_machine()
    assert schema.statistic.transitions.total >= 20  # the links it follows; fewer means the document lost its ids
    service_key = dbapi_fuzzed_app.extensions["dbapi"].settings.service_key

    class DbapiSequences(machine):
        def setup(self):
            # Every sequence starts from an empty dbapi: what a call answers (201 or 409, a link to follow or not)
            # then depends on the sequence alone, as Hypothesis needs to replay and shrink it.
            with dbapi_fuzzed_app.app_context():
                for table in reversed(db.metadata.sorted_tables):
                    db.session.execute(table.delete())
                db.session.commit()

        def before_call(self, case):
            # On the case itself, so schemathesis' own authentication checks know which key was sent.
            count("dbapi.schemathesis(stateful steps)")
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {service_key}"}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            # Who may call what is proven route by route in test_authorization_matrix.py; here schemathesis would
            # take the key set above for one it generated, and call its acceptance a hole.
            case.validate_response(response, excluded_checks=[ignored_auth], transport_kwargs=kwargs or None)

    examples = max(10, current().max_examples // 3)
    DbapiSequences.run(settings=settings(max_examples=examples, stateful_step_count=STATEFUL_STEPS, deadline=None,
                                         suppress_health_check=list(HealthCheck), database=None,
                                         derandomize=current().derandomize))
