"""Certificates: every one with its domains, apps and expiry (and a timeline of the next 90 days); uploading one
for a domain (admins, password confirmed)."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.clients import NotConfigured, for_config
from app.extensions import db
from app.models import utcnow
from app.operations.certificates import CertificateRefused, CertificateUploadFailed, upload_certificate
from app.queries import certificates
from app.queries.paging import BadCursor
from app.queries.sync_status import SYNC_QUEUE
from app.queues import queue
from app.views import sessions
from app.views.access import REAUTH_FIELD, admin_required, reauth_required
from app.views.forms import CertificateUploadForm
from app.views.htmx import render_page
from app.views.query_reader import QueryReader, cursor_param

bp = Blueprint("certificates", __name__, url_prefix="/certificates")


@bp.get("/")
@login_required
def index():
    """The certificates, soonest expiry first, filtered by cluster and urgency; htmx gets the results only."""
    reader = QueryReader(request.args)
    clusters = certificates.cluster_names(db.session)
    filters = certificates.CertificateFilters(cluster=reader.optional_choice("cluster", clusters),
                                              urgency=reader.optional_choice("urgency", certificates.URGENCIES))
    now = utcnow()
    try:
        page = certificates.list_certificates(db.session, filters, now, reader.page(),
                                              after=cursor_param(reader, "after"),
                                              before=cursor_param(reader, "before"))
    except BadCursor as error:
        reader.errors.append(f"Bad page link ({error}): showing the first page.")
        page = certificates.list_certificates(db.session, filters, now)
    params = {key: value for key, value in (("cluster", filters.cluster), ("urgency", filters.urgency)) if value}
    status = 400 if reader.errors else 404 if page.past_end else 200
    return render_page("certificates/index.html", "results", push_url=url_for("certificates.index", **params),
                       page=page, filters=filters, clusters=clusters, urgencies=certificates.URGENCIES,
                       labels=certificates.URGENCY_LABELS, errors=reader.errors, params=params,
                       timeline=certificates.expiry_timeline(db.session, filters, now)), status


def _form() -> CertificateUploadForm:
    form = CertificateUploadForm()
    form.cluster.choices = [(name, name) for name in certificates.cluster_names(db.session)]
    return form


def _upload_page(form: CertificateUploadForm, message: str | None = None, status: int = 200):
    needs_password = not sessions.reauthenticated_recently(sessions.now())
    html = render_template("certificates/upload.html", form=form, message=message, needs_password=needs_password,
                           password_field=REAUTH_FIELD)
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def password_on_the_form(view):
    """Confirm the password from the upload form itself, before `reauth_required` sees the request.

    `reauth_required` answers a stale confirmation with a prompt that replays every field of the form into the
    page: for an upload that would put the private key in a page. So the upload form carries the password field,
    this checks it with the same check and throttle, and a missing or wrong password renders the form again
    without the key.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not sessions.reauthenticated_recently(sessions.now()):
            password = request.form.get(REAUTH_FIELD)
            if not password:
                return _upload_page(_form(), "Enter your password to confirm this upload; paste the key again.", 401)
            check = sessions.confirm_password(password)
            if not check.ok:
                response = _upload_page(_form(), f"{check.message} Paste the key again.", check.status)
                if check.retry_after:
                    response.headers["Retry-After"] = str(check.retry_after)
                return response
        return view(*args, **kwargs)

    return wrapper


@bp.get("/upload")
@admin_required
def upload_form():
    """The upload form, filled in with the cluster and domain of the link that led here."""
    form = _form()
    if not form.is_submitted():
        form.cluster.data = request.args.get("cluster", "")[:64]
        form.domain.data = request.args.get("domain", "")[:255]
    return _upload_page(form)


@bp.post("/upload")
@admin_required
@password_on_the_form
@reauth_required
def upload():
    """Check the certificate and key, create it on Deis and attach it to the domain; audited, a sync is queued."""
    form = _form()
    if not form.validate_on_submit():
        first = next((errors[0] for errors in form.errors.values() if errors), "Check the form.")
        return _upload_page(form, first, 400)
    try:
        deis = for_config(current_app.config).deis(form.cluster.data)
        result = upload_certificate(
            db.session, deis, current_user._get_current_object(), cluster=form.cluster.data, domain=form.domain.data,
            certificate_pem=form.certificate.data, key_pem=form.key.data, sync_queue=queue(SYNC_QUEUE),
        )
    except (CertificateRefused, NotConfigured) as error:
        return _upload_page(form, f"{error} Nothing was changed.", 400)
    except CertificateUploadFailed as error:
        return _upload_page(form, str(error), 502)
    moved = f"; {result.domain} moved off {result.replaced}" if result.replaced else ""
    removed = " (deleted: nothing else used it)" if result.removed else ""
    flash(f"Certificate {result.name} now serves {result.domain} on {result.cluster}{moved}{removed}. A Deis sync of "
          f"{result.cluster} is queued: the list shows it once that has run.", "info")
    return redirect(url_for("certificates.index", cluster=result.cluster))
