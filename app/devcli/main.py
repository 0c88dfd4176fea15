"""`deis-db`: an app's database from the developer's terminal (also `deis db:<command>` through the Deis CLI).

Exit codes: 0 ok; 1 a failed operation, a server or network error; 2 bad usage; 3 not signed in or not allowed.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from app.devcli import argv as argv_forms
from app.devcli import output
from app.devcli.api import EXIT_FAILED, EXIT_USAGE, ApiError, PanelApi
from app.devcli.follow import follow, interactive
from app.devcli.gitremote import detect_app
from app.devcli.settings import ClientSettings, SettingsError, load
from app.devcli.transfer import download as download_archive, is_dump, upload as upload_archive

WAIT_TIMEOUT = 3600.0


class Context:
    def __init__(self, config: str | None, as_json: bool):
        self.config = config
        self.as_json = as_json
        self._settings: ClientSettings | None = None
        self._api: PanelApi | None = None

    @property
    def settings(self) -> ClientSettings:
        if self._settings is None:
            self._settings = load(self.config)
        return self._settings

    @property
    def api(self) -> PanelApi:
        if self._api is None:
            self._api = PanelApi(self.settings)
        return self._api

    def app(self, given: str | None) -> str:
        if given:
            return given
        found = detect_app(self.settings.controller)
        if not found:
            raise click.UsageError("No app given and none found in this directory's git remotes: pass -a APP (or run"
                                   " it inside the app's checkout, with its `deis` git remote).")
        return found


def command(name: str, *, app_option: bool = True, **kwargs):
    """A `deis-db` command taking the options every command takes (-c, --json, and -a unless `app_option=False`)."""

    def decorate(function):
        @functools.wraps(function)
        def run(config, as_json, **params):
            ctx = click.get_current_context().find_object(Context)
            ctx.config = config or ctx.config
            ctx.as_json = as_json or ctx.as_json
            return function(ctx, **params)

        run = click.option("--json", "as_json", is_flag=True, help="Print the API's JSON (for scripts).")(run)
        run = click.option("-c", "--config", metavar="PROFILE",
                           help="Deis profile (~/.deis/PROFILE.json) or a path ending in .json.")(run)
        if app_option:
            run = click.option("-a", "--app", metavar="APP",
                               help="The app (default: the one this git checkout deploys to).")(run)
        return cli.command(name, **kwargs)(run)

    return decorate


def wait_option(function):
    function = click.option("--timeout", type=click.FloatRange(min=1), default=WAIT_TIMEOUT, show_default=True,
                            help="With --wait: give up following after this many seconds.")(function)
    return click.option("--wait", is_flag=True, help="Follow the operation to its end with a progress bar.")(function)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", metavar="PROFILE", help="Deis profile (~/.deis/PROFILE.json) or a path ending in .json.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON (for scripts).")
@click.pass_context
def cli(click_ctx: click.Context, config: str | None, as_json: bool) -> None:
    """An app's PostgreSQL database: info, backups, restores, clones, downloads and uploads.

    Through the Deis CLI: `deis db:backups -a shop` runs `deis-db backups -a shop`.
    """
    click_ctx.obj = Context(config, as_json)


# -- reading -------------------------------------------------------------------------------------------------------
@command("info")
def info(ctx: Context, app: str | None) -> None:
    """The app's database (never its password) and a summary of its backups."""
    answer = ctx.api.app(ctx.app(app))
    if ctx.as_json:
        output.emit_json(answer)
        return
    click.echo(output.app_info(answer["app"]))


@command("backups")
def backups(ctx: Context, app: str | None) -> None:
    """The app's backups, newest first."""
    name = ctx.app(app)
    answer = ctx.api.backups(name)
    if ctx.as_json:
        output.emit_json(answer)
        return
    rows = answer.get("backups") or []
    if not rows:
        click.echo(f"{name} has no backups yet. Take one with: deis-db capture -a {name}")
        return
    click.echo(f"=== {name} backups")
    click.echo(output.backups_table(rows))


