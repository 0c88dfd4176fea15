"""schemathesis against /api/v1/openapi.json with a valid developer token: no 5xx, and every answer (errors too)
matches the documented schema. The Databases API is a closed port here: generated requests that get as far as
starting something end as a failed operation or a 502, never touch a PostgreSQL server."""
from __future__ import annotations

import dataclasses
import itertools
import socket

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.fuzz.examples import count

MAX_EXAMPLES = 5  # per operation and mode: both modes in about a minute on two busy cores


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_openapi_document(api, app, monkeypatch, mode):
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(app.config["SETTINGS"],
                                                                    dbapi_url=closed_port_url()))
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = api.headers("alice")
    token, controller = {"Authorization": headers["Authorization"]}, headers["X-Deis-Controller"]
    # Generated names almost never exist: every other case names a real app (alice's, shared, hidden from her).
    app_names = itertools.cycle(["shop", None, "billing", None, "reports", None, "blog", None])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 13
    failures: dict[str, str] = {}
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def check(case) -> None:
            count(f"api_v1.schemathesis({mode.value})")
            # The controller header the document asks for: a real one, unless this case breaks it on purpose.
            generated = (case.headers or {}).get("X-Deis-Controller")
            if isinstance(generated, str) and generated:
                case.headers["X-Deis-Controller"] = controller
            name = next(app_names)
            if name and mode == GenerationMode.POSITIVE and "app" in (case.path_parameters or {}):
                case.path_parameters["app"] = name
            case.call_and_validate(headers=token)

        try:
            check()
        except Exception as error:  # collect every operation's first failure, then report them together
            failures[operation.label] = str(error)[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


def test_sequences_of_calls_linked_by_their_answers_conform_and_never_fail(api, app, monkeypatch):
    """Stateful: schemathesis chains calls through the links between answers and parameters (an app's name from
    GET /apps into its database, backups and transfer tokens; an operation's id into GET /operations/{id}) as
    alice, so sequences reach her real apps; every answer must match the document, none may be a 5xx."""
    from hypothesis import settings as current
    from schemathesis.specs.openapi.checks import ignored_auth

    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(app.config["SETTINGS"],
                                                                    dbapi_url=closed_port_url()))
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    machine = schema.as_state_machine()
    assert schema.statistic.transitions.total >= 10  # the links it follows; fewer means the document lost its names
    headers = api.headers("alice")

    class DeveloperSequences(machine):
        def before_call(self, case):
            count("api_v1.schemathesis(stateful steps)")
            # A real token and controller, on the case itself so schemathesis' auth checks see what was sent.
            case.headers = {**(case.headers or {}), **headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            # Who may call what is proven route by route in tests/security/test_authorization_matrix.py.
            case.validate_response(response, excluded_checks=[ignored_auth], transport_kwargs=kwargs or None)

    DeveloperSequences.run(settings=settings(
        max_examples=max(5, current().max_examples // 6), stateful_step_count=10, deadline=None,
        suppress_health_check=list(HealthCheck), database=None, derandomize=current().derandomize))
