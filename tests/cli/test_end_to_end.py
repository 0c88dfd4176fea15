"""`deis-db` as a real subprocess against the real panel + sandbox Deis + dbapi + PostgreSQL: a developer creates a
database, captures, downloads the archive and restores it with the real pg_restore, uploads it back, restores it
and clones to another app; `deis-db backups` and `deis db:backups` (a stand-in Deis CLI) print the same table; a
bad or revoked token, an app of someone else, and a failed operation exit with their codes."""
from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import psycopg

from tests.cli.conftest import write_profile
from tests.cli.developer_panel import *  # noqa: F401,F403  (developer_panel, stand_in_deis, the live stack)
from tests.cli.developer_panel import path_with


def sql_rows(dsn: str, statement: str) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as connection:
        cursor = connection.execute(statement)
        return cursor.fetchall() if cursor.description else []


def deis_checkout(folder: Path, controller: str, app: str) -> Path:
    """A git checkout whose `deis` remote points at the app, as `deis create` leaves it."""
    folder.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    host = re.sub(r"^https?://", "", controller).split(":")[0]
    subprocess.run(["git", "remote", "add", "deis", f"ssh://git@{host}:2222/{app}.git"], cwd=folder, check=True)
    return folder


def ok(done) -> None:
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"


def test_a_developer_session_from_create_to_clone(developer_panel, run_cli, deis_home, tmp_path, stand_in_deis,
                                                  dbapi_pg, dbapi_admin_dsn, dbapi_names):
    token = developer_panel.sign_in(deis_home, "alice")
    checkout = deis_checkout(tmp_path / "blog", developer_panel.controllers["eu-prod"], "blog")

    # create --wait, with the app taken from the checkout's `deis` remote
    done = run_cli("create", "--wait", cwd=checkout)
    ok(done)
    assert re.search(r"operation \d+ \(database\.create\): succeeded", done.stdout)
    info = run_cli("info", cwd=checkout)
    ok(info)
    assert "=== blog database" in info.stdout and "State:   ready" in info.stdout
    assert "password" not in run_cli("info", "--json", cwd=checkout).stdout.lower().replace("the password is", "")
    database = run_cli("info", "--json", "-a", "blog").json()["app"]["database"]
    blog_dsn = dbapi_admin_dsn(database["name"])
    sql_rows(blog_dsn, f"CREATE TABLE posts (id int PRIMARY KEY, title text); ALTER TABLE posts OWNER TO"
                       f" {database['username']}; INSERT INTO posts VALUES (1, 'hello'), (2, 'world')")

    # capture --wait --json: the API's JSON, the final operation
    captured = run_cli("capture", "--wait", "--json", cwd=checkout)
    ok(captured)
    answer = captured.json()
    assert answer["operation"]["state"] == "succeeded" and answer["backup"]["id"]
    backup_id = answer["backup"]["id"]

    # backups: a table, directly and through the Deis CLI's plugin dispatch
    table = run_cli("backups", "-a", "blog")
    ok(table)
    lines = table.stdout.splitlines()
    assert lines[0] == "=== blog backups"
    assert lines[1].split() == ["ID", "KIND", "STATE", "SIZE", "STARTED", "FINISHED", "VERIFIED", "CLONED", "FROM"]
    assert lines[2].split()[:3] == [str(backup_id), "manual", "succeeded"]
    through_deis = run_cli("db:backups", "-a", "blog", program=stand_in_deis, env=path_with(stand_in_deis.parent))
    ok(through_deis)
    assert through_deis.stdout == table.stdout

    # download: streamed to disk, size and SHA-256 checked; the real pg_restore reads it into a scratch database
    archive = tmp_path / "blog.dump"
    done = run_cli("download", str(backup_id), "-a", "blog", "-o", str(archive))
    ok(done)
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert f"SHA-256 {sha}, verified" in done.stdout and archive.read_bytes().startswith(b"PGDMP")
    assert not list(tmp_path.glob(".blog.dump.*.part"))  # the temporary file was renamed, not left behind
    listed = run_cli("download", str(backup_id), "-a", "blog", "-o", str(archive), "--force", "--json").json()
    assert (listed["sha256"], listed["size_bytes"]) == (sha, archive.stat().st_size)
    scratch = dbapi_names("scratch")
    sql_rows(dbapi_admin_dsn("postgres"), f'CREATE DATABASE "{scratch}"')
    pg_restore = str(dbapi_pg.bin_dir / "pg_restore") if dbapi_pg.bin_dir else "pg_restore"
    subprocess.run([pg_restore, "--no-owner", "--exit-on-error", f"--dbname={dbapi_admin_dsn(scratch)}",
                    str(archive)], check=True, capture_output=True)
    assert sql_rows(dbapi_admin_dsn(scratch), "SELECT id, title FROM posts ORDER BY id") == [(1, "hello"),
                                                                                              (2, "world")]

    # upload it back (streamed from disk) and follow the panel's operation; it is listed as an uploaded backup
    done = run_cli("upload", str(archive), "-a", "blog", "--wait")
    ok(done)
    assert re.search(r"operation \d+ \(backup\.upload\): succeeded", done.stdout)
    backups = run_cli("backups", "-a", "blog", "--json").json()["backups"]
    uploaded = [backup for backup in backups if backup["kind"] == "uploaded"]
    assert len(uploaded) == 1 and uploaded[0]["state"] == "succeeded"
    assert uploaded[0]["size_bytes"] == archive.stat().st_size

    # restore the uploaded backup over a changed database
    sql_rows(blog_dsn, "DELETE FROM posts WHERE id = 2")
    done = run_cli("restore", str(uploaded[0]["id"]), "-a", "blog", "--wait")
    ok(done)
    assert sql_rows(blog_dsn, "SELECT id, title FROM posts ORDER BY id") == [(1, "hello"), (2, "world")]

    # clone to billing (bob's app, shared with alice): its database gets blog's rows
    ok(run_cli("create", "-a", "billing", "--wait"))
    done = run_cli("clone", str(backup_id), "--to", "billing", "-a", "blog", "--wait")
    ok(done)
    assert re.search(rf"Backup {backup_id} of blog is now backup \d+ of billing", done.stderr)
    billing = run_cli("info", "-a", "billing", "--json").json()["app"]["database"]
    assert sql_rows(dbapi_admin_dsn(billing["name"]), "SELECT count(*) FROM posts") == [(2,)]
    cloned = run_cli("backups", "-a", "billing", "--json").json()["backups"]
    assert [(backup["kind"], backup["cloned_from"]) for backup in cloned] == [("cloned", backup_id)]

    # `deis-db wait` on a finished operation, and the token never shows in anything printed
    operation_id = answer["operation"]["id"]
    done = run_cli("wait", str(operation_id))
    ok(done)
    assert re.search(rf"operation {operation_id} \(database\.backup\): succeeded", done.stdout)
    for output in (table.stdout, through_deis.stdout, done.stdout, done.stderr):
        assert token not in output


