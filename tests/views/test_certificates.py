"""The certificates page (what a viewer sees) and the upload form (admins, password confirmed, key never shown)."""
from __future__ import annotations

import dataclasses
import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.cluster_settings import parse_clusters
from app.extensions import db
from app.models import AuditEvent
from app.queues import queue
from tests import factories as make
from tests import pki
from tests.views.sql_statements import counting_statements

MINUTE = 60


def token_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


def row_of(page: str, name: str) -> str:
    """The table row of certificate `name` (its <tr> up to the next)."""
    start = page.index(f"<code>{name}</code>")
    return page[page.rindex("<tr", 0, start):page.index("</tr>", start)]


@pytest.fixture
def certificates(db_session):
    eu = make.cluster(db_session, "eu-prod")
    us = make.cluster(db_session, "us-prod")
    shop = make.app(db_session, "shop", eu)
    api = make.app(db_session, "api", us)
    rows = {
        "gone": make.certificate(db_session, eu, "old.example.com", name="gone",
                                 expires_in=timedelta(days=-5, hours=12)),
        "soon": make.certificate(db_session, us, "api.example.com", name="soon",
                                 expires_in=timedelta(days=6, hours=12)),
        "month": make.certificate(db_session, eu, "www.example.com", name="month",
                                  expires_in=timedelta(days=20, hours=12)),
        "later": make.certificate(db_session, eu, "later.example.com", name="later",
                                  expires_in=timedelta(days=80, hours=12)),
    }
    rows["soon"].sans = ["api.example.com", "*.api.example.com"]
    make.domain(db_session, shop, "www.example.com", rows["month"])
    make.domain(db_session, shop, "shop.example.com", rows["month"])
    make.domain(db_session, api, "api.example.com", rows["soon"])
    db_session.commit()
    return {"rows": rows, "shop": shop, "api": api}


def test_a_viewer_sees_every_certificate_with_urgency_days_left_domains_and_apps(client, login_as, certificates):
    login_as("viewer")
    response = client.get("/certificates/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'class="cert-row expired"' in row_of(page, "gone") and "expired 4 days ago" in row_of(page, "gone")  # 4.5 days: the shared formatter
    soon = row_of(page, "soon")
    assert 'class="cert-row critical"' in soon and ">\n          expires in 6 days</span>" in soon
    assert "<code>*.api.example.com</code>" in soon and "Let&#39;s Encrypt R3" in soon
    assert f'href="/apps/{certificates["api"].id}">api</a>' in soon
    month = row_of(page, "month")
    assert 'class="cert-row warning"' in month and "expires in 20 days" in month
    assert "<code>shop.example.com</code>" in month and "<code>www.example.com</code>" in month
    assert f'href="/apps/{certificates["shop"].id}">shop</a>' in month
    assert 'class="cert-row ok"' in row_of(page, "later") and "serves no domain" in row_of(page, "later")
    assert page.index("<code>gone</code>") < page.index("<code>soon</code>") < page.index("<code>month</code>")
    # The timeline: bars for the three upcoming expiries in their urgency's colour, the expired one counted apart.
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert svg.count('<rect class="bar ') == 3
    assert 'class="bar critical"' in svg and 'class="bar warning"' in svg and 'class="bar ok"' in svg
    assert "3 expiring, 1 already expired" in svg
    assert "style=" not in page  # the CSP forbids inline styles
    assert "Upload a certificate" not in page and "replace</a>" not in page  # viewers change nothing


def test_filters_by_cluster_and_urgency(client, login_as, certificates):
    login_as("viewer")
    page = client.get("/certificates/?urgency=critical").get_data(as_text=True)
    assert "<code>soon</code>" in page and "<code>month</code>" not in page and "<code>gone</code>" not in page
    page = client.get("/certificates/?cluster=eu-prod").get_data(as_text=True)
    assert "<code>soon</code>" not in page and "<code>gone</code>" in page and "<code>later</code>" in page
    assert "2 expiring, 1 already expired" in page
    refused = client.get("/certificates/?urgency=panic")
    assert refused.status_code == 400 and "No urgency called &#39;panic&#39;" in refused.get_data(as_text=True)


def test_the_page_sends_as_many_statements_for_many_certificates_as_for_few(client, login_as, db_session,
                                                                            certificates):
    login_as("viewer")
    with counting_statements() as few:
        assert client.get("/certificates/").status_code == 200
    cluster = make.cluster(db_session, "many")
    for number in range(20):
        app = make.app(db_session, f"app-{number}", cluster)
        certificate = make.certificate(db_session, cluster, f"host-{number}.example.com",
                                       expires_in=timedelta(days=number * 4 + 1))
        make.domain(db_session, app, f"host-{number}.example.com", certificate)
        make.domain(db_session, app, f"www.host-{number}.example.com", certificate)
    db_session.commit()
    with counting_statements() as many:
        page = client.get("/certificates/").get_data(as_text=True)
    assert page.count('class="cert-row ') == 24
    assert len(many) == len(few)


def test_the_app_page_shows_its_certificate_and_links_to_the_list(client, login_as, certificates):
    login_as("admin")
    page = client.get(f"/apps/{certificates['shop'].id}").get_data(as_text=True)
    assert "www.example.com" in page and "/certificates/?cluster=eu-prod" in page
    assert "/certificates/upload?cluster=eu-prod&amp;domain=www.example.com" in page


def test_a_viewer_cannot_open_or_post_the_upload_form(client, login_as, certificates, sandbox):
    login_as("viewer")
    token = token_of(client.get("/certificates/").get_data(as_text=True))
    issued = pki.leaf("www.example.com")
    before = sandbox.deis["eu-prod"].certificates()
    assert client.get("/certificates/upload").status_code == 403
    response = client.post("/certificates/upload", data={
        "csrf_token": token, "cluster": "eu-prod", "domain": "www.example.com", "certificate": issued.pem,
        "key": issued.key_pem(), "reauth_password": "whatever"})
    assert response.status_code == 403
    assert sandbox.deis["eu-prod"].certificates() == before
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action.like("certificate.%"))) == 0


