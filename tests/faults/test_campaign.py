"""The fault campaign: sync, a cluster switch and its rollback, limit enforcement, database provisioning, backups and
restores, run round after round with ~10% errors, resets, lost answers (apply then fail), churn, 429 storms and
latency spikes on every hop. Afterwards, with the faults off and one healthy sync, the panel's database equals the
simulators' state, nothing was lost, every operation is final (or visibly retryable) and no notification went out
twice. `FAULT_ROUNDS` sets the rounds (`make test-long` runs more), `FAULT_SEED` replays a campaign.
"""
from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from rq import SimpleWorker
from sqlalchemy import select

from app.extensions import db
from app.models import (Alert, AlertDelivery, App, Backup, ChangeSet, Cluster, Database, DnsRecord, DnsZone, Instance,
                        LimitSet, Operation, SyncRequest, SyncRun)
from app.operations import change_sets, database_backups
from app.operations.change_sets import ChangeSetRefused
from app.operations.cluster_switch import plan_switch
from app.operations.database_backups import BackupRefused
from app.operations.database_provisioning import ProvisioningRefused, create_database
from app.operations.limit_sets import create_limit_set, update_limit_set
from app.operations.limits_enforcement import enforce_limits
from app.queries.sync_status import SYNC_QUEUE
from app.queues import queue, redis_connection
from app.services.cloudflare_dns import CloudflareError
from jobs.alerts import run_alerts
from jobs.sync import sync_source
from tests.faults.conftest import rounds

# Every hop's faults for one step; 429 storms and latency spikes are drawn per step and hop.
FAULTS = {"error_rate": 0.1, "error_statuses": [500, 502, 503, 429], "reset_rate": 0.03,
          "apply_then_fail_rate": 0.08, "jitter_ms": 20}
CHURN_PER_SECOND = 2.0
ZONES_KEPT = ("name", "type", "content", "ttl", "proxied", "comment")
FINAL_CHANGE_SET_STATES = {"applied", "rolled_back", "conflict", "failed", "partially_applied", "planned"}
WAIT_SECONDS = 90


def sync_now(actor: str, **options) -> str:
    """What "Sync now" does, with this process as the worker: the fan-out queues one job per scope and the final
    relations job on the real `sync` queue; a burst worker runs them all. Returns how the request ended."""
    sync_source(actor=actor, **options)
    SimpleWorker([queue(SYNC_QUEUE)], connection=redis_connection()).work(burst=True, logging_level="WARNING")
    db.session.expire_all()
    return db.session.scalar(select(SyncRequest.status).order_by(SyncRequest.id.desc()).limit(1))


