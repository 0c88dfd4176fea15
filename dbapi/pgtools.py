"""PostgreSQL administration for the Databases API: roles, databases, session roles, the client tools.

Contract:
- ``PgServer`` describes one managed server: ``dsn`` is a superuser connection string (it never leaves dbapi:
  ``repr`` hides it), ``host``/``port`` are what applications are told to connect to, ``bin_dir`` optionally pins
  the client binaries (otherwise, among ``pg_dump``/``pg_restore`` on PATH and in ``/usr/lib/postgresql/*/bin``,
  the one with the lowest major version that is still at least the server's). Functions accept any object with
  the same attributes (``ServerLike``), e.g. the service's own settings.
- Names of databases and roles must match ``[a-z][a-z0-9_]{0,62}`` in full (a trailing newline is refused) and
  must not be reserved (``postgres``, ``template0/1``, ``pg_*``); anything else raises ``InvalidNameError`` before any SQL runs. SQL is composed
  with ``psycopg.sql.Identifier``/``Literal`` only.
- ``create_role_and_database`` is idempotent: re-running it for the same names succeeds and returns fresh
  credentials (the role's password is reset, since the old one cannot be recovered). Roles it makes carry the
  comment ``managed by dbapi: owner of database <name>``; a role or database it did not make is never taken over
  (``PgToolError``). The password comes from ``secrets`` and reaches the server only as a SCRAM verifier. If it
  created the role and then fails to create the database, it drops the role again.
- ``drop_database`` drops the database (terminating its connections) and its marked role; missing ones are fine.
- Tenant content is hostile (a restore runs its functions, CHECK constraints and generated columns), so pg tools
  never run as the superuser of ``dsn``: ``create_session_role(server, dbname)`` makes a short-lived LOGIN role
  (``dbapi_session_<random>``: NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS, a random password
  valid for 15 minutes) whose only membership is the database's owner, and ``drop_session_role`` ends its
  sessions, hands whatever it created to the owner and drops it. A database owned by a role with admin attributes
  is refused (membership would lend them). The superuser connection itself only creates and drops databases and
  roles. ``dbapi.pgarchive`` runs pg_dump and pg_restore under such a role.
- Passwords are scrubbed from every error message.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

log = logging.getLogger("dbapi.pgtools")

# The JSON Schema spelling (anchored, as OpenAPI patterns are); Python checks it with fullmatch, so a trailing
# newline, which "$" would let through, is refused.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
RESERVED_NAMES = frozenset({"postgres", "template0", "template1", "public"})
CONNECT_TIMEOUT_SECONDS = 10
SESSION_ROLE_PREFIX = "dbapi_session_"
# Only the login has to happen within this time (a dump or restore keeps its one connection however long it runs);
# a role left behind by a killed worker cannot be logged into afterwards and is swept by the next operation.
SESSION_ROLE_VALID_MINUTES = 15
_DEBIAN_BIN_DIRS = Path("/usr/lib/postgresql")


class PgToolError(Exception):
    """A PostgreSQL administration step failed; the message says which and why (never a password)."""


class InvalidNameError(PgToolError, ValueError):
    """A database or role name is not acceptable (checked before any SQL is sent)."""


class ServerLike(Protocol):
    """Anything describing a server like ``PgServer`` does (e.g. the service's own settings object)."""

    @property
    def name(self) -> str: ...
    @property
    def dsn(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def bin_dir(self) -> Path | str | None: ...


@dataclass(frozen=True)
class PgServer:
    """One managed PostgreSQL server: admin DSN (secret), the host/port apps use, optional client bin dir."""

    name: str
    dsn: str = field(repr=False)
    host: str
    port: int
    bin_dir: Path | None = None

    @classmethod
    def from_config(cls, name: str, entry: Mapping[str, Any]) -> PgServer:
        """Build from one ``DBAPI_SERVERS`` entry ``{"dsn", "host"?, "port"?, "bin_dir"?}``; host/port default
        to those of the DSN."""
        dsn = entry.get("dsn")
        if not isinstance(dsn, str) or not dsn:
            raise PgToolError(f"server {name!r}: 'dsn' (a PostgreSQL connection string) is required")
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError:
            raise PgToolError(f"server {name!r}: 'dsn' is not a valid PostgreSQL connection string") from None
        host = entry.get("host") or params.get("host") or "localhost"
        port = entry.get("port") or params.get("port") or 5432
        bin_dir = entry.get("bin_dir")
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise PgToolError(f"server {name!r}: 'port' must be an integer") from None
        return cls(name=name, dsn=dsn, host=str(host), port=port, bin_dir=Path(bin_dir) if bin_dir else None)



@dataclass(frozen=True)
class DatabaseCredentials:
    """What an application needs to connect to its database (``repr`` hides the password)."""

    host: str
    port: int
    dbname: str
    username: str
    password: str = field(repr=False)

    @property
    def url(self) -> str:
        """A ``DATABASE_URL`` (``postgresql://user:password@host:port/dbname``)."""
        auth = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}"
        if self.host.startswith("/"):
            # A unix socket directory (the embedded server) goes in the query string.
            return f"postgresql://{auth}@/{self.dbname}?host={quote(self.host, safe='/')}&port={self.port}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{self.dbname}"


def validate_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is an acceptable database/role name, else raise ``InvalidNameError``."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        shown = name if isinstance(name, str) and len(name) <= 80 else f"{str(name)[:80]}..."
        raise InvalidNameError(
            f"invalid {what} {shown!r}: use 1-63 characters, lowercase letters, digits and '_', "
            "starting with a letter"
        )
    if name in RESERVED_NAMES or name.startswith("pg_"):
        raise InvalidNameError(f"invalid {what} {name!r}: the name is reserved by PostgreSQL")
    return name


def _password_of(server: ServerLike) -> str | None:
    try:
        return conninfo_to_dict(server.dsn).get("password") or None
    except psycopg.ProgrammingError:
        return None


def scrub(text: str, *secrets_to_hide: str | None) -> str:
    for secret in secrets_to_hide:
        if secret:
            text = text.replace(secret, "***")
    return text


def connect(server: ServerLike, dbname: str | None = None) -> psycopg.Connection[Any]:
    """An autocommit admin connection to ``server`` (``PgToolError`` with a clear reason if it fails)."""
    try:
        conninfo = make_conninfo(server.dsn, dbname=dbname) if dbname else server.dsn
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except psycopg.Error as error:
        raise PgToolError(
            f"cannot connect to PostgreSQL server {server.name!r}: {scrub(str(error).strip(), _password_of(server))}"
        ) from None


def server_version(server: ServerLike) -> int:
    """The server's ``server_version_num`` (e.g. 150020)."""
    with connect(server) as conn:
        return conn.info.server_version


def database_exists(server: ServerLike, dbname: str) -> bool:
    """True if a database of that name exists on the server."""
    with connect(server) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone() is not None


def role_exists(server: ServerLike, role: str) -> bool:
    """True if a role of that name exists on the server."""
    with connect(server) as conn:
        return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None


def database_owner(server: ServerLike, dbname: str) -> str | None:
    """The owning role of ``dbname``, or None if there is no such database."""
    with connect(server) as conn:
        row = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (dbname,)
        ).fetchone()
    return row[0] if row else None


