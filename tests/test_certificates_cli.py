"""`flask certificates list` and `flask certificates upload` as an operator runs them."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import select

from app.cluster_settings import parse_clusters
from app.extensions import db
from app.models import AuditEvent
from app.queues import queue
from tests import factories as make
from tests import pki


def test_list_prints_days_left_soonest_first(app, db_session):
    cluster = make.cluster(db_session, "eu-prod")
    shop = make.app(db_session, "shop", cluster)
    later = make.certificate(db_session, cluster, "www.example.com", name="later",
                             expires_in=timedelta(days=40, hours=12))
    make.certificate(db_session, cluster, "old.example.com", name="gone", expires_in=timedelta(days=-2, hours=12))
    make.domain(db_session, shop, "www.example.com", later)
    db_session.commit()
    result = app.test_cli_runner().invoke(args=["certificates", "list"])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.output.splitlines() if line.strip() and "certificate" not in line]
    assert lines[0][:4] == ["-2", "expired", "eu-prod", "gone"]
    assert lines[1][:4] == ["40", "ok", "eu-prod", "later"] and lines[1][-1] == "www.example.com"
    expiring = app.test_cli_runner().invoke(args=["certificates", "list", "--urgency", "expired"])
    assert "later" not in expiring.output and "gone" in expiring.output


def test_upload_from_files_attaches_on_deis_and_bad_input_changes_nothing(app, db_session, sandbox, monkeypatch,
                                                                          tmp_path):
    settings = app.config["SETTINGS"]
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(
        settings, deis_clusters=parse_clusters(sandbox.env()["DEIS_CLUSTERS"])))
    cluster = make.cluster(db_session, "eu-prod")
    make.domain(db_session, make.app(db_session, "shop", cluster), "shop")  # the app's default domain, no cert
    db_session.commit()
    queue("sync").empty()
    issued, stranger = pki.leaf("shop"), pki.leaf("shop")
    (tmp_path / "chain.pem").write_text(pki.chain(issued, pki.intermediate()))
    (tmp_path / "key.pem").write_text(issued.key_pem())
    (tmp_path / "wrong.pem").write_text(stranger.key_pem())
    runner = app.test_cli_runner()
    before = sandbox.deis["eu-prod"].certificates()
    wrong = runner.invoke(args=["certificates", "upload", "--cluster", "eu-prod", "--domain", "shop",
                                "--certificate", str(tmp_path / "chain.pem"), "--key", str(tmp_path / "wrong.pem")])
    assert wrong.exit_code == 1 and "does not belong to this certificate" in wrong.output
    assert sandbox.deis["eu-prod"].certificates() == before
    done = runner.invoke(args=["certificates", "upload", "--cluster", "eu-prod", "--domain", "shop",
                               "--certificate", str(tmp_path / "chain.pem"), "--key", str(tmp_path / "key.pem")])
    assert done.exit_code == 0, done.output
    assert "now serves shop on eu-prod" in done.output and "PRIVATE" not in done.output
    [created] = [cert for cert in sandbox.deis["eu-prod"].certificates() if cert["common_name"] == "shop"]
    assert created["domains"] == ["shop"]
    assert db.session.scalar(select(AuditEvent.actor).where(AuditEvent.action == "certificate.upload")) == "cli"
    queue("sync").empty()