class Campaign:
    def __init__(self, world, seed: int, dbapi_prefix: str) -> None:
        self.world = world
        self.rng = random.Random(seed)
        self.prefix = f"{dbapi_prefix}c{seed % 10_000}_"
        self.ran: Counter[str] = Counter()  # operations run under faults, by kind and outcome
        self.failures: list[str] = []  # why the operations that failed under faults failed (for the figures)

    # -- faults ---------------------------------------------------------------------------------------------------
    def faults_on(self, *, churn: bool = False) -> None:
        for name, injector in self.world.injectors.items():
            storm = 1.0 if self.rng.random() < 0.15 else 0.0
            spike = 150 if self.rng.random() < 0.15 else 0
            churns = churn and (name == "cloudflare" or name.startswith("deis:"))
            injector.configure(**FAULTS, seed=self.rng.randrange(2**31), storm_429_seconds=storm, latency_ms=spike,
                               churn_per_second=CHURN_PER_SECOND if churns else 0.0)

    def faults_off(self) -> None:
        for injector in self.world.injectors.values():
            injector.clear()

    def injected(self) -> dict[str, dict[str, int]]:
        report = {name: {**injector.state()["injected"], "churned": injector.churned}
                  for name, injector in self.world.injectors.items()}
        return report

    # -- steps ----------------------------------------------------------------------------------------------------
    def sync(self) -> None:
        self.faults_on(churn=True)
        # A failing scope is recorded on its SyncRun and fails the request; it deletes nothing.
        self.ran[f"sync:{sync_now('campaign')}"] += 1

    def switch_and_rollback(self) -> None:
        """Switch eu-prod to eu-staging and back under faults; what faults leave half-done, an operator finishes
        with the faults gone (resume, or roll back what was applied); then every record is as before."""
        before = self.dns_shapes()
        self.faults_on()
        cf = self.world.clients.cloudflare()
        try:
            switch = plan_switch(db.session, cf, "eu-prod", "eu-staging", "campaign")
        except (CloudflareError, ChangeSetRefused):
            self.ran["switch.plan:failed"] += 1
            self.faults_off()
            return
        applied = self.apply(switch, cf, "switch")
        if applied.state in ("applied", "partially_applied"):
            self.apply(change_sets.plan_rollback(db.session, applied, "campaign"), cf, "rollback")
        self.faults_off()
        self.heal_change_sets()
        assert self.dns_shapes() == before, "the switch and its rollback did not put every record back"

    def apply(self, change_set: ChangeSet, cf, label: str) -> ChangeSet:
        change_sets.request_apply(db.session, None, change_set, "campaign")
        outcome = change_sets.apply(db.session, cf, change_set.id)
        self.ran[f"{label}:{outcome.state}"] += 1
        return outcome

    def heal_change_sets(self) -> None:
        """What an operator does after a fault: resume a half-applied rollback, roll back a half-applied switch."""
        cf = self.world.clients.cloudflare()
        for _ in range(5):
            db.session.expire_all()
            open_sets = db.session.scalars(select(ChangeSet).where(
                ChangeSet.state.in_(("partially_applied", "failed"))).order_by(ChangeSet.id)).all()
            progressed = False
            for change_set in open_sets:
                if change_set.kind == "rollback":  # resume it: it puts the records back
                    self.apply(change_set, cf, "heal-resume")
                    progressed = True
                elif change_set.state == "partially_applied":  # a failed switch was reverted already
                    self.apply(change_sets.plan_rollback(db.session, change_set, "operator"), cf, "heal-rollback")
                    progressed = True
            if not progressed:
                return

    def limits(self, round_number: int) -> None:
        memory = ("384M", "512M", "768M")[round_number % 3]
        limit_set = db.session.scalar(select(LimitSet).join(Cluster).where(Cluster.name == "eu-prod",
                                                                           LimitSet.app_type == "web"))
        if limit_set is None:
            create_limit_set(db.session, cluster="eu-prod", app_type="web", memory={"web": memory}, cpu={},
                             unset_extra=False, actor="campaign")
        else:
            update_limit_set(db.session, limit_set, memory={"web": memory}, cpu={}, unset_extra=False,
                             actor="campaign")
        self.faults_on()
        report = enforce_limits(db.session, self.world.clients.deis, "campaign", cluster="eu-prod",
                                interval_seconds=0)
        for item in report.apps:
            self.ran[f"limits.enforce:{item.outcome}"] += 1

    def databases(self) -> None:
        """Provision one more app, capture a backup of every ready database, restore one; wait for the callbacks."""
        self.faults_on()
        dbapi, server = self.world.dbapi, self.world.clients.database_server("eu-prod")
        apps = db.session.scalars(select(App).join(Cluster).where(Cluster.name == "eu-prod",
                                                                 ~App.name.startswith("churn-"))
                                  .order_by(App.name)).all()
        candidates = [app for app in apps if app.database is None or app.database.state == "failed"]
        if candidates:
            try:
                self.finish([create_database(db.session, dbapi, self.rng.choice(candidates), server=server,
                                             actor="campaign", replace=True, name_prefix=self.prefix)])
            except ProvisioningRefused:
                self.ran["database.create:refused"] += 1
        started: list[Operation] = []
        for database in db.session.scalars(select(Database).where(Database.state == "ready")).all():
            try:
                started.append(database_backups.capture(db.session, dbapi, database, actor="campaign"))
            except BackupRefused:
                self.ran["database.backup:refused"] += 1
        self.finish(started)
        restorable = db.session.scalars(select(Backup).where(Backup.state == "succeeded")).all()
        if restorable:
            try:
                self.finish([database_backups.restore(db.session, dbapi, self.rng.choice(restorable),
                                                      actor="campaign")])
            except BackupRefused:
                self.ran["database.restore:refused"] += 1

    def finish(self, operations: list[Operation]) -> None:
        for operation in operations:
            finished = wait_final(operation.id)
            self.ran[f"{finished.kind}:{finished.state}"] += 1
            if finished.state == "failed":
                self.failures.append(f"{finished.kind}: {finished.error}")

    # -- the simulators' side -------------------------------------------------------------------------------------
    def dns_shapes(self) -> list[tuple]:
        cloudflare = self.world.sandbox.cloudflare
        zones = db.session.scalars(select(DnsZone.name)).all()
        return sorted(tuple(str(record.get(key)) for key in ZONES_KEPT) for zone in zones
                      for record in cloudflare.records(zone))


