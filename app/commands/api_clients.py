"""`flask api-clients ...`: tokens for Chef and internal tools, from a shell."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db
from app.models import ApiClient
from app.operations import api_clients

api_clients_cli = AppGroup("api-clients", help="Manage API clients (bearer tokens for Chef and internal tools).")
CLI_ACTOR = "cli"


@api_clients_cli.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(api_clients.SCOPES),
              help="A scope to grant (repeat for several).")
def create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a client and print its token once (only a hash is kept)."""
    try:
        client, token = api_clients.create_client(db.session, name, list(scopes), actor=CLI_ACTOR)
    except api_clients.ApiClientError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Created API client {client.name} with scopes {', '.join(client.scopes)}.")
    click.echo(f"Token (shown once): {token}")


@api_clients_cli.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke a client's token: it stops working at once."""
    client = api_clients.find_client(db.session, name)
    if client is None:
        raise click.ClickException(f"No API client called {name!r}.")
    try:
        api_clients.revoke_client(db.session, client, actor=CLI_ACTOR)
    except api_clients.ApiClientError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Revoked API client {client.name}.")


@api_clients_cli.command("list")
def list_clients() -> None:
    """List clients, their scopes, last use and state."""
    for client in db.session.scalars(select(ApiClient).order_by(ApiClient.name)):
        state = f"revoked {client.revoked_at:%Y-%m-%d %H:%M} UTC" if client.revoked_at else "active"
        used = f"{client.last_used_at:%Y-%m-%d %H:%M} UTC" if client.last_used_at else "never"
        click.echo(f"{client.name}\t{','.join(client.scopes)}\tlast used: {used}\t{state}")