# -- operations ----------------------------------------------------------------------------------------------------
@command("create")
@click.option("--replace", is_flag=True, help="Replace a DATABASE_URL set on the app by hand.")
@wait_option
def create(ctx: Context, app: str | None, replace: bool, wait: bool, timeout: float) -> None:
    """Create the app's database (DATABASE_URL is set on the app when it is ready)."""
    name = ctx.app(app)
    answer = ctx.api.create_database(name, replace=replace)
    started(ctx, answer, f"Creating a database for {name}", wait, timeout)


@command("capture")
@wait_option
def capture(ctx: Context, app: str | None, wait: bool, timeout: float) -> None:
    """Take a backup of the app's database now."""
    name = ctx.app(app)
    answer = ctx.api.capture(name)
    backup_id = (answer.get("backup") or {}).get("id")
    started(ctx, answer, f"Capturing backup {backup_id} of {name}" if backup_id else f"Capturing a backup of {name}",
            wait, timeout)


@command("restore")
@click.argument("backup", type=click.IntRange(min=1))
@click.option("--confirm", metavar="APP", help="Skip the question by naming the app (its data is replaced).")
@wait_option
def restore(ctx: Context, app: str | None, backup: int, confirm: str | None, wait: bool, timeout: float) -> None:
    """Replace the app's database contents with BACKUP."""
    name = ctx.app(app)
    confirm_replacing(name, confirm)
    answer = ctx.api.restore(name, backup)
    started(ctx, answer, f"Restoring backup {backup} into {name}", wait, timeout)


@command("clone")
@click.argument("backup", type=click.IntRange(min=1))
@click.option("--to", "to", required=True, metavar="APP", help="The other app (one you may see too).")
@click.option("--restore/--no-restore", default=True, show_default=True,
              help="Also restore the copy into APP's database (replaces its data).")
@click.option("--confirm", metavar="APP", help="Skip the question by naming the target app.")
@wait_option
def clone(ctx: Context, app: str | None, backup: int, to: str, restore: bool, confirm: str | None, wait: bool,
          timeout: float) -> None:
    """Copy BACKUP to another app (and, by default, restore it there)."""
    name = ctx.app(app)
    if restore:
        confirm_replacing(to, confirm)
    answer = ctx.api.clone(name, backup, to, restore)
    copy = answer.get("backup") or {}
    if answer.get("operation") is None:
        if ctx.as_json:
            output.emit_json(answer)
        else:
            click.echo(f"Backup {backup} of {name} is now backup {copy.get('id')} of {to}.")
        return
    started(ctx, answer, f"Backup {backup} of {name} is now backup {copy.get('id')} of {to}; restoring it", wait,
            timeout)


@command("wait", app_option=False)
@click.argument("operation", type=click.IntRange(min=1))
@click.option("--timeout", type=click.FloatRange(min=1), default=WAIT_TIMEOUT, show_default=True,
              help="Give up after this many seconds.")
def wait_command(ctx: Context, operation: int, timeout: float) -> None:
    """Follow OPERATION until it ends (exit 0 if it succeeded, 1 if it failed)."""
    current = ctx.api.operation(operation)["operation"]
    finish(ctx, follow(ctx.api, current, timeout, quiet=ctx.as_json))


