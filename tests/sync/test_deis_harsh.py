"""A Deis sync against a controller as harsh as production: the wrong token, proxies, short listings, churn.

Whatever goes wrong, a run that cannot trust its picture deletes nothing and says why in words; an app that goes
away while the run reads it is simply gone, and the rest of the cluster syncs.
"""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.models import App, Certificate, Domain, SyncRun
from tests.sandbox.conftest import serve_wsgi

RULE = "the cluster's Deis user must be a superuser owning the certificates"


def picture() -> dict[str, set[str]]:
    """What an operator sees of the clusters: app, domain and certificate names."""
    db.session.expire_all()
    return {"apps": set(db.session.scalars(select(App.name))), "domains": set(db.session.scalars(select(Domain.name))),
            "certificates": set(db.session.scalars(select(Certificate.name)))}


def as_panel(sandbox, method: str, path: str, cluster: str = "eu-prod") -> requests.Response:
    simulator = sandbox.deis[cluster]
    headers = {"Authorization": f"token {simulator.token_for(simulator.panel_username)}"}
    return requests.request(method, f"{sandbox.deis_url(cluster)}{path}", headers=headers, timeout=10)


def failed_run() -> SyncRun:
    return db.session.scalars(select(SyncRun).where(SyncRun.status == "failed")).one()


@pytest.mark.parametrize("user, why", [
    ("alice", "token belongs to 'alice' (not superuser; the configured username is 'admin-panel')"),
    ("carol", "token belongs to 'carol' (the configured username is 'admin-panel')"),  # an admin, not the owner
])
def test_a_token_of_the_wrong_user_fails_in_words_and_deletes_nothing(sandbox, sync, sync_with, deis_clients,
                                                                      user, why):
    sync("deis", "eu-prod")
    before = picture()
    assert as_panel(sandbox, "DELETE", "/v2/apps/reports").status_code == 204  # would be swept by a whole run

    runs, failures = sync_with(deis_clients(user=user))
    assert runs == [] and len(failures) == 1
    assert failed_run().error == f"Deis eu-prod: check of the panel's Deis user failed: {RULE}: {why}"
    assert picture() == before


def test_a_clusters_last_certificate_gone_syncs_instead_of_failing(sandbox, sync):
    sync("deis", "us-prod")
    assert "api-example-com" in picture()["certificates"]
    assert as_panel(sandbox, "DELETE", "/v2/certs/api-example-com", cluster="us-prod").status_code == 204

    runs, failures = sync("deis", "us-prod")
    assert failures == [] and runs[0].status == "succeeded"  # it used to fail with 'name'
    assert "api-example-com" not in picture()["certificates"]
    assert db.session.scalar(select(Domain).where(Domain.name == "api.example.com")).certificate is None


def test_a_listing_short_of_its_count_deletes_nothing(sandbox, sync):
    sync("deis", "eu-prod")
    before = picture()
    assert as_panel(sandbox, "DELETE", "/v2/apps/reports").status_code == 204
    sandbox.deis["eu-prod"].set_switches(drop_per_page=1)

    runs, failures = sync("deis", "eu-prod")
    assert runs == []
    assert failed_run().error.startswith("Deis eu-prod: list apps failed: the listing is not whole, twice running "
                                         "(2 results for a count of 3;")
    assert picture() == before

    sandbox.deis["eu-prod"].clear_switches()
    runs, failures = sync("deis", "eu-prod")
    assert failures == [] and "reports" not in picture()["apps"]


def test_a_listing_shortened_mid_way_each_time_deletes_nothing(sandbox, sync, sync_with, deis_clients):
    sync("deis", "eu-prod")
    before = picture()
    victims = ["reports", "blog"]

    def delete_after_first_page(response, *args, **kwargs):
        # Another operator deletes an app while the panel is between page 1 and page 2 of the listing, twice.
        if response.request.path_url == "/v2/apps?limit=2" and victims:
            sandbox.deis["eu-prod"].delete_app(victims.pop(0))
        return response

    runs, failures = sync_with(deis_clients(page_size=2, response_hooks=[delete_after_first_page]))
    assert runs == []
    assert "count changed from 4 to 3 during the listing; then count changed from 3 to 2" in failed_run().error
    assert picture() == before  # reports and blog stay until a whole listing says they are gone