def _sql_error(action: str, error: psycopg.Error, server: ServerLike) -> PgToolError:
    detail = error.diag.message_primary if error.diag and error.diag.message_primary else str(error).strip()
    return PgToolError(f"{action} on server {server.name!r} failed: {scrub(detail, _password_of(server))}")


def managed_role_comment(dbname: str) -> str:
    """The comment that marks a role as created by dbapi for ``dbname`` (so it may be reused or dropped)."""
    return f"managed by dbapi: owner of database {dbname}"


def _role_state(conn: psycopg.Connection[Any], role: str) -> tuple[bool, str | None] | None:
    """(has admin privileges, comment) of ``role``, or None if it does not exist."""
    row = conn.execute(
        "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls, "
        "shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s",
        (role,),
    ).fetchone()
    return (bool(row[0]), row[1]) if row else None


def create_role_and_database(server: ServerLike, name: str, owner_role: str) -> DatabaseCredentials:
    """Create login role ``owner_role`` with a new password and database ``name`` owned by it.

    Idempotent for what dbapi made itself (a re-run resets the password and returns fresh credentials); an
    existing role or database that dbapi did not make for ``name`` is never taken over. Only the owner (and
    superusers) may connect. Raises ``InvalidNameError`` / ``PgToolError``; leaves no half-made role behind.
    """
    validate_name(name, "database name")
    validate_name(owner_role, "role name")
    password = secrets.token_urlsafe(32)
    marker = managed_role_comment(name)
    role = sql.Identifier(owner_role)
    with connect(server) as conn:
        created_role = False
        try:
            owner = conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if owner is not None and owner[0] != owner_role:
                raise PgToolError(
                    f"database {name!r} already exists on server {server.name!r} (owned by role {owner[0]!r})"
                )
            # libpq hashes the password locally: the server (and its statement log) only sees the verifier.
            verifier = conn.pgconn.encrypt_password(
                password.encode(), owner_role.encode(), b"scram-sha-256"
            ).decode()
            existing = _role_state(conn, owner_role)
            if existing is None:
                with conn.transaction():
                    conn.execute(sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {}").format(role, sql.Literal(verifier)))
                    conn.execute(sql.SQL("COMMENT ON ROLE {} IS {}").format(role, sql.Literal(marker)))
                created_role = True
            elif existing[0] or existing[1] != marker:
                raise PgToolError(
                    f"role {owner_role!r} already exists on server {server.name!r} and was not made by dbapi for "
                    f"database {name!r}; refusing to take it over"
                )
            else:
                conn.execute(sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(role, sql.Literal(verifier)))
        except psycopg.Error as error:
            raise _sql_error(f"creating role {owner_role!r}", error, server) from None
        try:
            if owner is None:
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), role))
            # Other applications' roles must not even connect.
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))
        except BaseException as error:
            if created_role:
                _drop_role_quietly(conn, owner_role)
            if isinstance(error, psycopg.Error):
                raise _sql_error(f"creating database {name!r}", error, server) from None
            raise
    return DatabaseCredentials(
        host=server.host, port=server.port, dbname=name, username=owner_role, password=password
    )