# -- transfers -----------------------------------------------------------------------------------------------------
@command("download")
@click.argument("backup", type=click.IntRange(min=1))
@click.option("-o", "--output", "target", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the pg_dump archive (default: APP-BACKUP.dump).")
@click.option("--force", is_flag=True, help="Replace the file if it exists.")
def download(ctx: Context, app: str | None, backup: int, target: Path | None, force: bool) -> None:
    """Download BACKUP as a pg_dump archive (checked: size and SHA-256); restore it with pg_restore."""
    name = ctx.app(app)
    target = target or Path(f"{name}-{backup}.dump")
    if target.exists() and not force:
        raise click.UsageError(f"{target} exists; pass --force to replace it or -o another file.")
    if not target.parent.is_dir():
        raise click.UsageError(f"{target.parent} is not a directory.")
    grant = ctx.api.download_token(name, backup)
    bar = None

    def start(length: int | None) -> None:
        nonlocal bar
        bar = click.progressbar(length=length or 0, label=f"backup {backup}", file=sys.stderr,
                                hidden=ctx.as_json or not length or not interactive())
        bar.__enter__()

    try:
        size, sha = download_archive(grant, target, verify=ctx.settings.ssl_verify,
                                     progress=lambda amount: bar and bar.update(amount), on_length=start)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if ctx.as_json:
        output.emit_json({"backup": backup, "app": name, "file": str(target), "size_bytes": size, "sha256": sha})
        return
    click.echo(f"Wrote {target} ({output.size(size)}, SHA-256 {sha}, verified).")
    click.echo(f"Restore it with: pg_restore --no-owner --dbname=<database URL> {target}")


@command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@wait_option
def upload(ctx: Context, app: str | None, file: Path, wait: bool, timeout: float) -> None:
    """Upload FILE (a pg_dump -Fc archive) as a new backup of the app; restore it with `deis-db restore`."""
    name = ctx.app(app)
    if not is_dump(file):
        raise click.UsageError(f"{file} is not a pg_dump custom-format archive (it must start with PGDMP;"
                               " make it with pg_dump -Fc).")
    grant = ctx.api.upload_token(name)
    size = file.stat().st_size
    with click.progressbar(length=size, label=f"uploading {file.name}", file=sys.stderr,
                           hidden=ctx.as_json or not interactive()) as bar:
        stored = upload_archive(grant, file, verify=ctx.settings.ssl_verify, progress=bar.update)
    operation = grant.get("operation") or {}
    answer = {"operation": operation, "upload": stored}
    started(ctx, answer, f"Uploaded {file} ({output.size(size)}); the panel registers it as a backup of {name}", wait,
            timeout)


# -- shared --------------------------------------------------------------------------------------------------------
def confirm_replacing(app: str, confirm: str | None) -> None:
    """Replacing a database's contents: ask on a terminal unless --confirm names the app; scripts pass through."""
    if confirm is not None:
        if confirm != app:
            raise click.UsageError(f"--confirm {confirm} does not name the app whose data is replaced ({app}).")
        return
    if not sys.stdin.isatty():
        return
    typed = click.prompt(f"This replaces the data of {app}'s database. Type the app's name to go on", default="",
                         show_default=False, err=True)
    if typed.strip() != app:
        raise click.UsageError(f"{typed.strip() or 'nothing'} is not {app}: nothing was changed.")


def started(ctx: Context, answer: dict, what: str, wait: bool, timeout: float) -> None:
    operation = answer.get("operation") or {}
    if not wait:
        if ctx.as_json:
            output.emit_json(answer)
            return
        click.echo(f"{what}: operation {operation.get('id')} is {operation.get('state')}.")
        click.echo(f"Follow it with: deis-db wait {operation.get('id')}")
        return
    if not ctx.as_json:
        click.echo(f"{what} ...", err=True)
    finish(ctx, follow(ctx.api, operation, timeout, quiet=ctx.as_json), answer)


def finish(ctx: Context, operation: dict, answer: dict | None = None) -> None:
    if ctx.as_json:
        output.emit_json({**(answer or {}), "operation": operation})
    else:
        click.echo(output.operation_line(operation))
    if operation.get("state") != "succeeded":
        sys.exit(EXIT_FAILED)


def main(args: list[str] | None = None) -> None:
    """The console script: exit codes 0 ok, 1 failed, 2 bad usage, 3 not signed in or not allowed."""
    arguments = argv_forms.normalize(sys.argv[1:] if args is None else args)
    if not arguments:  # `deis db` runs `deis-db db`: show what there is
        arguments = ["--help"]
    try:
        returned = cli.main(args=arguments, prog_name="deis-db", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(EXIT_USAGE if isinstance(error, click.UsageError) else error.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_FAILED)
    except SettingsError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(error.exit_code)
    except ApiError as error:
        if ctx_json(arguments) and error.body is not None:
            output.emit_json(error.body)
        click.echo(f"Error: {error.message}", err=True)
        sys.exit(error.exit_code)
    sys.exit(returned if isinstance(returned, int) else 0)


def ctx_json(arguments: list[str]) -> bool:
    return "--json" in arguments


if __name__ == "__main__":
    main()
