"""Hooks that feed the audit log from outside the services: sign-ins (Django's auth
signals, the only place they are announced) and the origin of Celery tasks."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from celery.signals import task_postrun, task_prerun
from django.contrib.auth.signals import user_logged_in, user_login_failed

from accounts.models import User
from accounts.services.audit import (
    Action,
    ObjectType,
    Origin,
    Source,
    record_audit,
    reset_origin,
    set_origin,
)

_task_origins: dict[str, Any] = {}


def _signed_in(sender: Any, request: Any, user: User, **kwargs: Any) -> None:
    record_audit(action=Action.SIGNED_IN, object_type=ObjectType.SIGN_IN, obj=user, actor=user)


def _sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kw: Any
) -> None:
    # Django has already replaced the password in ``credentials``; only the name is kept.
    username = str(credentials.get("username", ""))[:150]
    record_audit(action=Action.SIGN_IN_FAILED, object_type=ObjectType.SIGN_IN, label=username)


def _locked_out(sender: Any, request: Any, username: str | None = None, **kw: Any) -> None:
    name = str(username or "")[:150]
    record_audit(
        action=Action.LOCKED_OUT,
        object_type=ObjectType.SIGN_IN,
        obj=User.objects.filter(username=name).first() if name else None,
        label=name,
    )


def _task_started(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task_id is not None:
        _task_origins[task_id] = set_origin(Origin(source=Source.TASK, label=str(task.name)))


def _task_ended(task_id: str | None = None, **kwargs: Any) -> None:
    token = _task_origins.pop(task_id or "", None)
    if token is not None:
        reset_origin(token)


def connect() -> None:
    user_logged_in.connect(_signed_in, dispatch_uid="chs-audit-signed-in")
    user_login_failed.connect(_sign_in_failed, dispatch_uid="chs-audit-sign-in-failed")
    user_locked_out.connect(_locked_out, dispatch_uid="chs-audit-locked-out")
    task_prerun.connect(_task_started, weak=False, dispatch_uid="chs-audit-task-started")
    task_postrun.connect(_task_ended, weak=False, dispatch_uid="chs-audit-task-ended")
