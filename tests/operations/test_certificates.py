"""Uploading a certificate against the Deis simulator: checked with `cryptography`, created under the panel's user,
attached (moving the domain off its old certificate), audited without the key; bad input changes nothing."""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import AuditEvent, Base
from app.operations.certificate_checks import name_matches
from app.operations.certificates import CertificateRefused, CertificateUploadFailed, upload_certificate
from app.queues import queue
from app.services.deis import DeisClient
from tests import factories as make
from tests import pki


@pytest.fixture
def deis(sandbox) -> DeisClient:
    simulator = sandbox.deis["eu-prod"]
    return DeisClient("eu-prod", sandbox.deis_url("eu-prod"), simulator.token_for(simulator.panel_username),
                      username=simulator.panel_username)


@pytest.fixture
def sync_queue(app):
    sync = queue("sync")
    sync.empty()
    yield sync
    sync.empty()


@pytest.fixture
def platform(db_session, sandbox):
    """The panel's rows for eu-prod as a Deis sync leaves them, plus secure.example.com added to shop on both."""
    cluster = make.cluster(db_session, "eu-prod")
    shop = make.app(db_session, "shop", cluster)
    blog = make.app(db_session, "blog", cluster)
    shop_cert = make.certificate(db_session, cluster, "www.example.com", name="shop-example-com")
    blog_cert = make.certificate(db_session, cluster, "blog.example.com", name="blog-example-com",
                                 expires_in=timedelta(days=-5))
    make.domain(db_session, shop, "www.example.com", shop_cert)
    make.domain(db_session, shop, "shop.example.com", shop_cert)
    make.domain(db_session, shop, "secure.example.com")
    make.domain(db_session, blog, "blog.example.com", blog_cert)
    db_session.commit()
    simulator = sandbox.deis["eu-prod"]
    response = requests.post(f"{sandbox.deis_url('eu-prod')}/v2/apps/shop/domains/",
                             json={"domain": "secure.example.com"},
                             headers={"Authorization": f"token {simulator.token_for('alice')}"}, timeout=10)
    assert response.status_code == 201
    return {"shop": shop, "blog": blog}


def certs(sandbox) -> dict[str, dict]:
    return {cert["name"]: cert for cert in sandbox.deis["eu-prod"].certificates()}


def upload(db_session, deis, domain: str, certificate_pem: str, key_pem: str, **options):
    return upload_certificate(db_session, deis, "alice", cluster="eu-prod", domain=domain,
                              certificate_pem=certificate_pem, key_pem=key_pem, **options)


def key_lines(key_pem: str) -> list[str]:
    return [line for line in key_pem.splitlines() if line and not line.startswith("-----")]


def everything_in_the_database() -> str:
    dump = []
    with db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            dump.extend(str(row) for row in connection.execute(text(f"SELECT * FROM {table.name}")))
    return "\n".join(dump)


def test_upload_creates_under_the_panel_user_attaches_audits_and_asks_for_a_sync(
        db_session, deis, sandbox, platform, sync_queue, caplog):
    caplog.set_level(logging.DEBUG)
    issued = pki.leaf("secure.example.com", "www.secure.example.com")
    key = issued.key_pem()
    result = upload(db_session, deis, "Secure.Example.com.", pki.chain(issued, pki.intermediate()), key,
                    sync_queue=sync_queue)

    on_deis = certs(sandbox)[result.name]
    assert on_deis["owner"] == "admin-panel" and on_deis["domains"] == ["secure.example.com"]
    assert on_deis["common_name"] == "secure.example.com"
    assert result.name.startswith("secure-example-com-") and result.replaced is None and not result.reused
    assert sandbox.deis["eu-prod"]._state.certificates[result.name].certificate.count("BEGIN CERTIFICATE") == 2

    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "certificate.upload"))
    assert event.actor == "alice" and event.target == "shop"
    assert event.after["domain"] == "secure.example.com" and event.after["name"] == result.name
    assert event.after["sans"] == ["secure.example.com", "www.secure.example.com"]
    assert sync_queue.fetch_job(result.sync_job_id).args[:2] == ("deis", "eu-prod")

    for line in key_lines(key):
        assert line not in everything_in_the_database()
        assert line not in caplog.text
    assert "PRIVATE KEY" not in everything_in_the_database() and "PRIVATE KEY" not in caplog.text


