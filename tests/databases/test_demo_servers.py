"""`make demo` registers one dbapi server per demo cluster, so every cluster's database_server exists in dbapi."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from app.clients import PlatformClients
from app.config import Settings
from dbapi.config import parse_servers


def test_every_demo_cluster_has_its_dbapi_server(sandbox, settings, dbapi_pg):
    spec = importlib.util.spec_from_file_location("demo", Path(__file__).resolve().parents[2] / "scripts" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    env = {**sandbox.env(), "PORT": "5000"}
    demo.register_cluster_servers(env, dbapi_pg)

    servers = parse_servers(env["DBAPI_SERVERS"])
    clients = PlatformClients(Settings.from_env({"ADMIN_PANEL_INSTANCE_DIR": str(settings.instance_dir), **env}))
    clusters = [cluster["name"] for cluster in clients.cluster_configs()]
    assert clusters and sorted(servers) == sorted(clusters)
    assert all(clients.database_server(name) in servers for name in clusters)
    assert {server.port for server in servers.values()} == {dbapi_pg.port}  # all on the one embedded PostgreSQL
    assert env["PANEL_URL"] == "http://127.0.0.1:5000"
