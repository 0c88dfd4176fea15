"""In Chromium: an admin pastes a certificate chain and its key into the upload form; the panel checks them, creates
the certificate on the sandbox's Deis controller and moves the domain onto it; the key shows nowhere on the page.
A damaged chain first is refused in words on the same form. No CSP violation."""
from __future__ import annotations

from playwright.sync_api import expect

from tests import pki
from tests.conftest import PASSWORD
from tests.e2e import screenshots
from tests.e2e.test_security_policy import violations_of
from tests.views.test_certificates import deis_configured, key_lines  # noqa: F401 (a fixture)


def test_upload_a_certificate_in_the_browser(page, live_server, make_user, sandbox, deis_configured):  # noqa: F811
    make_user("root", "admin")
    violations = violations_of(page)
    issued = pki.leaf("www.example.com", "shop.example.com")
    key = issued.key_pem()

    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/certificates/upload")

    def fill_form(chain: str) -> None:
        page.locator("select[name=cluster]").select_option("eu-prod")
        page.locator("input[name=domain]").fill("www.example.com")
        page.locator("textarea[name=certificate]").fill(chain)
        page.locator("textarea[name=key]").fill(key)
        password = page.get_by_label("Your password (asked again for this action)")
        if password.count():  # asked only once the sign-in is older than REAUTH_MINUTES
            password.fill(PASSWORD)
        page.get_by_role("button", name="Check and upload").click()

    fill_form("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    expect(page.locator("main")).to_contain_text("is not a valid PEM certificate")
    fill_form(pki.chain(issued, pki.intermediate()))

    expect(page).to_have_url(f"{live_server}/certificates/?cluster=eu-prod")
    expect(page.locator("main")).to_contain_text("now serves www.example.com on eu-prod")
    on_deis = {cert["name"]: cert for cert in sandbox.deis["eu-prod"].certificates()}
    assert any(name.startswith("www-example-com-") and cert["domains"] == ["www.example.com"]
               for name, cert in on_deis.items())
    content = page.content()
    assert not any(line in content for line in key_lines(key))
    screenshots.save(page, "04-certificate-upload", focus=page.locator("h2"))
    assert violations == []
