"""AWS relations beyond the basics: `ip` target groups, an instance in several target groups, IPv6 and AAAA records,
`dualstack.` CNAMEs. The AWS side is built with ordinary boto3 calls against moto, the record through Cloudflare."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import DnsRecord, Instance, LoadBalancer, LoadBalancerMember

REGION = "us-east-1"


def vpc_id(sandbox) -> str:
    ec2 = sandbox.aws.client("ec2", REGION)
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"sandbox-{REGION}"]}])["Vpcs"]
    return vpcs[0]["VpcId"]


def add_target_group(sandbox, name: str, target_type: str, port: int, targets: list[dict]) -> None:
    """A target group behind the sandbox's us-prod-alb, on a listener of its own."""
    elbv2 = sandbox.aws.client("elbv2", REGION)
    balancer = sandbox.aws.load_balancer("us-prod-alb")
    group = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=port, VpcId=vpc_id(sandbox),
                                      TargetType=target_type)["TargetGroups"][0]
    elbv2.create_listener(LoadBalancerArn=balancer.arn, Protocol="HTTP", Port=port,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}])
    elbv2.register_targets(TargetGroupArn=group["TargetGroupArn"], Targets=targets)


def members_of(instance_name: str) -> list[tuple[str, str, str | None]]:
    db.session.expire_all()
    query = (select(LoadBalancer.name, LoadBalancerMember.target_group, LoadBalancerMember.target_ip)
             .join(LoadBalancerMember.load_balancer).join(LoadBalancerMember.instance)
             .where(Instance.name == instance_name).order_by(LoadBalancerMember.target_group))
    return [tuple(row) for row in db.session.execute(query)]


def record(name: str) -> DnsRecord:
    db.session.expire_all()
    return db.session.scalars(select(DnsRecord).where(DnsRecord.name == name)).one()


def test_an_ip_target_group_relates_its_members_by_private_ip(sandbox, sync):
    deis = sandbox.aws.instance("us-prod-deis-1")
    monitor = sandbox.aws.instance("us-mon-1")
    add_target_group(sandbox, "us-prod-by-ip", "ip", 8080, [
        {"Id": monitor.private_ip, "Port": 8080},
        {"Id": "10.20.9.99", "Port": 8080},  # an address no instance of ours holds: not a member
    ])

    runs, failures = sync("aws", REGION)

    assert failures == []
    assert members_of("us-mon-1") == [("us-prod-alb", "us-prod-by-ip", monitor.private_ip)]
    assert members_of("us-prod-deis-1") == [("us-prod-alb", "us-prod-alb-tg", None)]
    assert deis.private_ip == "10.20.1.11"
    total = db.session.scalar(select(db.func.count()).select_from(LoadBalancerMember)
                              .join(LoadBalancerMember.load_balancer).where(LoadBalancer.name == "us-prod-alb"))
    assert total == 2


def test_an_instance_in_several_target_groups_keeps_each_membership(sandbox, sync):
    deis = sandbox.aws.instance("us-prod-deis-1")
    add_target_group(sandbox, "us-prod-admin", "instance", 9000, [{"Id": deis.instance_id, "Port": 9000}])
    add_target_group(sandbox, "us-prod-by-ip", "ip", 8080, [{"Id": deis.private_ip, "Port": 8080}])

    sync("aws", REGION)
    assert members_of("us-prod-deis-1") == [
        ("us-prod-alb", "us-prod-admin", None),
        ("us-prod-alb", "us-prod-alb-tg", None),
        ("us-prod-alb", "us-prod-by-ip", deis.private_ip),
    ]

    # Leaving one target group removes that membership only; a second run over the same state writes nothing.
    sandbox.aws.deregister_instance("us-prod-alb", "us-prod-deis-1")
    runs, _ = sync("aws", REGION)
    assert runs[0].deleted == 1
    assert [group for _lb, group, _ip in members_of("us-prod-deis-1")] == ["us-prod-admin", "us-prod-by-ip"]
    runs, _ = sync("aws", REGION)
    assert runs[0].created == runs[0].updated == runs[0].deleted == 0


def test_an_aaaa_record_relates_to_the_instance_holding_that_ipv6_address(sandbox, sync):
    ec2 = sandbox.aws.client("ec2", REGION)
    vpc = vpc_id(sandbox)
    block = ec2.associate_vpc_cidr_block(VpcId=vpc, AmazonProvidedIpv6CidrBlock=True)["Ipv6CidrBlockAssociation"]
    described = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"]
    prefix = next(b["Ipv6CidrBlock"] for b in described if b["AssociationId"] == block["AssociationId"])
    # The sandbox's four subnets fill the VPC: give the last one an IPv6 range too.
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    subnet = next(s["SubnetId"] for s in subnets if s["CidrBlock"] == "10.20.192.0/18")
    ec2.associate_subnet_cidr_block(SubnetId=subnet, Ipv6CidrBlock=prefix.replace("/56", "/64"))
    launched = ec2.run_instances(ImageId="ami-0sandbox000000001", MinCount=1, MaxCount=1, SubnetId=subnet,
                                 Ipv6AddressCount=1, TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                     {"Key": "Name", "Value": "v6-host"}, {"Key": "role", "Value": "deis"}]}])
    interface = launched["Instances"][0]["NetworkInterfaces"][0]
    address = interface["Ipv6Addresses"][0]["Ipv6Address"]
    sandbox.cloudflare.add_record("example.net", type="AAAA", name="v6-host", content=address.upper())
    sandbox.cloudflare.add_record("example.net", type="AAAA", name="v6-nobody", content="2001:db8::dead")

    runs, failures = sync()

    assert failures == []
    db.session.expire_all()
    host = db.session.scalars(select(Instance).where(Instance.name == "v6-host")).one()
    assert host.ipv6_ip == address.lower()
    aaaa = record("v6-host.example.net")
    assert aaaa.instance_id == host.id and aaaa.dangling is False
    assert record("v6-nobody.example.net").dangling is True


def test_a_dualstack_cname_relates_to_its_load_balancer(sandbox, sync):
    balancer = sandbox.aws.load_balancer("us-prod-alb")
    sandbox.cloudflare.add_record("example.com", type="CNAME", name="dual", content=f"dualstack.{balancer.dns_name}")
    sandbox.cloudflare.add_record("example.com", type="CNAME", name="elsewhere",
                                  content=f"dualstack.other-{balancer.dns_name}")

    runs, failures = sync()

    assert failures == []
    dual = record("dual.example.com")
    assert dual.load_balancer.name == "us-prod-alb" and dual.dangling is False
    assert record("elsewhere.example.com").load_balancer_id is None
    assert record("elsewhere.example.com").dangling is True
