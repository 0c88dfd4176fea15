"""Limit sets and app types: bad values and duplicates refused with nothing changed, drift recomputed on every
change, and an app type set in the panel kept by the next sync."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import App, AuditEvent, LimitSet
from app.operations.limit_sets import (LimitSetRefused, create_limit_set, delete_limit_set, set_app_types,
                                       update_limit_set)
from tests import factories as make
from tests.sync.conftest import clients, locks, sync  # noqa: F401  (fixtures: the real synchronizer on the sandbox)


@pytest.fixture
def cluster(db_session):
    cluster_row = make.cluster(db_session, "eu-prod")
    make.app(db_session, "shop", cluster_row, memory={"web": "1024M"}, cpu={"web": "1000m"})
    make.app(db_session, "blog", cluster_row, memory={"web": "256M"})
    db_session.commit()
    return cluster_row


def counts(session) -> tuple[int, int]:
    return (session.scalar(select(func.count()).select_from(LimitSet)),
            session.scalar(select(func.count()).select_from(AuditEvent)))


def drifting(session) -> set[str]:
    return set(session.scalars(select(App.name).where(App.limit_drift.is_(True))))


@pytest.mark.parametrize(("memory", "cpu", "words"), [
    ({"web": "64"}, {}, "A bare number has no unit"),
    ({"web": "3M"}, {}, "below the minimum of 4M"),
    ({"web": "-1G"}, {}, "cannot be negative"),
    ({"web": "abc"}, {}, "not a value Deis takes"),
    ({}, {"web": "abc"}, "CPU 'abc' is not a value Deis takes"),
    ({"Web_1": "64M"}, {}, "Process type 'Web_1' is not one Deis allows"),
    ({}, {}, "at least one memory or CPU limit"),
])
def test_bad_limits_are_refused_and_change_nothing(db_session, cluster, memory, cpu, words):
    before = counts(db_session)
    with pytest.raises(LimitSetRefused, match=words):
        create_limit_set(db_session, cluster="eu-prod", app_type="web", memory=memory, cpu=cpu, unset_extra=False,
                         actor="alice")
    db_session.rollback()
    assert counts(db_session) == before


def test_a_duplicate_set_for_the_same_cluster_and_type_is_refused(db_session, cluster):
    create_limit_set(db_session, cluster="eu-prod", app_type="web", memory={"web": "1G"}, cpu={}, unset_extra=False,
                     actor="alice")
    before = counts(db_session)
    with pytest.raises(LimitSetRefused, match="A limit set for type web on eu-prod exists already"):
        create_limit_set(db_session, cluster="eu-prod", app_type="web", memory={"web": "2G"}, cpu={},
                         unset_extra=False, actor="alice")
    db_session.rollback()
    assert counts(db_session) == before
    assert db_session.scalar(select(LimitSet.memory)) == {"web": "1G"}


def test_unknown_cluster_and_bad_app_type_are_refused(db_session, cluster):
    with pytest.raises(LimitSetRefused, match="No cluster called 'nowhere'"):
        create_limit_set(db_session, cluster="nowhere", app_type="web", memory={"web": "1G"}, cpu={},
                         unset_extra=False, actor="alice")
    with pytest.raises(LimitSetRefused, match="App type 'Web Apps' is not valid"):
        create_limit_set(db_session, cluster="eu-prod", app_type="Web Apps", memory={"web": "1G"}, cpu={},
                         unset_extra=False, actor="alice")


def test_drift_is_recomputed_when_a_set_is_created_changed_and_deleted(db_session, cluster):
    limit_set = create_limit_set(db_session, cluster="eu-prod", app_type="web", memory={"web": "1G"},
                                 cpu={"web": "1"}, unset_extra=False, actor="alice")
    assert drifting(db_session) == {"blog"}  # shop's 1024M and 1000m are 1G and 1
    update_limit_set(db_session, limit_set, memory={"web": "256M"}, cpu={}, unset_extra=False, actor="alice")
    assert drifting(db_session) == {"shop"}
    update_limit_set(db_session, limit_set, memory={"web": "256M"}, cpu={}, unset_extra=True, actor="alice")
    assert drifting(db_session) == {"shop"}
    delete_limit_set(db_session, limit_set, "alice")
    assert drifting(db_session) == set()
    actions = db_session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("limit_set.%"))
                                 .order_by(AuditEvent.id)).all()
    assert actions == ["limit_set.create", "limit_set.update", "limit_set.update", "limit_set.delete"]


def test_an_app_type_set_in_the_panel_survives_a_sync_and_can_go_back_to_the_label(db_session, sync):
    sync("deis", "eu-prod")
    billing = db_session.scalar(select(App).where(App.name == "billing"))
    assert billing.app_type == "worker"  # from its settings label
    create_limit_set(db_session, cluster="eu-prod", app_type="batch", memory={"worker": "1G"}, cpu={},
                     unset_extra=False, actor="alice")

    assert set_app_types(db_session, [billing], "batch", "alice") == 1
    assert (billing.app_type, billing.limit_drift) == ("batch", True)
    sync("deis", "eu-prod")
    db_session.expire_all()
    billing = db_session.scalar(select(App).where(App.name == "billing"))
    assert (billing.app_type, billing.app_type_override, billing.limit_drift) == ("batch", "batch", True)

    set_app_types(db_session, [billing], None, "alice")
    assert (billing.app_type, billing.app_type_override, billing.limit_drift) == ("worker", None, False)
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "app.set_type")
                               .order_by(AuditEvent.id.desc())).first()
    assert event.before == {"app_type": "batch", "override": "batch"}
    with pytest.raises(LimitSetRefused, match="is not valid"):
        set_app_types(db_session, [billing], "-bad-", "alice")