def wait_final(operation_id: int, timeout: float = WAIT_SECONDS) -> Operation:
    deadline = time.monotonic() + timeout
    while True:
        db.session.expire_all()
        operation = db.session.get(Operation, operation_id)
        if operation.state in ("succeeded", "failed"):
            return operation
        if time.monotonic() > deadline:
            raise AssertionError(f"operation {operation.kind} {operation.uuid} still {operation.state} after"
                                 f" {timeout:.0f}s: {operation.progress_message}")
        time.sleep(0.2)


def test_fault_campaign_loses_nothing_and_converges(world, campaign_seed, dbapi_prefix, dbapi_app, webhook,
                                                    tmp_path_factory):
    campaign = Campaign(world, campaign_seed, dbapi_prefix)
    campaign.faults_off()
    assert sync_now("setup") == "succeeded"  # the starting point: the platform as the panel knows it
    total_rounds = rounds()
    seconds: Counter[str] = Counter()
    for round_number in range(total_rounds):
        for step, run in (("sync", campaign.sync), ("switch", campaign.switch_and_rollback),
                          ("limits", lambda: campaign.limits(round_number)), ("databases", campaign.databases)):
            started = time.monotonic()
            run()
            seconds[step] += round(time.monotonic() - started, 1)
        campaign.faults_off()
        run_alerts()
    injected = campaign.injected()

    # -- the faults are gone: what an operator would do, then one healthy sync -----------------------------------
    campaign.faults_off()
    db.session.expire_all()
    for operation in db.session.scalars(select(Operation).where(Operation.state.in_(("pending", "running")))):
        wait_final(operation.id)
    sync_now("healthy", allow_mass_delete=True)  # churn deleted apps: confirm those deletions
    report = enforce_limits(db.session, world.clients.deis, "operator", cluster="eu-prod", interval_seconds=0)
    assert not report.failed, [(item.app, item.error) for item in report.failed]
    assert sync_now("healthy") == "succeeded"
    run_alerts()
    run_alerts()  # a second run has nothing new to tell

    assert_panel_equals_simulators(world)
    assert_databases_match_dbapi(world, dbapi_app, campaign.prefix)
    assert_everything_final()
    assert_no_notification_twice(webhook)

    figures = {"seed": campaign_seed, "rounds": total_rounds, "faults_injected": injected,
               "faults_injected_total": sum(sum(kinds.values()) for kinds in injected.values()),
               "operations_run": dict(sorted(campaign.ran.items())),
               "operations_run_total": sum(campaign.ran.values()), "failures_under_faults": campaign.failures,
               "seconds_by_step": dict(seconds)}
    destination = Path(os.environ.get("FAULT_REPORT") or tmp_path_factory.getbasetemp() / "faults.json")
    destination.write_text(json.dumps(figures, indent=2))
    print(f"fault campaign figures ({destination}):\n{json.dumps(figures, indent=2)}")
    assert figures["faults_injected_total"] > 0 and figures["operations_run_total"] > 0