def test_replacing_moves_the_domain_and_keeps_an_old_certificate_still_in_use(db_session, deis, sandbox, platform):
    issued = pki.leaf("www.example.com")
    result = upload(db_session, deis, "www.example.com", issued.pem, issued.key_pem())
    assert result.replaced == "shop-example-com" and result.removed is False
    assert certs(sandbox)[result.name]["domains"] == ["www.example.com"]
    assert certs(sandbox)["shop-example-com"]["domains"] == ["shop.example.com"]  # still serves shop.example.com
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "certificate.upload"))
    assert event.before == {"name": "shop-example-com"} and event.after["replaced"] == "shop-example-com"


def test_replacing_an_expired_certificate_deletes_it_once_nothing_uses_it(db_session, deis, sandbox, platform):
    issued = pki.leaf("blog.example.com")
    result = upload(db_session, deis, "blog.example.com", issued.pem, issued.key_pem())
    assert result.replaced == "blog-example-com" and result.removed is True
    assert "blog-example-com" not in certs(sandbox)
    assert certs(sandbox)[result.name]["domains"] == ["blog.example.com"]


def test_a_lost_answer_on_the_create_creates_exactly_one_certificate(db_session, deis, sandbox, platform):
    sandbox.deis["eu-prod"].faults.configure(apply_then_fail_rate=1.0, path_contains="/v2/certs")
    issued = pki.leaf("secure.example.com")
    result = upload(db_session, deis, "secure.example.com", issued.pem, issued.key_pem())
    assert sorted(certs(sandbox)) == sorted(["blog-example-com", "shop-example-com", result.name])
    assert certs(sandbox)[result.name]["domains"] == ["secure.example.com"]


def test_a_failed_attach_is_audited_and_the_same_upload_goes_on_from_there(db_session, deis, sandbox, platform):
    issued = pki.leaf("secure.example.com")
    sandbox.deis["eu-prod"].faults.configure(error_rate=1.0, error_statuses=[503], path_contains="/domain/")
    deis.write_attempts = 1
    with pytest.raises(CertificateUploadFailed, match=r"created certificate secure-example-com-.*Upload the same"):
        upload(db_session, deis, "secure.example.com", issued.pem, issued.key_pem())
    assert db_session.scalar(select(AuditEvent.action).where(AuditEvent.action == "certificate.upload_failed"))
    sandbox.deis["eu-prod"].faults.clear()
    result = upload(db_session, deis, "secure.example.com", issued.pem, issued.key_pem())
    assert result.reused is True and certs(sandbox)[result.name]["domains"] == ["secure.example.com"]
    assert len(certs(sandbox)) == 3


def test_a_failed_attach_after_the_detach_says_the_domain_lost_its_certificate(db_session, deis, sandbox,
                                                                              platform):
    # The detach (first request on a /domain/ path) goes through; the attach and the putting back then fail.
    sandbox.deis["eu-prod"].faults.configure(error_rate=1.0, error_statuses=[503], path_contains="/domain/",
                                             after_requests=1)
    deis.write_attempts = 1
    issued = pki.leaf("blog.example.com")
    with pytest.raises(CertificateUploadFailed, match=r"detached blog.example.com from blog-example-com; could not "
                                                      r"put blog.example.com back on blog-example-com"):
        upload(db_session, deis, "blog.example.com", issued.pem, issued.key_pem())
    assert "blog-example-com" in certs(sandbox)  # not deleted: the new one never took over


def test_a_domain_held_by_another_deis_users_certificate_is_a_clear_error(db_session, deis, sandbox, platform):
    simulator = sandbox.deis["eu-prod"]
    theirs = pki.leaf("secure.example.com")
    alice = {"Authorization": f"token {simulator.token_for('alice')}"}
    base = sandbox.deis_url("eu-prod")
    assert requests.post(f"{base}/v2/certs", json={"name": "alices", "certificate": theirs.pem,
                                                   "key": theirs.key_pem()}, headers=alice, timeout=10).ok
    assert requests.post(f"{base}/v2/certs/alices/domain/", json={"domain": "secure.example.com"}, headers=alice,
                         timeout=10).status_code == 201
    issued = pki.leaf("secure.example.com")
    with pytest.raises(CertificateUploadFailed, match=r"belongs to another Deis user.*Done before it failed: "
                                                      r"created certificate"):
        upload(db_session, deis, "secure.example.com", issued.pem, issued.key_pem())
    assert certs(sandbox)["alices"]["domains"] == ["secure.example.com"]


def _expired():
    return pki.leaf("secure.example.com", days=-1, not_before=datetime.now(UTC) - timedelta(days=90))


def _not_yet_valid():
    return pki.leaf("secure.example.com", not_before=datetime.now(UTC) + timedelta(days=2))


