"""The Deis client's certificate writes against the controller simulator: create, attach, detach, delete, and
each of them surviving a lost answer without doing it twice."""
from __future__ import annotations

import pytest
import requests

from app.services.deis import DeisClient, DeisError, leaf_fingerprint
from tests import pki


@pytest.fixture
def panel_client(sandbox) -> DeisClient:
    simulator = sandbox.deis["eu-prod"]
    return DeisClient("eu-prod", sandbox.deis_url("eu-prod"), simulator.token_for(simulator.panel_username),
                      username=simulator.panel_username)


def add_domain(sandbox, app_id: str, domain: str) -> None:
    """A domain added the way a developer would (`deis domains:add`), through the controller's API."""
    simulator = sandbox.deis["eu-prod"]
    response = requests.post(f"{sandbox.deis_url('eu-prod')}/v2/apps/{app_id}/domains/", json={"domain": domain},
                             headers={"Authorization": f"token {simulator.token_for('alice')}"}, timeout=10)
    assert response.status_code == 201, response.text


def in_simulator(sandbox, name: str) -> dict | None:
    return next((cert for cert in sandbox.deis["eu-prod"].certificates() if cert["name"] == name), None)


def test_create_attach_detach_delete(sandbox, panel_client):
    add_domain(sandbox, "shop", "secure.example.com")
    issued = pki.leaf("secure.example.com")
    created = panel_client.create_certificate("secure-example-com", pki.chain(issued, pki.intermediate()),
                                              issued.key_pem())
    assert created.common_name == "secure.example.com" and created.sans == ["secure.example.com"]
    assert created.owner == "admin-panel"
    assert created.fingerprint.replace(":", "") == leaf_fingerprint(issued.pem)

    panel_client.attach_domain("secure-example-com", "secure.example.com")
    assert in_simulator(sandbox, "secure-example-com")["domains"] == ["secure.example.com"]
    panel_client.detach_domain("secure-example-com", "secure.example.com")
    assert in_simulator(sandbox, "secure-example-com")["domains"] == []
    panel_client.delete_certificate("secure-example-com")
    assert in_simulator(sandbox, "secure-example-com") is None
    assert panel_client.get_certificate("secure-example-com") is None


@pytest.mark.parametrize("reset", [False, True])
def test_a_create_whose_answer_is_lost_creates_exactly_one(sandbox, panel_client, reset):
    sandbox.deis["eu-prod"].faults.configure(apply_then_fail_rate=1.0, apply_then_fail_reset=reset,
                                             path_contains="/v2/certs")
    issued = pki.leaf("lost.example.com")
    created = panel_client.create_certificate("lost-example-com", issued.pem, issued.key_pem())
    assert created.name == "lost-example-com"
    names = [cert["name"] for cert in sandbox.deis["eu-prod"].certificates()]
    assert names.count("lost-example-com") == 1 and len(names) == 3  # the two seeded ones and this one
    assert panel_client.calls == 3  # the POST whose answer was lost, the read-back, the final read


def test_an_attach_whose_answer_is_lost_is_read_back_not_sent_again(sandbox, panel_client):
    add_domain(sandbox, "shop", "secure.example.com")
    issued = pki.leaf("secure.example.com")
    panel_client.create_certificate("secure-example-com", issued.pem, issued.key_pem())
    sandbox.deis["eu-prod"].faults.configure(apply_then_fail_rate=1.0, path_contains="/domain/")
    panel_client.attach_domain("secure-example-com", "secure.example.com")  # a second POST would be a 409
    assert in_simulator(sandbox, "secure-example-com")["domains"] == ["secure.example.com"]


def test_a_domain_with_a_certificate_is_a_409_in_the_controllers_words(sandbox, panel_client):
    issued = pki.leaf("www.example.com")
    panel_client.create_certificate("www-example-com-new", issued.pem, issued.key_pem())
    with pytest.raises(DeisError) as refused:
        panel_client.attach_domain("www-example-com-new", "www.example.com")
    assert refused.value.status == 409
    assert "Domain already has a certificate attached to it" in refused.value.reason
    assert in_simulator(sandbox, "shop-example-com")["domains"] == ["shop.example.com", "www.example.com"]


def test_the_controllers_refusal_names_the_field_and_never_carries_the_key(sandbox, panel_client):
    issued = pki.leaf("bad.example.com")
    key = issued.key_pem()
    with pytest.raises(DeisError) as refused:
        panel_client.create_certificate("Bad_Name", issued.pem, key)
    assert refused.value.status == 400 and "Can only contain a-z (lowercase), 0-9 and hyphens" in str(refused.value)
    assert key not in str(refused.value) and "PRIVATE KEY" not in str(refused.value)
    assert in_simulator(sandbox, "Bad_Name") is None


def test_a_name_held_by_another_certificate_is_not_taken_for_ours(sandbox, panel_client):
    sandbox.deis["eu-prod"].faults.configure(apply_then_fail_rate=1.0, path_contains="/v2/certs")
    issued = pki.leaf("www.example.com")
    with pytest.raises(DeisError, match="exists with another fingerprint"):
        panel_client.create_certificate("shop-example-com", issued.pem, issued.key_pem())
