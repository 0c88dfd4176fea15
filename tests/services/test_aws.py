"""The AWS client against moto: instances with tags and scheduled events, both kinds of load balancer."""
from __future__ import annotations

import json

import boto3
import pytest
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

from app.clients import PlatformClients
from app.config import ConfigError, Settings
from app.services.aws import AwsError, AwsRegion


def region(sandbox, name: str) -> AwsRegion:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    return AwsRegion(name, endpoint_url=sandbox.moto_url, session=session)


def test_instances_with_tags_and_events(sandbox):
    instances = {i.name: i for i in region(sandbox, "eu-west-1").instances()}
    primary = instances["eu-prod-pg-1"]
    assert primary.tags["role"] == "postgres" and primary.tags["db-role"] == "primary"
    assert primary.private_ip == "10.10.2.21" and primary.state == "running"
    events = [event for instance in instances.values() for event in instance.events]
    events += [event for instance in region(sandbox, "us-east-1").instances() for event in instance.events]
    assert sorted(event.completed for event in events) == [False, True]
    assert all(event.not_before is not None and event.not_before.tzinfo for event in events)


def test_classic_and_v2_load_balancers_with_members(sandbox):
    eu = {lb.name: lb for lb in region(sandbox, "eu-west-1").load_balancers()}
    us = {lb.name: lb for lb in region(sandbox, "us-east-1").load_balancers()}
    assert eu["eu-prod-elb"].kind == "classic" and eu["eu-prod-elb"].tags["cluster"] == "eu-prod"
    assert len(eu["eu-prod-elb"].members) == 2 and set(eu["eu-prod-elb"].members.values()) <= {"InService",
                                                                                                 "OutOfService"}
    alb = us["us-prod-alb"]
    assert alb.kind == "v2" and alb.arn and alb.dns_name and alb.members


def test_unreachable_endpoint_is_one_clear_error():
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    client = AwsRegion("eu-west-1", endpoint_url="http://127.0.0.1:9", session=session, max_attempts=1)
    with pytest.raises(AwsError, match=r"AWS eu-west-1: describe_instance_status failed: Could not connect"):
        client.instances()


# -- credentials: only boto3's own chain -----------------------------------------------------------------------------
def panel_clients(sandbox, tmp_path, **extra: str) -> PlatformClients:
    """The panel's clients built from its settings alone, as in production (no AWS keys among them)."""
    env = {key: value for key, value in sandbox.env().items() if not key.startswith("AWS_ACCESS")
           and not key.startswith("AWS_SECRET")}
    env |= {"ADMIN_PANEL_INSTANCE_DIR": str(tmp_path / "instance"), **extra}
    return PlatformClients(Settings.from_env(env))


@pytest.fixture
def no_aws_environment(monkeypatch, tmp_path):
    """A process environment with no AWS keys, no profile and none of this machine's AWS files."""
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                     "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


def test_aws_works_from_a_profile_in_a_shared_credentials_file_with_a_session_token(sandbox, tmp_path,
                                                                                     no_aws_environment):
    credentials = tmp_path / "credentials"
    credentials.write_text("[panel-readonly]\naws_access_key_id = ASIAPROFILEKEY000001\n"
                           "aws_secret_access_key = profile-secret\naws_session_token = profile-session-token\n")
    no_aws_environment.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    no_aws_environment.setenv("AWS_PROFILE", "panel-readonly")
    sandbox.aws.forget_signatures()

    instances = panel_clients(sandbox, tmp_path).aws("eu-west-1").instances()

    assert {instance.name for instance in instances} >= {"eu-prod-deis-1", "eu-prod-pg-1"}
    signed = sandbox.aws.signed
    assert signed and {(s.access_key_id, s.session_token) for s in signed} == {
        ("ASIAPROFILEKEY000001", "profile-session-token")}


def test_a_session_token_in_the_environment_signs_every_request(sandbox, tmp_path, no_aws_environment):
    no_aws_environment.setenv("AWS_ACCESS_KEY_ID", "ASIAENVIRONMENT00001")
    no_aws_environment.setenv("AWS_SECRET_ACCESS_KEY", "environment-secret")
    no_aws_environment.setenv("AWS_SESSION_TOKEN", "environment-session-token")
    sandbox.aws.forget_signatures()

    assert panel_clients(sandbox, tmp_path).aws("us-east-1").load_balancers()

    assert {(s.access_key_id, s.session_token) for s in sandbox.aws.signed} == {
        ("ASIAENVIRONMENT00001", "environment-session-token")}


def test_no_credentials_at_all_is_one_clear_error(sandbox, tmp_path, no_aws_environment):
    with pytest.raises(AwsError, match=r"AWS eu-west-1: describe_instance_status failed: Unable to locate credentials"):
        panel_clients(sandbox, tmp_path).aws("eu-west-1").instances()


def test_a_region_with_a_role_is_read_as_that_role_assumed_with_sts(sandbox, tmp_path, no_aws_environment):
    no_aws_environment.setenv("AWS_ACCESS_KEY_ID", "AKIABASEKEY000000001")
    no_aws_environment.setenv("AWS_SECRET_ACCESS_KEY", "base-secret")
    same_account = "arn:aws:iam::123456789012:role/admin-panel-read"
    other_account = "arn:aws:iam::210987654321:role/admin-panel-read"
    clients = panel_clients(sandbox, tmp_path, AWS_ROLE_ARNS=json.dumps(
        {"eu-west-1": same_account, "us-east-1": other_account}))
    sandbox.aws.forget_signatures()

    eu = clients.aws("eu-west-1").instances()
    us = clients.aws("us-east-1").instances()

    assert {instance.name for instance in eu} >= {"eu-prod-deis-1"}
    assert us == []  # moto answers as the other account, which has no instances: the role was really used
    sts = [s for s in sandbox.aws.signed if s.service == "sts"]
    ec2 = [s for s in sandbox.aws.signed if s.service == "ec2"]
    assert len(sts) == 2 and {s.access_key_id for s in sts} == {"AKIABASEKEY000000001"}
    assumed = {s.access_key_id for s in ec2}
    assert "AKIABASEKEY000000001" not in assumed and len(assumed) == 2  # one role per region
    assert all(s.session_token for s in ec2)
    # moto internals (pinned): the roles STS was asked to assume, and the session name the panel gives.
    assumed_arns = {role.arn for role in get_backend("sts")[DEFAULT_ACCOUNT_ID]["global"].assumed_roles}
    assert "arn:aws:sts::123456789012:assumed-role/admin-panel-read/admin-panel" in assumed_arns


def test_aws_role_arns_must_be_a_json_object_of_role_arns():
    with pytest.raises(ConfigError, match=r"AWS_ROLE_ARNS: 'eu-west-1': 'admin' is not an IAM role ARN"):
        Settings.from_env({"AWS_ROLE_ARNS": '{"eu-west-1": "admin"}'})
    with pytest.raises(ConfigError, match=r"AWS_ROLE_ARNS is not valid JSON"):
        Settings.from_env({"AWS_ROLE_ARNS": "eu-west-1=arn"})
    assert Settings.from_env({}).aws_role_arns == {}
