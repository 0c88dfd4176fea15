"""``pg_dump`` and ``pg_restore`` of tenant databases, run with the tenant's rights and never more.

Contract:
- An archive is tenant content and tenant content is hostile: a restore runs the archive's functions (through CHECK
  constraints, generated columns, materialized views...), and such a function can ``RESET ROLE``. So neither tool
  ever connects as the server's superuser: each run gets its own session role from
  ``pgtools.create_session_role`` (a login role whose only membership is the database's owner), connects as it with
  ``--role=<owner>``, and the role is dropped when the tool has exited, whatever happened (``drop_session_role``).
  ``RESET ROLE`` inside tenant code therefore lands on a role with exactly the owner's rights.
- ``dump(server, dbname)`` returns a ``DumpStream``: iterate it (ideally inside ``with``) for the bytes of a
  ``pg_dump -Fc`` archive; a non-zero exit raises ``PgToolError`` with the tail of stderr at the end of iteration.
- ``restore(server, dbname, chunks, clean=True)`` checks the ``PGDMP`` magic, then pipes the chunks into
  ``pg_restore --clean --if-exists --no-owner --no-privileges --role=<owner> --single-transaction
  --exit-on-error``: the restore commits completely or not at all (an exception from ``chunks``, e.g.
  ``BackupIntegrityError``, kills pg_restore, so the transaction rolls back). ``--no-owner`` and
  ``--no-privileges`` because the archive names roles of its source database: everything restored belongs to the
  target's owner and no GRANT of the archive is replayed.
- The session role's password travels to the tools in ``PGPASSWORD``, never in argv, and is scrubbed from every
  error message; the superuser's password never reaches them at all.
"""
from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import suppress
from types import TracebackType
from typing import IO

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from dbapi.pgtools import (
    CONNECT_TIMEOUT_SECONDS, PgToolError, ServerLike, SessionRole, create_session_role, drop_session_role, scrub,
    tool_path, validate_name,
)

log = logging.getLogger("dbapi.pgarchive")

ARCHIVE_MAGIC = b"PGDMP"
READ_CHUNK = 1024 * 1024
_STDERR_TAIL = 2000


def _tool_invocation(server: ServerLike, session: SessionRole) -> tuple[str, dict[str, str]]:
    """The ``--dbname`` conninfo (the session role, no password) and the environment carrying its password."""
    params = conninfo_to_dict(server.dsn)
    params.pop("password", None)
    params.update(user=session.name, dbname=session.dbname)
    params.setdefault("connect_timeout", str(CONNECT_TIMEOUT_SECONDS))
    env = {key: value for key, value in os.environ.items() if key not in ("PGPASSWORD", "PGPASSFILE", "PGUSER")}
    env["PGPASSWORD"] = session.password
    env["LC_MESSAGES"] = "C"
    return make_conninfo("", **params), env


def _release(server: ServerLike, session: SessionRole | None) -> None:
    """Drop a session role; a failure is logged, never raised over the tool's own outcome (the role's password
    expires within minutes, and the next session role sweeps it)."""
    if session is None:
        return
    try:
        drop_session_role(server, session)
    except PgToolError as error:
        log.error("session role %s was left behind: %s", session.name, error)


def _stderr_tail(stderr: IO[bytes], *hide: str | None) -> str:
    stderr.flush()
    size = stderr.seek(0, os.SEEK_END)
    stderr.seek(max(0, size - _STDERR_TAIL))
    text = stderr.read().decode("utf-8", errors="replace").strip()
    return scrub(text, *hide) or "(no error output)"