def _bad_inputs():
    good = pki.leaf("secure.example.com")
    other = pki.leaf("secure.example.com")
    no_san = pki.issue("secure.example.com", pki.intermediate(), sans=["other.example.com"])
    expired, early = _expired(), _not_yet_valid()
    elsewhere, wildcard = pki.leaf("www.example.org"), pki.leaf("*.secure.example.com")
    impostor = pki.issue("Test Intermediate CA", pki.root(), ca=True)  # the right name, another key
    return {
        "invalid PEM": ("not a certificate at all", good.key_pem(), "is not a PEM certificate"),
        "cut-short PEM": (good.pem[:200] + "\n-----END CERTIFICATE-----\n", good.key_pem(),
                          "Certificate 1 of the chain is not a valid PEM certificate"),
        "key in the certificate field": (good.key_pem(), good.key_pem(), "The certificate field holds a private key"),
        "invalid key": (good.pem, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                        "The private key could not be read"),
        "mismatched key": (good.pem, other.key_pem(), "does not belong to this certificate: their public keys differ"),
        "not covering the domain": (elsewhere.pem, elsewhere.key_pem(), "does not cover secure.example.com: it "
                                    "is for www.example.org"),
        "CN ignored when SANs exist": (no_san.pem, no_san.key_pem(), "does not cover secure.example.com"),
        "wildcard not for the domain itself": (wildcard.pem, wildcard.key_pem(), "does not cover "
                                               r"secure.example.com: it is for \*.secure.example.com"),
        "expired": (expired.pem, expired.key_pem(), "The certificate expired on"),
        "not yet valid": (early.pem, early.key_pem(), "is not valid yet"),
        "leaf not first": (pki.chain(pki.intermediate(), good), good.key_pem(),
                           "out of order: the key belongs to certificate 2"),
        "intermediates out of order": (pki.chain(good, pki.root(), pki.intermediate()), good.key_pem(),
                                       r"out of order: certificate 2 \(Test Root CA\) did not issue certificate 1"),
        "an intermediate that did not sign it": (pki.chain(good, impostor), good.key_pem(),
                                                 "that certificate's key did not sign it"),
        "encrypted key": (good.pem, good.key_pem(password=b"passphrase"), "The private key is encrypted"),
    }


BAD_INPUTS = _bad_inputs()


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gets_a_clear_message_and_changes_nothing(db_session, deis, sandbox, platform, case):
    certificate_pem, key_pem, message = BAD_INPUTS[case]
    before = certs(sandbox)
    with pytest.raises(CertificateRefused, match=message) as refused:
        upload(db_session, deis, "secure.example.com", certificate_pem, key_pem)
    assert "PRIVATE KEY" not in str(refused.value) and "MII" not in str(refused.value)
    assert certs(sandbox) == before
    assert db_session.scalar(select(func.count()).select_from(AuditEvent)) == 0
    assert deis.calls == 0


def test_an_unknown_domain_is_refused_before_deis_is_called(db_session, deis, sandbox, platform):
    issued = pki.leaf("nowhere.example.com")
    with pytest.raises(CertificateRefused, match=r"No domain 'nowhere.example.com' on cluster eu-prod"):
        upload(db_session, deis, "nowhere.example.com", issued.pem, issued.key_pem())
    assert deis.calls == 0


@pytest.mark.parametrize("pattern, domain, covered", [
    ("example.com", "EXAMPLE.com.", True),
    ("*.example.com", "www.example.com", True),
    ("*.example.com", "example.com", False),
    ("*.example.com", "a.b.example.com", False),
    ("w*.example.com", "www.example.com", False),
    ("*.*.example.com", "a.b.example.com", False),
    ("www.example.com", "www.example.org", False),
])
def test_wildcards_stand_for_exactly_one_leftmost_label(pattern, domain, covered):
    assert name_matches(pattern, domain) is covered


def test_a_certificate_damaged_inside_its_public_key_is_refused_not_a_crash():
    # Found by tests/fuzz/test_certificate_pems.py: cryptography decodes the key lazily, so this loaded and then
    # raised ValueError ("Invalid key") from the key comparison: a 500 on the upload form.
    import base64
    import textwrap

    from cryptography.hazmat.primitives import serialization

    from app.operations.certificate_checks import check_upload

    leaf = pki.leaf("www.example.com")
    der = bytearray(leaf.certificate.public_bytes(serialization.Encoding.DER))
    point = leaf.key.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
    der[bytes(der).index(point) + 10] ^= 0xFF  # off the curve
    damaged = ("-----BEGIN CERTIFICATE-----\n" + "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
               + "\n-----END CERTIFICATE-----\n")
    with pytest.raises(CertificateRefused, match="Certificate 1 of the chain is not a valid PEM certificate"):
        check_upload(damaged, leaf.key_pem(), "www.example.com", datetime.now(UTC))
