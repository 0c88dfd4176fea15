"""`flask alerts run`: every alert check now, printing what was sent to which channel and what failed."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.extensions import db
from app.models import utcnow
from app.operations import alert_checks
from app.queues import job_gone, redis_connection
from app.sync.locks import redis_locks

alerts_cli = AppGroup("alerts", help="Maintenance, certificate and sync alerts, and their notifications.")


@alerts_cli.command("run")
@click.option("--wait", type=float, default=30, show_default=True,
              help="Seconds to wait for a run already in progress (the cron job's, say) before giving up.")
def run(wait: float) -> None:
    """Run every check now, deliver what is pending, and print each delivery; exit 1 when one failed."""
    settings = current_app.config["SETTINGS"]
    channels = alert_checks.channels_for(settings)
    if not channels:
        click.echo("no channel configured (ALERT_WEBHOOK_URLS, SMTP_URL + ALERT_EMAIL_TO): alerts are only"
                   " shown on the alerts page", err=True)
    report = alert_checks.run_all(db.session, channels, utcnow(), settings.cert_alert_days,
                                  redis_locks(redis_connection(), wait_seconds=wait), settings.operation_stale_minutes,
                                  job_gone)
    if report.skipped:
        raise click.ClickException("another alerts run is in progress; try again with a longer --wait")
    for outcome in report.outcomes:
        if outcome.delivered:
            click.echo(f"sent {outcome.notice}: {outcome.title} -> {outcome.channel}"
                       f" ({outcome.attempts} attempt{'s' if outcome.attempts != 1 else ''})")
        else:
            click.echo(f"FAILED {outcome.notice}: {outcome.title} -> {outcome.channel}: {outcome.error}"
                       " (retried on the next run)", err=True)
    opened = ", ".join(f"{kind} {count}" for kind, count in report.open_alerts.items())
    click.echo(f"{len(report.outcomes) - len(report.failures)} sent, {len(report.failures)} failed;"
               f" open alerts: {opened}")
    if report.failures:
        raise SystemExit(1)