def assert_panel_equals_simulators(world) -> None:
    db.session.expire_all()
    sandbox = world.sandbox
    for cluster_name, simulator in sandbox.deis.items():
        live = {app_id: simulator.app(app_id) for app_id in simulator.app_ids()}
        rows = {app.name: app for app in db.session.scalars(select(App).join(Cluster)
                                                             .where(Cluster.name == cluster_name))}
        assert sorted(rows) == sorted(live), f"apps of {cluster_name} differ"
        for name, app in rows.items():
            remote = live[name]
            assert app.owner == remote["owner"] and app.structure == remote["structure"], name
            assert sorted(app.config_values) == sorted(remote["config"]["values"]), f"config keys of {name}"
            assert (app.memory, app.cpu) == (remote["config"]["memory"], remote["config"]["cpu"]), f"limits {name}"
            assert sorted(domain.name for domain in app.domains) == sorted(remote["domains"]), f"domains {name}"
            assert not app.limit_drift, f"{name} still drifts from its limit set"
    for zone in db.session.scalars(select(DnsZone)):
        live = sorted((record["id"], record["name"], record["type"], record["content"], record["ttl"])
                      for record in sandbox.cloudflare.records(zone.name))
        rows = sorted((row.cf_id, row.name, row.type, row.content, row.ttl)
                      for row in db.session.scalars(select(DnsRecord).where(DnsRecord.zone_id == zone.id)))
        assert rows == live, f"DNS records of {zone.name} differ"
    live_instances = set()
    for region in sandbox.aws.regions:
        for reservation in sandbox.aws.client("ec2", region).describe_instances()["Reservations"]:
            live_instances.update(instance["InstanceId"] for instance in reservation["Instances"])
    assert set(db.session.scalars(select(Instance.aws_id))) == live_instances


def assert_databases_match_dbapi(world, dbapi_app, prefix: str) -> None:
    from dbapi.models import Backup as RemoteBackup, Database as RemoteDatabase, DatabaseState, db as dbapi_db

    with dbapi_app.app_context():
        remote = {database.id: database for database in dbapi_db.session.scalars(
            select(RemoteDatabase).where(RemoteDatabase.name.startswith(prefix)))}
        remote_backups = {backup.id: backup.state for backup in dbapi_db.session.scalars(
            select(RemoteBackup).where(RemoteBackup.database_id.in_(list(remote))))}
        live_remote = {database_id for database_id, database in remote.items()
                       if database.state in DatabaseState.LIVE}
        dbapi_db.session.remove()
    db.session.expire_all()
    panel = {database.dbapi_id: database for database in db.session.scalars(
        select(Database).where(Database.state == "ready"))}
    # No database lost: every live one dbapi made for the campaign is a ready database of the panel, and back.
    assert set(panel) == live_remote, "dbapi and the panel disagree on the databases that exist"
    for database in panel.values():
        if database.app is None:  # its app was deleted on the controller (churn): the database is kept, unowned
            continue
        values = world.sandbox.deis[database.cluster.name].app(database.app.name)["config"]["values"]
        assert urlsplit(values["DATABASE_URL"]).path == f"/{database.name}", database.app.name
    panel_backups = {backup.dbapi_backup_id: backup.state for backup in db.session.scalars(
        select(Backup).where(Backup.kind != "cloned"))}
    for backup_id, state in remote_backups.items():
        if state == "succeeded":
            assert panel_backups.get(backup_id) == "succeeded", f"dbapi backup {backup_id} is not a panel backup"
    assert [state for backup_id, state in panel_backups.items() if state == "succeeded"
            and remote_backups.get(backup_id) != "succeeded"] == []


def assert_everything_final() -> None:
    db.session.expire_all()
    stuck = db.session.scalars(select(Operation).where(Operation.state.not_in(("succeeded", "failed")))).all()
    assert stuck == [], [(operation.kind, operation.state) for operation in stuck]
    failed_without_reason = db.session.scalars(select(Operation).where(Operation.state == "failed",
                                                                       Operation.error.is_(None))).all()
    assert failed_without_reason == []
    assert db.session.scalars(select(SyncRun).where(SyncRun.status == "running")).all() == []
    states = set(db.session.scalars(select(ChangeSet.state)))
    assert states <= FINAL_CHANGE_SET_STATES, states  # never left `applying`
    assert db.session.scalars(select(Backup).where(Backup.state.in_(("pending", "running")))).all() == []


def assert_no_notification_twice(webhook) -> None:
    db.session.expire_all()
    delivered = db.session.scalars(select(AlertDelivery).where(AlertDelivery.state == "delivered")).all()
    keys = Counter((delivery.alert_id, delivery.notice, delivery.revision, delivery.channel)
                   for delivery in delivered)
    assert [key for key, times in keys.items() if times > 1] == []
    assert len(webhook.bodies) == len(delivered), (len(webhook.bodies), len(delivered))
    pending = db.session.scalars(select(Alert).where(Alert.pending_notice.is_not(None))).all()
    assert pending == []