def test_operations_without_wait_print_how_to_follow_them(developer_panel, run_cli, deis_home):
    developer_panel.sign_in(deis_home, "alice")
    done = run_cli("db:create", "-a", "blog")
    ok(done)
    match = re.search(r"Creating a database for blog: operation (\d+) is (\w+)\.", done.stdout)
    assert match and f"Follow it with: deis-db wait {match.group(1)}" in done.stdout, done
    ok(run_cli("db:wait", match.group(1), "--timeout", "300"))
    again = run_cli("create", "-a", "blog")  # the app has one now: refused, nothing changes
    assert again.returncode == 1 and "already has database" in again.stderr


def test_bad_revoked_and_foreign_tokens_exit_3(developer_panel, run_cli, deis_home):
    developer_panel.sign_in(deis_home, "alice", token="0123456789abcdef0123456789abcdef01234567")
    done = run_cli("backups", "-a", "blog")
    assert done.returncode == 3 and "deis login" in done.stderr, done

    token = developer_panel.sign_in(deis_home, "alice")
    ok(run_cli("backups", "-a", "blog"))
    developer_panel.regenerate_token("eu-prod", token)  # the panel trusts a token for DEV_TOKEN_CACHE_SECONDS=0 here
    done = run_cli("backups", "-a", "blog")
    assert done.returncode == 3 and "deis login" in done.stderr, done
    assert token not in done.stdout + done.stderr

    developer_panel.sign_in(deis_home, "alice")
    done = run_cli("info", "-a", "reports")  # carol's app: the same answer as an app that does not exist
    missing = run_cli("info", "-a", "no-such-app")
    assert (done.returncode, missing.returncode) == (3, 3)
    assert "No app called 'reports' that you may see on eu-prod" in done.stderr
    assert done.stderr.replace("reports", "X") == missing.stderr.replace("no-such-app", "X")
    done = run_cli("backups", "-a", "blog", "--json")
    assert done.returncode == 0 and done.json() == {"backups": []}


def test_a_controller_the_panel_does_not_serve_exits_3(developer_panel, run_cli, deis_home):
    token = developer_panel.login("eu-prod", "alice")
    write_profile(deis_home, username="alice", ssl_verify=True, controller="http://deis.elsewhere.example.net",
                  token=token, admin_panel_url=developer_panel.url)
    done = run_cli("backups", "-a", "blog", "--json")
    assert done.returncode == 3 and done.json()["error"]["code"] == "unknown_controller"


def test_a_failed_operation_exits_1(developer_panel, run_cli, deis_home):
    # us-prod keeps databases on dbapi's `limited` server, where PostgreSQL refuses CREATE DATABASE; the profile
    # `us` is chosen with DEIS_PROFILE, as the Deis CLI does
    developer_panel.sign_in(deis_home, "alice", cluster="us-prod", profile="us")
    done = run_cli("create", "-a", "landing", "--wait", env={"DEIS_PROFILE": "us"})
    assert done.returncode == 1, done
    assert re.search(r"operation \d+ \(database\.create\): failed", done.stdout)
    operation = re.search(r"operation (\d+)", done.stdout).group(1)
    waited = run_cli("-c", "us", "wait", operation, "--json")
    assert waited.returncode == 1 and waited.json()["operation"]["state"] == "failed"


def test_a_restore_that_fails_exits_1(developer_panel, run_cli, deis_home, tmp_path):
    # An archive that starts like one (PGDMP) but is not: dbapi stores it, the real pg_restore then refuses it
    developer_panel.sign_in(deis_home, "alice")
    ok(run_cli("create", "-a", "blog", "--wait"))
    damaged = tmp_path / "damaged.dump"
    damaged.write_bytes(b"PGDMP" + b"\x00not really an archive\xff" * 100)
    ok(run_cli("upload", str(damaged), "-a", "blog", "--wait"))  # dbapi checks the magic only, as pg_dump's own
    backup = [b for b in run_cli("backups", "-a", "blog", "--json").json()["backups"] if b["kind"] == "uploaded"][0]
    done = run_cli("restore", str(backup["id"]), "-a", "blog", "--wait")
    assert done.returncode == 1, done
    assert re.search(r"operation \d+ \(database\.restore\): failed - .+", done.stdout), done.stdout
