"""Sign-in limits behind a reverse proxy: an attacker slows only himself, and never locks a username for everyone."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent
from tests.conftest import PASSWORD, csrf_token_from

ATTACKER, ADMIN_DESK, COLLEAGUE = "203.0.113.66", "198.51.100.7", "198.51.100.8"


def attempt(client, username: str, password: str, forwarded_for: str | None = None):
    token = csrf_token_from(client)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       headers=headers)


def sign_ins() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "auth.sign_in"))


def test_behind_a_trusted_proxy_an_attack_on_admin_does_not_stop_admin_or_anyone_else(make_user, panel_with):
    make_user("root", "admin")
    make_user("bob", "viewer")
    panel = panel_with(trusted_proxy_hops=1)
    attacker = panel.test_client()
    statuses = [attempt(attacker, "root", f"guess {number}", ATTACKER).status_code for number in range(8)]
    assert statuses[:4] == [401] * 4 and set(statuses[4:]) == {429}
    assert attempt(attacker, "root", PASSWORD, ATTACKER).status_code == 429  # locked: even a right guess waits

    # The same username from the admin's own desk, and another user from another address: both sign in.
    assert attempt(panel.test_client(), "root", PASSWORD, ADMIN_DESK).status_code == 302
    assert attempt(panel.test_client(), "bob", PASSWORD, COLLEAGUE).status_code == 302
    assert sign_ins() == 2


def test_behind_a_trusted_proxy_each_client_address_has_its_own_overall_limit(make_user, panel_with):
    make_user("bob", "viewer")
    panel = panel_with(trusted_proxy_hops=1)
    attacker = panel.test_client()
    statuses = [attempt(attacker, f"user-{number}", "nope nope", ATTACKER).status_code for number in range(6)]
    assert statuses == [401] * 5 + [429]  # LOGIN_RATE_LIMIT per address, whatever the usernames
    # Before ProxyFix every request came from the proxy's address, so this used to be refused too.
    assert attempt(panel.test_client(), "bob", PASSWORD, COLLEAGUE).status_code == 302


def test_without_trusted_proxies_a_spoofed_forwarded_for_is_ignored(client, make_user):
    make_user("root", "admin")
    # The attacker invents a new X-Forwarded-For each time, hoping to be a new address for the limits.
    statuses = [attempt(client, "root", "guess", f"192.0.2.{number}").status_code for number in range(6)]
    assert statuses[:4] == [401] * 4 and statuses[4:] == [429, 429]
    assert attempt(client, "root", PASSWORD, "192.0.2.200").status_code == 429


def test_the_delay_grows_with_each_failure_and_a_success_clears_it(app, make_user, panel_with):
    make_user("root", "admin")
    panel = panel_with(trusted_proxy_hops=1, login_rate_limit="100 per minute")
    throttle = panel.extensions["sign_in_throttle"]
    moment = [1_000_000.0]
    throttle.clock = lambda: moment[0]  # time travel instead of sleeping
    browser = panel.test_client()
    assert [attempt(browser, "root", "typo", ADMIN_DESK).status_code for _ in range(3)] == [401] * 3
    assert attempt(browser, "root", PASSWORD, ADMIN_DESK).status_code == 302  # three typos cost nothing...
    browser = panel.test_client()
    assert [attempt(browser, "root", "typo", ADMIN_DESK).status_code for _ in range(3)] == [401] * 3
    waits = []
    for _ in range(4):
        failed = attempt(browser, "root", "typo", ADMIN_DESK)
        assert failed.status_code == 401
        refused = attempt(browser, "root", PASSWORD, ADMIN_DESK)
        assert refused.status_code == 429
        waits.append(int(re.search(r"wait (\d+) seconds", refused.get_data(as_text=True))[1]))
        assert int(refused.headers["Retry-After"]) >= waits[-1]
        moment[0] += waits[-1] + 1  # wait it out
    assert waits == [2, 4, 8, 16]  # ...and each failure after them doubles the wait
    assert attempt(browser, "root", PASSWORD, ADMIN_DESK).status_code == 302
    # The success cleared the pair: three typos are free again.
    other_browser = panel.test_client()
    assert [attempt(other_browser, "root", "typo", ADMIN_DESK).status_code for _ in range(3)] == [401] * 3
    assert attempt(other_browser, "root", PASSWORD, ADMIN_DESK).status_code == 302
