"""Admin Panel: the application factory (`from app import create_app` reaches it through app/__init__.py)."""
from __future__ import annotations

import logging
import secrets
import uuid

from flask import Flask, g, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.middleware.proxy_fix import ProxyFix

from app import redaction
from app.audit import REQUEST_ID_PATTERN, request_id_var
from app.config import Settings
from app.extensions import csrf, db, limiter, login_manager, migrate

REQUEST_ID_HEADER = "X-Request-ID"


def _limiter_storage_uri(redis_url: str) -> str:
    # The `limits` library spells unix sockets its own way.
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url.removeprefix("unix://")
    return redis_url


def create_app(settings: Settings | None = None, **overrides) -> Flask:
    """Build the panel: config, extensions, blueprints, CLI commands."""
    settings = settings or Settings.from_env()
    app = Flask("app", instance_path=str(settings.instance_dir), instance_relative_config=False)
    settings.instance_dir.mkdir(parents=True, exist_ok=True)
    app.config.update(settings.flask_config())
    # Without REDIS_URL the embedded Redis starts on first use; rate-limit counters then stay in each process.
    app.config["REDIS_URL"] = settings.redis_url
    app.config["RATELIMIT_STORAGE_URI"] = _limiter_storage_uri(settings.redis_url) if settings.redis_url else "memory://"
    app.config["RATELIMIT_KEY_PREFIX"] = "admin-panel"
    app.config.update(overrides)
    if settings.trusted_proxy_hops:
        # Only as many X-Forwarded-* entries as there are proxies of ours are believed; without proxies, none is
        # (a client could otherwise pick its own address and dodge the sign-in limits).
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    redaction.configure(settings.secret_config_keys, settings.public_config_keys)
    redaction.install_log_redaction()

    db.init_app(app)
    migrate.init_app(app, db, directory=_migrations_dir())
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    _register_login(app)
    _register_request_hooks(app)
    _register_security(app, settings)
    _register_errors(app)
    _register_blueprints(app)
    _register_commands(app)
    _register_template_helpers(app)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return app


def _migrations_dir() -> str:
    from app.config import PROJECT_ROOT

    return str(PROJECT_ROOT / "migrations")


def _register_login(app: Flask) -> None:
    from app.models import User

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        user_id, _, token = session_id.partition(":")
        if not user_id.isdigit() or not token:
            return None
        user = db.session.get(User, int(user_id))
        if user is None or not secrets.compare_digest(user.session_token, token):
            return None
        if not user.is_active:  # disabled: its sessions are refused at once (its token was rotated too)
            return None
        return user


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def assign_request_id() -> None:
        # A client's id is kept only when it is plainly an id; anything else (newlines, markup, 65+ characters)
        # would end up in logs, headers and the audit log, so it gets a fresh one instead.
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if REQUEST_ID_PATTERN.fullmatch(incoming) else uuid.uuid4().hex
        request_id_var.set(g.request_id)

    @app.after_request
    def request_id_header(response):
        response.headers.setdefault(REQUEST_ID_HEADER, getattr(g, "request_id", ""))
        response.vary.add("HX-Request")
        return response


def _register_security(app: Flask, settings: Settings) -> None:
    from app.operations.sign_in_throttle import SignInThrottle
    from app.views import security_headers, sessions

    app.extensions["sign_in_throttle"] = SignInThrottle(storage=lambda: limiter.storage)
    sessions.register(app)
    security_headers.register(app, settings)


def _register_errors(app: Flask) -> None:
    from app.views.api import errors as api_errors

    api_errors.install(app)

    def page(status: int, title: str, message: str):
        return render_template("errors/error.html", status=status, title=title, message=message), status

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return page(400, "Form expired or forged", f"{error.description} Reload the page and try again.")

    @app.errorhandler(403)
    def forbidden(error):
        return page(403, "Not allowed", "Your role can read this panel but not change it. Ask an administrator.")

    @app.errorhandler(404)
    def not_found(error):
        if api_errors.is_api_request():
            return api_errors.from_http_exception(error)
        return page(404, "Not found", "There is nothing at this address.")

    @app.errorhandler(405)
    def wrong_method(error):
        # Outside /api/v1, Werkzeug's own answer (with its Allow header).
        return api_errors.from_http_exception(error) if api_errors.is_api_request() else error

    @app.errorhandler(429)
    def too_many(error):
        if api_errors.is_api_request():
            return api_errors.from_http_exception(error)
        return page(429, "Too many attempts", f"Too many attempts: {error.description}. Wait a minute and try again.")


def _register_blueprints(app: Flask) -> None:
    from app.views import (alerts, api, api_use, apps, audit, auth, certificates, change_sets, chef, clusters,
                           databases, dbapi_callbacks, dns, home, instances, limits, liveness, load_balancers,
                           monitoring, search, settings, sync, users)
    from app.views.api import spec as api_spec

    for blueprint in (auth.bp, home.bp, audit.bp, users.bp, apps.bp, instances.bp, dns.bp, sync.bp, search.bp,
                      monitoring.bp, settings.bp, certificates.bp, alerts.bp, limits.bp, change_sets.bp, databases.bp,
                      api_use.bp, liveness.bp, clusters.bp, load_balancers.bp):
        app.register_blueprint(blueprint)
    # Chef authenticates with a bearer token, dbapi each callback with an HMAC signature over the raw body and
    # developers (/api/v1) with their Deis token, not a session cookie: none has a CSRF token to check.
    api_spec.install_settings(app)
    for blueprint in (chef.bp, dbapi_callbacks.bp, api.bp):
        csrf.exempt(blueprint)
        app.register_blueprint(blueprint)


def _register_commands(app: Flask) -> None:
    from app.commands.alerts import alerts_cli
    from app.commands.api_clients import api_clients_cli
    from app.commands.backups import backups_cli
    from app.commands.backups_rotation import backup_policy_cli
    from app.commands.certificates import certificates_cli
    from app.commands.databases import databases_cli
    from app.commands.dns import dns_cli
    from app.commands.limits import limits_cli
    from app.commands.sync import sync_cli
    from app.commands.users import users_cli

    for group in (users_cli, sync_cli, certificates_cli, api_clients_cli, alerts_cli, limits_cli, dns_cli,
                  backup_policy_cli, databases_cli, backups_cli):
        app.cli.add_command(group)


def _register_template_helpers(app: Flask) -> None:
    from app.views import formatting, object_links

    formatting.register(app)
    object_links.register(app)
