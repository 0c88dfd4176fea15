"""One way to link each kind of object (`link_to` in macros/links.html): every link leads to a page that answers."""
from __future__ import annotations

from app.views.object_links import object_label, object_url, target_url
from tests import factories as make


def test_every_kind_of_object_links_to_a_page_that_answers(app, client, login_as, db_session):
    cluster = make.cluster(db_session, "eu-prod")
    shop = make.app(db_session, "shop", cluster)
    node = make.instance(db_session, "", aws_id="i-0123456789abcdef0")  # no Name tag: named by its id
    balancer = make.load_balancer(db_session, "eu-prod-alb", members=[node], cluster=cluster)
    zone = make.zone(db_session, "example.com")
    record = make.record(db_session, zone, "shop.example.com", "CNAME", balancer.dns_name, load_balancer=balancer)
    certificate = make.certificate(db_session, cluster, "shop.example.com")
    db_session.commit()
    viewer = login_as("viewer")
    with app.test_request_context():
        urls = {
            shop: f"/apps/{shop.id}", cluster: f"/clusters/{cluster.id}", node: f"/instances/{node.id}",
            balancer: f"/load-balancers/{balancer.id}", zone: f"/dns/zones/{zone.id}",
            record: f"/dns/zones/{zone.id}?q=shop.example.com#record-{record.id}",
            certificate: f"/certificates/?cluster=eu-prod#certificate-{certificate.id}",
            viewer: f"/users/#user-{viewer.id}",
        }
        for target, url in urls.items():
            assert object_url(target) == url, target
        assert object_label(node) == "i-0123456789abcdef0" and object_label(certificate) == "shop.example.com"
        assert object_url("a string") is None
        assert target_url("apps", str(shop.id)) == f"/apps/{shop.id}"
        assert target_url("job", "sync-deis-abc") == "/sync/jobs/sync-deis-abc"
        assert target_url("backup", "7") is None and target_url("apps", "not-a-number") is None
    for url in urls.values():
        path = url.split("#")[0]
        response = client.get(path)
        assert response.status_code == 200, path
        anchor = url.partition("#")[2]
        if anchor:
            assert f'id="{anchor}"' in response.get_data(as_text=True), url