# -- uploading through the page, against the Deis simulator -------------------------------------------------------
@pytest.fixture
def deis_configured(app, sandbox, monkeypatch, db_session):
    """The panel pointed at the sandbox's controllers, with eu-prod's shop and its domains as a sync leaves them."""
    settings = app.config["SETTINGS"]
    clusters = parse_clusters(sandbox.env()["DEIS_CLUSTERS"])
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(settings, deis_clusters=clusters))
    cluster = make.cluster(db_session, "eu-prod")
    shop = make.app(db_session, "shop", cluster)
    old = make.certificate(db_session, cluster, "www.example.com", name="shop-example-com")
    make.domain(db_session, shop, "www.example.com", old)
    make.domain(db_session, shop, "shop.example.com", old)
    db_session.commit()
    sync = queue("sync")
    sync.empty()
    yield sync
    sync.empty()


def post_upload(client, issued_pem: str, key_pem: str, domain: str = "www.example.com", **extra):
    token = token_of(client.get("/certificates/upload").get_data(as_text=True))
    return client.post("/certificates/upload", data={"csrf_token": token, "cluster": "eu-prod", "domain": domain,
                                                     "certificate": issued_pem, "key": key_pem, **extra})


def key_lines(key_pem: str) -> list[str]:
    return [line for line in key_pem.splitlines() if line and not line.startswith("-----")]


def test_an_admin_uploads_a_certificate_and_the_key_is_never_shown_stored_or_logged(
        client, login_as, sandbox, deis_configured, caplog):
    caplog.set_level(logging.DEBUG)
    login_as("admin")
    issued = pki.leaf("www.example.com", "shop.example.com")
    key = issued.key_pem()
    response = post_upload(client, pki.chain(issued, pki.intermediate()), key)
    assert response.status_code == 302 and response.headers["Location"] == "/certificates/?cluster=eu-prod"
    listing = client.get("/certificates/?cluster=eu-prod").get_data(as_text=True)
    assert "now serves www.example.com on eu-prod; www.example.com moved off shop-example-com" in listing
    assert "A Deis sync of eu-prod is queued" in listing

    on_deis = {cert["name"]: cert for cert in sandbox.deis["eu-prod"].certificates()}
    [new_name] = [name for name in on_deis if name.startswith("www-example-com-")]
    assert on_deis[new_name]["owner"] == "admin-panel" and on_deis[new_name]["domains"] == ["www.example.com"]
    assert on_deis["shop-example-com"]["domains"] == ["shop.example.com"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "certificate.upload"))
    assert event.actor == "admin-user" and event.after["name"] == new_name
    assert [job.args[:2] for job in deis_configured.get_jobs()] == [("deis", "eu-prod")]

    stored = " ".join(str(value) for event in db.session.scalars(select(AuditEvent))
                      for value in (event.before, event.after, event.target))
    for line in key_lines(key):
        assert line not in response.get_data(as_text=True) and line not in listing
        assert line not in stored and line not in caplog.text