def test_a_listing_that_skips_an_app_under_churn_deletes_nothing_that_exists(sandbox, sync, sync_with, deis_clients):
    sync("deis", "eu-prod")
    before = picture()
    assert sorted(sandbox.deis["eu-prod"].app_ids())[:4] == ["billing", "blog", "reports", "shop"]
    changed = []

    def replace_an_app_after_first_page(response, *args, **kwargs):
        # Between pages 1 and 2, another operator deletes billing (page 1) and creates zzz (sorts last): the count
        # stays 4, but offset 2 now starts at shop, so the listing never shows reports, which exists all along.
        if response.request.path_url == "/v2/apps?limit=2" and not changed:
            changed.append(True)
            sandbox.deis["eu-prod"].delete_app("billing")
            created = as_panel_json(sandbox, "POST", "/v2/apps", {"id": "zzz"})
            assert created.status_code == 201, created.text
        return response

    runs, failures = sync_with(deis_clients(page_size=2, response_hooks=[replace_an_app_after_first_page]))
    assert failures == [] and runs[0].status == "succeeded"
    after = picture()
    assert "reports" in after["apps"]  # asked for by name before it could count as vanished
    assert "billing" not in after["apps"]  # really gone: its own detail answers 404
    assert after["apps"] == (before["apps"] - {"billing"}) | {"zzz"}


def as_panel_json(sandbox, method: str, path: str, body: dict, cluster: str = "eu-prod") -> requests.Response:
    simulator = sandbox.deis[cluster]
    headers = {"Authorization": f"token {simulator.token_for(simulator.panel_username)}"}
    return requests.request(method, f"{sandbox.deis_url(cluster)}{path}", headers=headers, json=body, timeout=10)


class Recorder:
    """The other host a proxy's `next` link names: a loopback server that records whatever reaches it."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def __call__(self, environ, start_response):
        self.requests.append(f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO')}")
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"count": 0, "next": null, "previous": null, "results": []}']


def test_behind_a_proxy_the_sync_follows_pages_on_the_configured_host(sandbox, sync_with, deis_clients):
    recorder = Recorder()
    with serve_wsgi(recorder) as other_host:
        sandbox.deis["eu-prod"].set_switches(behind_proxy=other_host)
        runs, failures = sync_with(deis_clients(page_size=2))
    assert failures == [] and runs[0].status == "succeeded"
    assert recorder.requests == []
    assert {"shop", "billing", "blog", "reports"} <= picture()["apps"]


def test_an_app_deleted_between_list_and_detail_leaves_the_rest_synced(sandbox, sync, sync_with, deis_clients):
    sync("deis", "eu-prod")
    before = picture()
    deleted = []

    def delete_blog_once_listed(response, *args, **kwargs):
        if response.request.path_url.startswith("/v2/apps?") and not deleted:
            sandbox.deis["eu-prod"].delete_app("blog")
            deleted.append("blog")
        return response

    runs, failures = sync_with(deis_clients(response_hooks=[delete_blog_once_listed]))
    assert failures == [] and runs[0].status == "succeeded"
    after = picture()
    assert after["apps"] == before["apps"] - {"blog"}
    assert after["domains"] == before["domains"] - {"blog", "blog.example.com"}
    assert after["certificates"] == before["certificates"]
    assert runs[0].deleted == 3  # the app and its two domains


def test_apps_churning_while_a_sync_runs_leave_a_consistent_picture(sandbox, sync):
    simulator = sandbox.deis["eu-prod"]
    before = set(simulator.app_ids())
    simulator.faults.configure(churn_per_second=300, seed=5)
    runs, failures = sync("deis", "eu-prod")
    simulator.faults.configure(churn_per_second=0)
    after = set(simulator.app_ids())
    created = {change.split()[1] for change in simulator.churn_log if change.startswith("created ")}

    assert simulator.faults.state()["churned"] > 0
    assert failures == [] and runs[0].status == "succeeded"  # churn is normal, not a failure
    synced = picture()["apps"]
    assert before & after <= synced  # what was there all along is synced
    assert synced <= before | created  # nothing invented
