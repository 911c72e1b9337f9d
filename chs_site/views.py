from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from chs_site.celery import app as celery_app

log = logging.getLogger(__name__)


def _check_database() -> dict[str, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure here means "unhealthy", reported by name
        log.warning("healthz: database check failed: %s", exc)
        return {"status": "error", "error": str(exc).splitlines()[0][:200]}
    return {"status": "ok", "engine": connection.vendor}


def _check_broker() -> dict[str, str]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": "ok", "mode": "eager (tasks run in-process)"}
    try:
        with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        log.warning("healthz: broker check failed: %s", exc)
        return {"status": "error", "error": str(exc).splitlines()[0][:200]}
    return {"status": "ok", "mode": "workers"}


def _last_worker_heartbeat() -> str | None:
    from accounts.models import WorkerHeartbeat

    try:
        beat = WorkerHeartbeat.objects.order_by("-seen_at").first()
    except Exception:  # the database check above already reports why
        return None
    return beat.seen_at.isoformat() if beat else None


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database(), "broker": _check_broker()}
    failing = [name for name, result in checks.items() if result["status"] != "ok"]
    body: dict[str, object] = {"status": "ok" if not failing else "error", "checks": checks}
    if not settings.CELERY_TASK_ALWAYS_EAGER and checks["database"]["status"] == "ok":
        # Informational: beat sends a heartbeat every minute that any worker records.
        body["last_worker_heartbeat"] = _last_worker_heartbeat()
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
