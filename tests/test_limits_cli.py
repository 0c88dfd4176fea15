"""`flask limits set/list/drift/enforce/app-type` as an operator runs them, against the Deis simulator."""
from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from app.cluster_settings import parse_clusters
from app.models import App, AuditEvent, LimitSet
from app.queues import queue
from tests.sync.conftest import clients, locks, sync  # noqa: F401  (fixtures: the real synchronizer on the sandbox)


@pytest.fixture
def cli(app, sandbox, monkeypatch):
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(
        app.config["SETTINGS"], deis_clusters=parse_clusters(sandbox.env()["DEIS_CLUSTERS"]),
        limits_enforce_interval=0))
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=["limits", *args])


def nothing_changed(session) -> tuple[int, int]:
    return (session.scalar(select(func.count()).select_from(LimitSet)),
            session.scalar(select(func.count()).select_from(AuditEvent)))


@pytest.mark.parametrize(("args", "words"), [
    (["--memory", "web=64"], "A bare number has no unit"),
    (["--memory", "web=3M"], "below the minimum of 4M"),
    (["--memory", "web=-1G"], "cannot be negative"),
    (["--cpu", "web=abc"], "CPU 'abc' is not a value Deis takes"),
    (["--memory", "Web=64M"], "Process type 'Web' is not one Deis allows"),
    (["--memory", "64M"], "is not PROC=VALUE"),
])
def test_set_refuses_bad_values_and_changes_nothing(cli, db_session, sync, args, words):
    sync("deis", "eu-prod")
    before = nothing_changed(db_session)
    result = cli("set", "eu-prod", "web", *args)
    assert result.exit_code == 1
    assert words in result.output and "Nothing was changed." in result.output
    assert nothing_changed(db_session) == before


def test_set_list_then_duplicate_refused_unless_replace(cli, db_session, sync):
    sync("deis", "eu-prod")
    created = cli("set", "eu-prod", "web", "--memory", "web=512M", "--memory", "worker=256M/512M", "--cpu",
                  "web=0.5")
    assert created.exit_code == 0, created.output
    assert "memory web=512M,worker=256M/512M, cpu web=0.5" in created.output and "1 app(s) drift" in created.output
    duplicate = cli("set", "eu-prod", "web", "--memory", "web=1G")
    assert duplicate.exit_code == 1 and "exists already" in duplicate.output and "Nothing was changed." in \
        duplicate.output
    assert db_session.scalar(select(LimitSet.memory)) == {"web": "512M", "worker": "256M/512M"}
    replaced = cli("set", "eu-prod", "web", "--memory", "web=1G", "--unset-extra", "--replace")
    assert replaced.exit_code == 0, replaced.output
    listing = cli("list")
    assert listing.exit_code == 0
    line = listing.stdout.splitlines()[0].split()
    assert line[:4] == ["eu-prod", "web", "memory", "web=1G"] and "unset-extra" in line and line[-2:] == ["2",
                                                                                                       "drifting"]


def test_enforce_dry_run_prints_and_changes_nothing_then_enforce_fixes(cli, db_session, sandbox, sync):
    sync("deis", "eu-prod")
    assert cli("set", "eu-prod", "web", "--memory", "web=512M", "--cpu", "web=500m").exit_code == 0
    sync_jobs = queue("sync")
    sync_jobs.empty()
    blog_release = sandbox.deis["eu-prod"].app("blog")["release_version"]

    dry = cli("enforce", "--cluster", "eu-prod", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "eu-prod/blog: would fix (memory web=512M; cpu web=500m)" in dry.stdout
    assert "nothing was changed" in dry.output
    assert sandbox.deis["eu-prod"].app("blog")["release_version"] == blog_release and sync_jobs.count == 0

    done = cli("enforce", "--cluster", "eu-prod")
    assert done.exit_code == 0, done.output
    assert "eu-prod/blog: fixed (memory web=512M; cpu web=500m)" in done.stdout
    assert "a Deis sync is queued for eu-prod" in done.output and sync_jobs.count == 1
    assert sandbox.deis["eu-prod"].app("blog")["config"]["memory"] == {"web": "512M"}
    assert cli("drift").stdout == ""
    sync_jobs.empty()


def test_enforce_reports_the_controller_words_and_exits_non_zero(cli, db_session, sandbox, sync):
    sync("deis", "eu-prod")
    cli("set", "eu-prod", "web", "--memory", "web=512M")
    cli("set", "eu-prod", "worker", "--cpu", "worker=250m")
    sandbox.deis["eu-prod"].faults.configure(path_contains="/v2/apps/blog/config", error_rate=1.0,
                                             error_statuses=[503])
    result = cli("enforce")
    assert result.exit_code == 1
    assert "eu-prod/billing: fixed" in result.stdout
    assert "eu-prod/blog: failed" in result.stdout and "Service temporarily unavailable" in result.stdout
    queue("sync").empty()


def test_app_type_is_kept_by_the_panel(cli, db_session, sync):
    sync("deis", "eu-prod")
    assert "billing on eu-prod is of type batch (set in the panel)" in cli("app-type", "eu-prod", "billing",
                                                                           "batch").output
    sync("deis", "eu-prod")
    assert db_session.scalar(select(App.app_type).where(App.name == "billing")) == "batch"
    assert "(from its settings label)" in cli("app-type", "eu-prod", "billing").output
    unknown = cli("app-type", "eu-prod", "nope", "web")
    assert unknown.exit_code == 1 and "No app 'nope'" in unknown.output
