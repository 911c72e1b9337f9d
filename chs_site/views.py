from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from chs_site.celery import app as celery_app
from chs_site.queues import QUEUES

log = logging.getLogger(__name__)


def _check_database() -> dict[str, object]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure here means "unhealthy", reported by name
        log.warning("healthz: database check failed: %s", exc)
        return {"status": "error", "error": str(exc).splitlines()[0][:200]}
    return {"status": "ok", "engine": connection.vendor}


def _check_broker() -> dict[str, object]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": "ok", "mode": "eager (tasks run in-process)"}
    try:
        with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        log.warning("healthz: broker check failed: %s", exc)
        return {"status": "error", "error": str(exc).splitlines()[0][:200]}
    return {"status": "ok", "mode": "workers"}


def _check_worker() -> dict[str, object]:
    """Beat sends a heartbeat task to each queue every minute and a worker consuming it
    records it: a queue whose newest heartbeat is older than WORKER_STALE_SECONDS has no
    worker consuming (or beat is not running), so its work (scores, playbooks, imports,
    notifications) has stopped moving."""
    from accounts.models import WorkerHeartbeat

    try:
        beats = list(WorkerHeartbeat.objects.values_list("hostname", "seen_at"))
    except Exception as exc:  # the database check reports why
        return {"status": "error", "error": str(exc).splitlines()[0][:200]}
    newest: dict[str, dt.datetime] = {}
    for key, seen_at in beats:
        queue = key.partition("@")[0]
        if queue not in newest or seen_at > newest[queue]:
            newest[queue] = seen_at
    limit = settings.WORKER_STALE_SECONDS
    now = timezone.now()
    details: dict[str, object] = {}
    errors: list[str] = []
    for queue in QUEUES:
        last = newest.get(queue)
        if last is None:
            details[queue] = None
            errors.append(f"no worker has recorded a heartbeat on {queue} yet")
            continue
        age = int((now - last).total_seconds())
        details[queue] = {"last_heartbeat": last.isoformat(), "age_seconds": age}
        if age > limit:
            errors.append(f"no worker heartbeat on {queue} for {age} s (the limit is {limit} s)")
    if errors:
        return {"status": "error", "error": "; ".join(errors), "queues": details}
    return {"status": "ok", "queues": details}


def _scoring_details() -> dict[str, object]:
    """Informational: accounts the recompute set aside (admins see them on a page)."""
    from scoring.models import QuarantinedAccount

    try:
        quarantined = QuarantinedAccount.objects.count()
    except Exception:  # the database check reports why
        return {"status": "unknown"}
    return {"status": "ok" if not quarantined else "degraded", "quarantined_accounts": quarantined}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database, the broker and (with workers) a recent worker heartbeat all
    answer; 503 naming what fails. Quarantined accounts are reported, not failing: the rest
    is being scored."""
    checks: dict[str, dict[str, object]] = {
        "database": _check_database(),
        "broker": _check_broker(),
    }
    if not settings.CELERY_TASK_ALWAYS_EAGER and checks["database"]["status"] == "ok":
        checks["worker"] = _check_worker()  # heartbeats are rows: no database, no answer
    failing = [name for name, result in checks.items() if result["status"] == "error"]
    body: dict[str, object] = {"status": "ok" if not failing else "error", "checks": checks}
    if checks["database"]["status"] == "ok":
        body["scoring"] = _scoring_details()
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=503 if failing else 200)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's own refusals of a request it cannot read (a body over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE``, more than ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` fields, a
    bad Host): the API answers them in its JSON error shape, a too-big body as 413."""
    too_big = isinstance(exception, RequestDataTooBig)
    code = 413 if too_big else 400
    if request.path.startswith("/api/"):
        if too_big:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            message = (
                f"The request body is larger than the {limit} bytes allowed; send it in parts."
            )
            details = [{"field": "body", "reason": f"more than {limit} bytes"}]
        elif isinstance(exception, TooManyFieldsSent):
            limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
            message = f"The request has more than {limit} parameters."
            details = [{"field": "query", "reason": f"more than {limit} parameters"}]
        else:
            message = "The request could not be read."
            details = []
        return JsonResponse({"error": message, "details": details}, status=code)
    return HttpResponse("Bad request: the request could not be read.", status=code)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "Not found.", "details": []}, status=404)
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": "Something went wrong on our side; it has been logged.", "details": []},
            status=500,
        )
    return render(request, "500.html", status=500)
