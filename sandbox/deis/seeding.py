"""Seeding a controller's state from a scenario, with the same validation the API applies."""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from sandbox.certs import make_certificate
from sandbox.deis.certificates import parse_certificate
from sandbox.deis.state import App, AppConfig, AppSettings, Certificate, ControllerState, now_utc
from sandbox.deis.validation import CONFIG_FIELDS, validate_domain
from sandbox.scenario import AppSpec, CertificateSpec, Scenario, ScenarioError


def derived_token(cluster: str, username: str) -> str:
    # 40 hex characters like a DRF authtoken key, stable for a (cluster, user) pair across resets and runs.
    return hashlib.sha1(f"sandbox-deis:{cluster}:{username}".encode()).hexdigest()


def seed(scenario: Scenario, cluster: str) -> ControllerState:
    """One cluster's controller state from the scenario; ScenarioError when the scenario contradicts itself."""
    state = ControllerState()
    seeded_at = now_utc()
    epoch = datetime(2024, 1, 1, tzinfo=UTC)  # fixed, so a reseed does not look like a change
    everyone = [scenario.panel_user, *[u for u in scenario.users if u.username != scenario.panel_user.username]]
    for position, spec in enumerate(everyone):
        token = spec.tokens.get(cluster) or derived_token(cluster, spec.username)
        is_superuser = spec.admin or spec.username == scenario.panel_user.username
        state.add_user(spec, token, is_superuser, epoch + timedelta(days=position))
    apps = [app_spec for app_spec in scenario.apps if app_spec.cluster == cluster]
    for position, app_spec in enumerate(apps):
        _seed_app(state, cluster, app_spec, epoch + timedelta(minutes=position))
    for certificate_spec in scenario.certificates:
        if certificate_spec.cluster == cluster:
            _seed_certificate(state, cluster, scenario, certificate_spec, seeded_at, epoch)
    return state


def _seed_app(state: ControllerState, cluster: str, spec: AppSpec, created: datetime) -> None:
    where = f"app {spec.name} on {cluster}"
    if spec.owner not in state.users:
        raise ScenarioError(f"{where}: unknown owner {spec.owner!r}")
    for username in spec.shared_with:
        if username not in state.users:
            raise ScenarioError(f"{where}: shared_with names unknown user {username!r}")
    problems = [
        f"{name}: {message}"
        for name, values in (("config", spec.config), ("memory", spec.memory), ("cpu", spec.cpu))
        if (message := CONFIG_FIELDS["values" if name == "config" else name](values))
    ]
    if problems:
        raise ScenarioError(f"{where}: " + "; ".join(problems))
    key = f"{cluster}/{spec.name}"
    config = AppConfig(
        uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"deis-config:{key}")),
        owner=spec.owner,
        values={k: str(v) for k, v in spec.config.items()},
        memory=dict(spec.memory),
        cpu=dict(spec.cpu),
        created=created,
        updated=created,
    )
    settings = AppSettings(
        uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"deis-settings:{key}")),
        owner=spec.owner,
        maintenance=spec.maintenance,
        label={"app-type": spec.app_type},
        created=created,
        updated=created,
    )
    app = App(
        id=spec.name,
        uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"deis-app:{key}")),
        owner=spec.owner,
        structure=dict(spec.structure),
        created=created,
        updated=created,
        config=config,
        settings=settings,
        shared_with=set(spec.shared_with),
    )
    # Created, then deployed once: the controller's first two releases.
    app.release(spec.owner, f"{spec.owner} created initial release", created)
    app.release(spec.owner, f"{spec.owner} deployed {uuid.uuid5(uuid.NAMESPACE_URL, key).hex[:7]}", created)
    state.add_app(app)
    # The controller adds a domain equal to the app id when the app is created.
    for domain_name in [spec.name, *[d for d in spec.domains if d != spec.name]]:
        try:
            domain_name = validate_domain(domain_name)
        except ValueError as error:
            raise ScenarioError(f"{where}: domain {domain_name!r}: {error}") from error
        if domain_name in state.domains:
            other = state.domains[domain_name].app_id
            raise ScenarioError(f"{where}: domain {domain_name} is already used by app {other}")
        state.add_domain(app, domain_name, spec.owner, created)


def _seed_certificate(
    state: ControllerState, cluster: str, scenario: Scenario, spec: CertificateSpec, seeded_at: datetime,
    epoch: datetime,
) -> None:
    where = f"certificate {spec.name} on {cluster}"
    owner = spec.owner or scenario.panel_user.username
    if owner not in state.users:
        raise ScenarioError(f"{where}: unknown owner {owner!r}")
    if spec.name in state.certificates:
        raise ScenarioError(f"{where}: defined twice (names are unique on a controller)")
    # Anchored on the minute: a reseed within the same minute reuses the signed PEM (RSA signing is the cost).
    anchor = seeded_at.replace(second=0)
    not_before = anchor - timedelta(days=spec.starts_days_ago)
    not_after = anchor + timedelta(days=spec.expires_in_days)
    pem, key = make_certificate(spec.common_name, spec.sans, not_before, not_after)
    parsed = parse_certificate(pem)
    certificate = Certificate(
        id=state.next_certificate_id,
        name=spec.name,
        owner=owner,
        certificate=pem,
        key=key,
        created=epoch + timedelta(hours=state.next_certificate_id),
        **asdict(parsed),
    )
    state.add_certificate(certificate)
    for domain_name in spec.domains:
        domain = state.domains.get(domain_name)
        if domain is None:
            raise ScenarioError(f"{where}: domain {domain_name} belongs to no app on {cluster}")
        if domain.certificate is not None:
            raise ScenarioError(f"{where}: domain {domain_name} already has certificate {domain.certificate}")
        state.attach(certificate, domain_name)
