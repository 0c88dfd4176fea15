"""Relations between sources, rebuilt with set-based statements that touch only rows whose relation changed.

record → instance: an A record whose content is an instance's public or private IP, an AAAA record whose content
    is its IPv6 address.
record → load balancer: a CNAME to a load balancer's DNS name, or to `dualstack.<its DNS name>` (the name AWS gives
    for answers with IPv4 and IPv6 addresses).
record → app: a record whose name is one of an app's domains.
record follows instance: an A/AAAA record that pointed at an instance until that instance's address changed (the
    instance still exists): flagged "follows <instance>: old address" until it is repointed.
record dangling: an A/AAAA/CNAME pointing at nothing we know (no instance, balancer, or record of ours): a takeover risk.
"""
from __future__ import annotations

from sqlalchemy import and_, case, exists, func, literal, or_, select, update
from sqlalchemy.orm import Session, aliased

from app.models import DnsRecord, Domain, Instance, LoadBalancer


def rebuild(session: Session) -> int:
    """Recompute every relation; returns how many record rows changed."""
    changed = 0
    address_records = DnsRecord.type.in_(("A", "AAAA"))
    ipv4_instance = (
        select(func.min(Instance.id))
        .where(or_(Instance.public_ip == DnsRecord.content, Instance.private_ip == DnsRecord.content))
        .scalar_subquery()
    )
    # Instances' IPv6 addresses are stored compressed and lower case; records may carry upper-case hex.
    ipv6_instance = select(func.min(Instance.id)).where(Instance.ipv6_ip == func.lower(DnsRecord.content))
    wanted_instance = case((DnsRecord.type == "A", ipv4_instance),
                           (DnsRecord.type == "AAAA", ipv6_instance.scalar_subquery()), else_=None)
    # Before the relation moves: a record losing its instance (which still exists) now follows its old address.
    changed += session.execute(
        update(DnsRecord).where(DnsRecord.instance_id.is_not(None), wanted_instance.is_(None))
        .values(follows_instance_id=DnsRecord.instance_id).execution_options(synchronize_session=False)
    ).rowcount
    changed += session.execute(
        update(DnsRecord).where(DnsRecord.follows_instance_id.is_not(None),
                                or_(wanted_instance.is_not(None), ~address_records))
        .values(follows_instance_id=None).execution_options(synchronize_session=False)
    ).rowcount
    changed += session.execute(
        update(DnsRecord).where(DnsRecord.instance_id.is_distinct_from(wanted_instance))
        .values(instance_id=wanted_instance).execution_options(synchronize_session=False)
    ).rowcount

    cname_target = func.lower(func.rtrim(DnsRecord.content, "."))
    balancer_id = select(func.min(LoadBalancer.id)).where(
        or_(LoadBalancer.dns_name == cname_target, literal("dualstack.") + LoadBalancer.dns_name == cname_target)
    ).scalar_subquery()
    wanted_balancer = case((DnsRecord.type == "CNAME", balancer_id), else_=None)
    changed += session.execute(
        update(DnsRecord).where(DnsRecord.load_balancer_id.is_distinct_from(wanted_balancer))
        .values(load_balancer_id=wanted_balancer).execution_options(synchronize_session=False)
    ).rowcount

    app_id = select(func.min(Domain.app_id)).where(Domain.name == DnsRecord.name).scalar_subquery()
    changed += session.execute(
        update(DnsRecord).where(DnsRecord.app_id.is_distinct_from(app_id))
        .values(app_id=app_id).execution_options(synchronize_session=False)
    ).rowcount

    other = aliased(DnsRecord)
    points_at_our_record = exists(select(literal(1)).where(other.name == cname_target))
    points_at_app_domain = exists(select(literal(1)).where(Domain.name == cname_target))
    dangling = or_(
        and_(address_records, DnsRecord.instance_id.is_(None)),
        and_(DnsRecord.type == "CNAME", DnsRecord.load_balancer_id.is_(None), ~points_at_our_record,
             ~points_at_app_domain),
    )
    wanted_dangling = case((dangling, True), else_=False)
    changed += session.execute(
        update(DnsRecord).where(DnsRecord.dangling.is_distinct_from(wanted_dangling))
        .values(dangling=wanted_dangling).execution_options(synchronize_session=False)
    ).rowcount
    return changed