def _drop_role_quietly(conn: psycopg.Connection[Any], role: str) -> None:
    try:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    except psycopg.Error:
        # The original failure is what the operator needs to see; the marked role can be dropped later.
        pass


def drop_database(server: ServerLike, name: str, role: str) -> None:
    """Drop database ``name`` (closing its connections) and its dbapi-made role ``role``; missing ones are fine.

    Refuses (``PgToolError``) a database owned by another role or a role dbapi did not make for ``name``.
    """
    validate_name(name, "database name")
    validate_name(role, "role name")
    with connect(server) as conn:
        try:
            owner = conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if owner is not None and owner[0] != role:
                raise PgToolError(
                    f"database {name!r} on server {server.name!r} belongs to role {owner[0]!r}, not {role!r}; "
                    "refusing to drop it"
                )
            existing = _role_state(conn, role)
            if existing is not None and (existing[0] or existing[1] != managed_role_comment(name)):
                raise PgToolError(
                    f"role {role!r} on server {server.name!r} was not made by dbapi for database {name!r}; "
                    "refusing to drop it"
                )
            if owner is not None:
                _drop_database_statement(conn, name)
            if existing is not None:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        except psycopg.Error as error:
            raise _sql_error(f"dropping database {name!r} and role {role!r}", error, server) from None


def _drop_database_statement(conn: psycopg.Connection[Any], name: str) -> None:
    if conn.info.server_version >= 130000:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        return
    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def _tool_major(path: str) -> int:
    try:
        output = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise PgToolError(f"cannot run {path}: {error}") from None
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", output)
    if not match:
        raise PgToolError(f"cannot tell the version of {path} from {output.strip()!r}")
    return int(match.group(1))


@lru_cache(maxsize=64)
def _find_tool(tool: str, bin_dir: str | None, server_major: int) -> str:
    if bin_dir:
        path = Path(bin_dir) / tool
        if not os.access(path, os.X_OK):
            raise PgToolError(f"{tool} not found in configured bin_dir {bin_dir}")
        major = _tool_major(str(path))
        if major < server_major:
            raise PgToolError(f"{path} is version {major}, older than the PostgreSQL {server_major} server")
        return str(path)
    candidates: list[str] = []
    on_path = shutil.which(tool)
    if on_path:
        candidates.append(on_path)
    if _DEBIAN_BIN_DIRS.is_dir():
        candidates += [str(p) for p in sorted(_DEBIAN_BIN_DIRS.glob(f"*/bin/{tool}")) if os.access(p, os.X_OK)]
    versions = {path: _tool_major(path) for path in candidates}
    suitable = sorted((major, path) for path, major in versions.items() if major >= server_major)
    if not suitable:
        found = ", ".join(f"{path} ({major})" for path, major in versions.items()) or "none"
        raise PgToolError(
            f"no {tool} of version {server_major} or newer found (found: {found}); install the matching "
            "PostgreSQL client or set bin_dir for this server"
        )
    # The oldest suitable one is closest to the server's own version.
    return suitable[0][1]