@pytest.mark.parametrize("case", ["invalid PEM", "mismatched key", "not covering the domain", "encrypted key"])
def test_bad_input_is_refused_on_the_form_without_echoing_the_key(client, login_as, sandbox, deis_configured, case):
    login_as("admin")
    good = pki.leaf("www.example.com")
    stranger = pki.leaf("www.example.org")
    certificate_pem, key_pem, message = {
        "invalid PEM": ("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----", good.key_pem(),
                        "Certificate 1 of the chain is not a valid PEM certificate"),
        "mismatched key": (good.pem, pki.leaf("www.example.com").key_pem(),
                           "The private key does not belong to this certificate"),
        "not covering the domain": (stranger.pem, stranger.key_pem(),
                                    "The certificate does not cover www.example.com: it is for www.example.org"),
        "encrypted key": (good.pem, good.key_pem(password=b"secret"), "The private key is encrypted"),
    }[case]
    before = sandbox.deis["eu-prod"].certificates()
    response = post_upload(client, certificate_pem, key_pem)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and message in page and "Nothing was changed." in page
    assert not any(line in page for line in key_lines(key_pem))
    assert sandbox.deis["eu-prod"].certificates() == before
    assert deis_configured.count == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action.like("certificate.%"))) == 0


def test_a_stale_password_is_asked_on_the_form_and_the_key_is_not_replayed(client, login_as, sandbox,
                                                                          deis_configured):
    login_as("admin")
    with client.session_transaction() as session:
        session["reauth_at"] -= 6 * MINUTE
    issued = pki.leaf("www.example.com")
    key = issued.key_pem()
    asked = post_upload(client, issued.pem, key)
    page = asked.get_data(as_text=True)
    assert asked.status_code == 401 and "Enter your password to confirm this upload" in page
    assert 'name="reauth_password"' in page and not any(line in page for line in key_lines(key))
    wrong = post_upload(client, issued.pem, key, reauth_password="not my password")
    assert wrong.status_code == 401 and "Wrong password; nothing was changed." in wrong.get_data(as_text=True)
    assert not any(line in wrong.get_data(as_text=True) for line in key_lines(key))
    assert len(sandbox.deis["eu-prod"].certificates()) == 2  # nothing was created yet
    confirmed = post_upload(client, issued.pem, key, reauth_password="correct horse battery staple")
    assert confirmed.status_code == 302
    assert len(sandbox.deis["eu-prod"].certificates()) == 3


def test_a_lost_answer_on_the_create_still_makes_exactly_one_certificate(client, login_as, sandbox,
                                                                        deis_configured):
    login_as("admin")
    sandbox.deis["eu-prod"].faults.configure(apply_then_fail_rate=1.0, path_contains="/v2/certs")
    issued = pki.leaf("www.example.com")
    assert post_upload(client, issued.pem, issued.key_pem()).status_code == 302
    names = [cert["name"] for cert in sandbox.deis["eu-prod"].certificates()]
    assert len([name for name in names if name.startswith("www-example-com-")]) == 1


def test_a_cluster_the_panel_has_no_token_for_is_a_clear_error(client, login_as, sandbox, deis_configured,
                                                              db_session, monkeypatch, app):
    login_as("admin")
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(app.config["SETTINGS"], deis_clusters=[]))
    issued = pki.leaf("www.example.com")
    response = post_upload(client, issued.pem, issued.key_pem())
    assert response.status_code == 400 and "is not in DEIS_CLUSTERS" in response.get_data(as_text=True)