class DumpStream:
    """A running ``pg_dump -Fc``; iterate for archive chunks, use as a context manager to stop it early."""

    def __init__(self, server: ServerLike, dbname: str, *, chunk_size: int = READ_CHUNK) -> None:
        self.server = server
        self.dbname = validate_name(dbname, "database name")
        self.chunk_size = chunk_size
        self.returncode: int | None = None
        self.session: SessionRole | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._iterated = False

    def start(self) -> None:
        """Make the session role and start pg_dump as it (done by ``with`` or the first iteration)."""
        if self._process is not None:
            return
        self.session = create_session_role(self.server, self.dbname)
        try:
            executable = tool_path(self.server, "pg_dump")
            conninfo, env = _tool_invocation(self.server, self.session)
            self._stderr = tempfile.TemporaryFile()
            arguments = [executable, "--format=custom", "--no-password", "--lock-wait-timeout=120s"]
            arguments += [f"--role={self.session.owner}", f"--dbname={conninfo}"]
            try:
                self._process = subprocess.Popen(
                    arguments, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, env=env
                )
            except OSError as error:
                raise PgToolError(f"cannot start {executable}: {error}") from None
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> DumpStream:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[bytes]:
        if self._iterated:
            raise PgToolError("a DumpStream can be iterated only once")
        self._iterated = True
        self.start()
        return self._chunks()

    def _chunks(self) -> Iterator[bytes]:
        process = self._process
        assert process is not None and process.stdout is not None
        try:
            while True:
                chunk = process.stdout.read(self.chunk_size)
                if not chunk:
                    break
                yield chunk
            self.returncode = process.wait()
            if self.returncode != 0:
                assert self._stderr is not None
                raise PgToolError(
                    f"pg_dump of database {self.dbname!r} on server {self.server.name!r} failed "
                    f"(exit {self.returncode}): "
                    f"{_stderr_tail(self._stderr, self.session.password if self.session else None)}"
                )
        finally:
            self.close()

    def close(self) -> None:
        """Stop pg_dump if it is still running, release its pipes and drop its session role."""
        process = self._process
        if process is not None:
            if process.poll() is None:
                process.kill()
            if process.stdout is not None:
                process.stdout.close()
            process.wait()
            if self.returncode is None:
                self.returncode = process.returncode
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        session, self.session = self.session, None
        _release(self.server, session)


def dump(server: ServerLike, dbname: str) -> DumpStream:
    """A ``pg_dump -Fc`` of ``dbname`` as a stream of chunks, run as a session role (see ``DumpStream``)."""
    return DumpStream(server, dbname)


def _read_magic(chunks: Iterator[bytes]) -> bytes:
    head = bytearray()
    for chunk in chunks:
        head += chunk
        if len(head) >= len(ARCHIVE_MAGIC):
            break
    if not head.startswith(ARCHIVE_MAGIC):
        raise PgToolError("not a pg_dump custom-format archive")
    return bytes(head)


def restore(server: ServerLike, dbname: str, chunks: Iterable[bytes], clean: bool = True) -> None:
    """Stream a ``pg_dump -Fc`` archive into existing database ``dbname`` in one transaction, as a session role
    with the rights of the database's owner (which then owns everything restored). Raises ``PgToolError``."""
    validate_name(dbname, "database name")
    source = iter(chunks)
    session: SessionRole | None = None
    try:
        head = _read_magic(source)
        session = create_session_role(server, dbname)
        executable = tool_path(server, "pg_restore")
        conninfo, env = _tool_invocation(server, session)
        arguments = [executable, "--no-password", "--no-owner", "--no-privileges", f"--role={session.owner}"]
        arguments += ["--single-transaction", "--exit-on-error"]
        if clean:
            arguments += ["--clean", "--if-exists"]
        arguments.append(f"--dbname={conninfo}")
        _run_restore(server, dbname, arguments, env, head, source, session.password)
    finally:
        _close_source(source)
        _release(server, session)


def _run_restore(
    server: ServerLike, dbname: str, arguments: list[str], env: dict[str, str], head: bytes, source: Iterator[bytes],
    password: str,
) -> None:
    with tempfile.TemporaryFile() as stderr:
        try:
            process = subprocess.Popen(
                arguments, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr, env=env
            )
        except OSError as error:
            raise PgToolError(f"cannot start {arguments[0]}: {error}") from None
        assert process.stdin is not None
        pipe_closed = False
        try:
            try:
                process.stdin.write(head)
                for chunk in source:
                    process.stdin.write(chunk)
            except BrokenPipeError:
                # pg_restore stopped reading: its exit code and stderr say why.
                pipe_closed = True
            try:
                process.stdin.close()
            except BrokenPipeError:
                pipe_closed = True
        except BaseException:
            # The input failed (e.g. a backup that does not authenticate): kill pg_restore before it sees EOF,
            # so its single transaction is rolled back instead of committing a partial restore.
            process.kill()
            process.wait()
            with suppress(OSError):
                process.stdin.close()
            raise
        returncode = process.wait()
        if returncode != 0:
            raise PgToolError(
                f"pg_restore into database {dbname!r} on server {server.name!r} failed (exit {returncode}): "
                f"{_stderr_tail(stderr, password)}"
            )
        if pipe_closed:
            # pg_restore finished without reading everything: still consume the rest so a damaged tail of an
            # encrypted backup is reported instead of passing silently.
            for _ in source:
                pass


def _close_source(source: Iterator[bytes]) -> None:
    close = getattr(source, "close", None)
    if close is not None:
        close()