def tool_path(server: ServerLike, tool: str) -> str:
    """Path of ``pg_dump``/``pg_restore`` suitable for ``server`` (its bin_dir, else a new-enough one)."""
    major = server_version(server) // 10000
    return _find_tool(tool, str(server.bin_dir) if server.bin_dir else None, major)


@dataclass(frozen=True)
class SessionRole:
    """A short-lived login role that is a member of one database's owner and of nothing else."""

    name: str
    password: str = field(repr=False)
    dbname: str
    owner: str


def session_role_comment(dbname: str) -> str:
    """The comment that marks a session role dbapi made to run a pg tool on ``dbname``."""
    return f"managed by dbapi: session role for database {dbname}, dropped after use"


def create_session_role(server: ServerLike, dbname: str) -> SessionRole:
    """A new login role with exactly the rights of ``dbname``'s owner, for one pg_dump or pg_restore.

    Raises ``PgToolError`` if the database does not exist or its owner has admin attributes (superuser, create
    role/database, replication, bypass RLS): membership in such a role would lend them to tenant code.
    """
    validate_name(dbname, "database name")
    name = SESSION_ROLE_PREFIX + secrets.token_hex(8)
    password = secrets.token_urlsafe(32)
    with connect(server) as conn:
        try:
            row = conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (dbname,)
            ).fetchone()
            if row is None:
                raise PgToolError(f"database {dbname!r} does not exist on server {server.name!r}")
            owner = row[0]
            state = _role_state(conn, owner)
            if state is None or state[0]:
                raise PgToolError(
                    f"database {dbname!r} on server {server.name!r} is owned by role {owner!r}, which has admin "
                    "rights; refusing to run pg tools with them"
                )
            _sweep_session_roles(conn)
            verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()
            (valid_until,) = conn.execute(
                "SELECT (now() + make_interval(mins => %s))::text", (SESSION_ROLE_VALID_MINUTES,)
            ).fetchone()
            role = sql.Identifier(name)
            with conn.transaction():
                conn.execute(
                    sql.SQL(
                        "CREATE ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
                        "INHERIT PASSWORD {} VALID UNTIL {} IN ROLE {}"
                    ).format(role, sql.Literal(verifier), sql.Literal(valid_until), sql.Identifier(owner))
                )
                conn.execute(sql.SQL("COMMENT ON ROLE {} IS {}").format(role, sql.Literal(session_role_comment(dbname))))
        except psycopg.Error as error:
            raise _sql_error(f"creating a session role for database {dbname!r}", error, server) from None
    return SessionRole(name=name, password=password, dbname=dbname, owner=owner)


def drop_session_role(server: ServerLike, role: SessionRole) -> None:
    """End ``role``'s sessions, give anything it created in its database to the owner, and drop it."""
    with connect(server) as conn:
        try:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role.name,))
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (role.dbname,)).fetchone():
                # Tenant code that ran RESET ROLE acted as the session role; what it made belongs to the tenant.
                with connect(server, role.dbname) as database_conn:
                    database_conn.execute(
                        sql.SQL("REASSIGN OWNED BY {} TO {}").format(sql.Identifier(role.name), sql.Identifier(role.owner))
                    )
                    database_conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role.name)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role.name)))
        except psycopg.Error as error:
            raise _sql_error(f"dropping session role {role.name!r}", error, server) from None


def _sweep_session_roles(conn: psycopg.Connection[Any]) -> None:
    # Session roles of workers that were killed: expired, and nobody is logged in as them any more.
    stale = conn.execute(
        "SELECT rolname FROM pg_roles WHERE rolname LIKE %s AND rolvaliduntil < now() "
        "AND shobj_description(oid, 'pg_authid') LIKE 'managed by dbapi: session role %%' "
        "AND rolname NOT IN (SELECT usename FROM pg_stat_activity WHERE usename IS NOT NULL)",
        (SESSION_ROLE_PREFIX.replace("_", r"\_") + "%",),
    ).fetchall()
    for (name,) in stale:
        try:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        except psycopg.Error as error:  # it owns something somewhere: leave it for an operator
            log.warning("stale session role %s could not be dropped: %s", name, error.diag.message_primary)
