"""`deis-db` without a panel: the app from real git remotes, the Deis settings file and its profiles, the argv forms
the Deis CLI execs plugins with, and usage / sign-in errors of the real console script."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from app.devcli import argv, gitremote
from app.devcli.api import exit_code_for
from app.devcli.settings import SettingsError, load, settings_path
from tests.cli.conftest import write_profile

CONTROLLER = "http://deis.eu-prod.example.net"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def checkout(tmp_path) -> Path:
    folder = tmp_path / "My-Shop"  # Deis would fall back to "my-shop"; a database command must not guess
    folder.mkdir()
    git(folder, "init", "-q")
    return folder


# -- the app from git remotes -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("controller", "builder"), [
    ("http://deis.eu-prod.example.net", "deis-builder.eu-prod.example.net"),
    ("https://deis.example.com:8443", "deis-builder.example.com"),
    ("http://localhost:8000", "localhost-builder"),
])
def test_the_builder_host_is_the_controller_host_with_builder_on_its_first_label(controller, builder):
    assert gitremote.builder_host(controller) == builder


@pytest.mark.parametrize(("url", "app"), [
    ("ssh://git@deis-builder.eu-prod.example.net:2222/shop.git", "shop"),
    ("ssh://git@deis-builder.eu-prod.example.net:2222/billing-api", "billing-api"),
    ("ssh://git@deis-builder.eu-prod.example.net:2222/Shop.git", None),  # not an app id
    ("git@github.com:acme/", None),
])
def test_the_app_is_the_last_path_segment_up_to_its_first_dot(url, app):
    assert gitremote.app_from_url(url) == app


def test_the_remote_on_the_controllers_builder_wins_over_one_named_deis(checkout, monkeypatch):
    git(checkout, "remote", "add", "origin", "git@github.com:acme/shop.git")
    git(checkout, "remote", "add", "deis", "ssh://git@deis-builder.us-prod.example.net:2222/shop-us.git")
    git(checkout, "remote", "add", "eu", "ssh://git@deis-builder.eu-prod.example.net:2222/shop.git")
    monkeypatch.chdir(checkout)
    assert gitremote.detect_app(CONTROLLER) == "shop"
    assert gitremote.detect_app("http://deis.us-prod.example.net") == "shop-us"


def test_the_remote_named_deis_serves_when_no_remote_is_on_the_builder(checkout, monkeypatch):
    git(checkout, "remote", "add", "origin", "git@github.com:acme/shop.git")
    git(checkout, "remote", "add", "deis", "ssh://git@git.internal.example.net:2222/blog.git")
    monkeypatch.chdir(checkout)
    assert gitremote.detect_app(CONTROLLER) == "blog"


def test_no_deis_remote_and_no_repository_find_no_app(checkout, tmp_path, monkeypatch):
    git(checkout, "remote", "add", "origin", "git@github.com:acme/shop.git")
    monkeypatch.chdir(checkout)
    assert gitremote.detect_app(CONTROLLER) is None
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert gitremote.detect_app(CONTROLLER) is None


def test_push_remotes_are_read_from_git_remote_v_output():
    output = ("deis\tssh://git@deis-builder.example.com:2222/shop.git (fetch)\n"
              "deis\tssh://git@deis-builder.example.com:2222/shop.git (push)\n"
              "origin\tgit@github.com:acme/shop.git (push)\n")
    assert gitremote.parse_remotes(output) == [
        gitremote.Remote("deis", "ssh://git@deis-builder.example.com:2222/shop.git"),
        gitremote.Remote("origin", "git@github.com:acme/shop.git"),
    ]


# -- profiles and the settings file ------------------------------------------------------------------------------
def test_profile_selection_follows_the_deis_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert settings_path(None, {}) == tmp_path / ".deis" / "client.json"
    assert settings_path(None, {"DEIS_PROFILE": "staging"}) == tmp_path / ".deis" / "staging.json"
    assert settings_path("prod", {"DEIS_PROFILE": "staging"}) == tmp_path / ".deis" / "prod.json"  # -c wins
    assert settings_path("/etc/deis/ci.json", {}) == Path("/etc/deis/ci.json")  # ends in .json: a path
    assert settings_path(None, {"DEIS_PROFILE": "~/ci.json"}) == tmp_path / "ci.json"


def profile(**fields):
    return {"username": "alice", "ssl_verify": True, "controller": CONTROLLER, "token": "t0ken-value", **fields}


def test_settings_are_read_with_the_panel_url_from_the_environment_first(deis_home, monkeypatch):
    monkeypatch.setenv("HOME", str(deis_home))
    write_profile(deis_home, **profile(admin_panel_url="https://panel.from-file.example/", ssl_verify=False))
    settings = load(None, {})
    assert (settings.username, settings.controller, settings.token, settings.ssl_verify, settings.panel_url) == (
        "alice", CONTROLLER, "t0ken-value", False, "https://panel.from-file.example")
    assert load(None, {"ADMIN_PANEL_URL": "http://127.0.0.1:9"}).panel_url == "http://127.0.0.1:9"
    assert "t0ken-value" not in repr(settings)


@pytest.mark.parametrize(("write", "code", "message"), [
    (None, 3, r"Not signed in: .*client\.json does not exist\. Run `deis login"),
    ("{not json", 3, r"client\.json is not valid JSON"),
    ("[1, 2]", 3, r"does not hold a JSON object"),
    (json.dumps({"controller": CONTROLLER, "username": "alice"}), 3, r"Not signed in: .* has no token"),
    (json.dumps(profile(controller="deis.example.com")), 3, r"is not an http\(s\) URL"),
    (json.dumps(profile()), 2, r"The Admin Panel's URL is not set: export ADMIN_PANEL_URL="),
    (json.dumps(profile(admin_panel_url="panel.example.com")), 2, r"URL 'panel.example.com' is not an http"),
])
def test_unusable_settings_say_what_to_do(deis_home, monkeypatch, write, code, message):
    monkeypatch.setenv("HOME", str(deis_home))
    if write is not None:
        (deis_home / ".deis" / "client.json").write_text(write)
    with pytest.raises(SettingsError, match=message) as raised:
        load(None, {})
    assert raised.value.exit_code == code


def test_an_unreadable_settings_file_is_reported(deis_home, monkeypatch):
    monkeypatch.setenv("HOME", str(deis_home))
    (deis_home / ".deis" / "client.json").mkdir()  # tests run as root: a mode would not stop the read
    with pytest.raises(SettingsError, match=r"Cannot read .*client\.json: Is a directory") as raised:
        load(None, {})
    assert raised.value.exit_code == 3


# -- argv forms ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("given", "normalized"), [
    (["backups", "-a", "shop"], ["backups", "-a", "shop"]),       # `deis db:backups -a shop` execs this
    (["db:backups", "-a", "shop"], ["backups", "-a", "shop"]),    # called directly in the Deis style
    (["db"], []),                                                 # `deis db`
    (["db", "--help"], ["--help"]),                               # `deis help db`
    (["-c", "db", "db:info"], ["-c", "db", "info"]),              # a profile named db is not the command
    (["--json", "db:restore", "3", "-a", "db"], ["--json", "restore", "3", "-a", "db"]),
    (["wait", "db:x"], ["wait", "db:x"]),                         # only the command is rewritten
])
def test_argv_forms(given, normalized):
    assert argv.normalize(given) == normalized


@pytest.mark.parametrize(("status", "code", "exit_code"), [
    (401, "not_signed_in", 3), (404, "not_found", 3), (400, "unknown_controller", 3), (403, None, 3),
    (400, "bad_request", 2), (422, "invalid", 2), (409, "operation_running", 1), (502, "upstream_unavailable", 1),
    (500, None, 1),
])
def test_exit_codes_of_api_errors(status, code, exit_code):
    assert exit_code_for(status, code) == exit_code


# -- the console script, before any request -------------------------------------------------------------------
def test_bad_usage_exits_2(run_cli, deis_home):
    write_profile(deis_home, **profile())
    panel = {"ADMIN_PANEL_URL": "http://127.0.0.1:9"}  # nothing listens: none of these may reach a panel
    for args in (["bogus"], ["restore", "not-a-number", "-a", "shop"], ["clone", "3", "-a", "shop"],
                 ["db:wait"], ["backups", "--no-such-option"], ["backups"]):
        done = run_cli(*args, env=panel)
        assert done.returncode == 2, (args, done)
        assert "Error:" in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
    assert "pass -a APP" in run_cli("backups", env=panel).stderr  # outside a checkout with a deis remote
    dump = deis_home / "not-a-dump.sql"
    dump.write_text("CREATE TABLE t ();\n")
    done = run_cli("upload", str(dump), "-a", "shop", env=panel)
    assert done.returncode == 2 and "is not a pg_dump custom-format archive" in done.stderr
    assert run_cli("upload", str(deis_home / "missing.dump"), "-a", "shop", env=panel).returncode == 2
    existing = deis_home / "shop-3.dump"
    existing.write_bytes(b"PGDMP")
    done = run_cli("download", "3", "-a", "shop", "-o", str(existing), env=panel)
    assert done.returncode == 2 and "exists; pass --force" in done.stderr


def test_help_and_the_bare_plugin_exit_0(run_cli):
    for args in ([], ["db"], ["db", "--help"], ["db:backups", "--help"]):
        done = run_cli(*args)
        assert done.returncode == 0 and "Usage: deis-db" in done.stdout, (args, done)


def test_missing_settings_exit_3_and_a_missing_panel_url_exits_2(run_cli, deis_home):
    done = run_cli("backups", "-a", "shop")
    assert done.returncode == 3 and "Run `deis login" in done.stderr
    done = run_cli("backups", "-a", "shop", env={"DEIS_PROFILE": "staging"})
    assert done.returncode == 3 and "staging.json does not exist" in done.stderr and "DEIS_PROFILE" in done.stderr
    write_profile(deis_home, **profile())
    done = run_cli("backups", "-a", "shop")
    assert done.returncode == 2 and "ADMIN_PANEL_URL" in done.stderr
    assert "t0ken-value" not in done.stdout + done.stderr


def test_an_unreachable_panel_exits_1_without_the_token(run_cli, deis_home):
    write_profile(deis_home, **profile(admin_panel_url="http://127.0.0.1:9"))
    done = run_cli("info", "-a", "shop")
    assert done.returncode == 1 and "Cannot reach the panel at http://127.0.0.1:9" in done.stderr
    assert "t0ken-value" not in done.stdout + done.stderr and "Traceback" not in done.stderr


def test_the_cli_imports_only_the_stdlib_requests_click_and_itself():
    import ast
    import sys

    allowed = {"requests", "click", "__future__"} | set(sys.stdlib_module_names)
    for source in sorted(Path(argv.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.startswith("app.devcli") or name.split(".")[0] in allowed, (source.name, name)
