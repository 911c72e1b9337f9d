"""Writes for people and accounts. Services validate, authorise where asked, and write in
one transaction; they raise ApplicationError with a message a person can act on."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import socket
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts import selectors
from accounts.models import (
    Account,
    Activity,
    ApiToken,
    Feedback,
    LifecycleStage,
    Role,
    Team,
    User,
    WorkerHeartbeat,
    owner_sort_name,
)
from chs_site.errors import ApplicationError, PermissionDenied, ValidationFailed


@transaction.atomic
def create_user(
    *,
    username: str,
    role: str,
    team_name: str | None = None,
    password: str | None = None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
) -> User:
    """Create a user with a role. A manager named with a team becomes that team's manager;
    a CSM named with a team joins it. The team is created if it does not exist."""
    username = username.strip()
    if not username:
        raise ApplicationError("A username is required.")
    if role not in Role.values:
        raise ApplicationError(f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.")
    if User.objects.filter(username=username).exists():
        raise ApplicationError(f"A user named {username!r} already exists.")

    user = User(
        username=username,
        role=role,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_staff=role == Role.ADMIN,
        is_superuser=role == Role.ADMIN,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()

    if team_name:
        team, _ = Team.objects.get_or_create(name=team_name.strip())
        if role == Role.MANAGER:
            if team.manager_id and team.manager_id != user.pk:
                raise ApplicationError(
                    f"Team {team.name!r} already has a manager ({team.manager}); "
                    "reassign it in the admin first."
                )
            team.manager = user
            team.save(update_fields=["manager"])
        else:
            user.team = team
            user.save(update_fields=["team"])
    return user


def record_worker_heartbeat(*, hostname: str | None = None) -> WorkerHeartbeat:
    hostname = hostname or socket.gethostname()
    beat, _ = WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults={"seen_at": timezone.now()}
    )
    return beat


# --- API tokens ------------------------------------------------------------------------

API_KEY_PREFIX = "chs_"
# Writing last_used_at on every request would make every API call a write; once a minute
# is precise enough for "is this key still in use?".
TOKEN_TOUCH_INTERVAL = dt.timedelta(seconds=60)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    key: str  # shown once; only its hash is stored


@transaction.atomic
def create_api_token(
    *,
    user: User,
    scope: str = ApiToken.Scope.INGEST,
    name: str = "",
    created_by: User | None = None,
) -> IssuedToken:
    if scope not in ApiToken.Scope.values:
        raise ApplicationError(
            f"Unknown scope {scope!r}; choose one of {', '.join(ApiToken.Scope.values)}."
        )
    if not user.is_active:
        raise ApplicationError(f"User {user.username!r} is deactivated; activate them first.")
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        scope=scope,
        name=name.strip()[:100],
        prefix=key[:12],
        key_hash=hash_api_key(key),
        created_by=created_by,
    )
    return IssuedToken(token=token, key=key)


def revoke_api_token(*, token: ApiToken, now: dt.datetime | None = None) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = now or timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def touch_api_token(*, token: ApiToken, now: dt.datetime) -> None:
    if token.last_used_at is not None and now - token.last_used_at < TOKEN_TOUCH_INTERVAL:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now


# --- feedback --------------------------------------------------------------------------

SENTIMENT_POINTS = {
    Feedback.Sentiment.POSITIVE: 100.0,
    Feedback.Sentiment.NEUTRAL: 50.0,
    Feedback.Sentiment.NEGATIVE: 0.0,
}
# Metric definitions that feedback feeds; created on first use.
FEEDBACK_METRICS = {
    "nps": {"name": "NPS", "unit": "0–10", "description": "Net Promoter Score answers (0–10)."},
    "csat": {"name": "CSAT", "unit": "1–5", "description": "Customer satisfaction answers (1–5)."},
    "sentiment": {
        "name": "Sentiment",
        "unit": "0–100",
        "description": "Sentiment of logged feedback: positive 100, neutral 50, negative 0.",
    },
}
SCORE_RANGES = {Feedback.Kind.NPS: (0, 10), Feedback.Kind.CSAT: (1, 5)}
FUTURE_TOLERANCE = dt.timedelta(minutes=5)


def _feedback_errors(
    *, kind: str, score: Any, sentiment: str, occurred_at: dt.datetime, now: dt.datetime
) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    if kind not in Feedback.Kind.values:
        errors.append(
            {
                "field": "kind",
                "reason": f"unknown kind {kind!r}; use one of {', '.join(Feedback.Kind.values)}",
            }
        )
    if kind in SCORE_RANGES:
        low, high = SCORE_RANGES[Feedback.Kind(kind)]
        if score is None:
            errors.append(
                {
                    "field": "score",
                    "reason": f"an {kind.upper()} answer needs a score ({low}–{high})",
                }
            )
        elif isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
            errors.append(
                {
                    "field": "score",
                    "reason": f"{kind.upper()} scores are whole numbers from {low} to {high}; got {score!r}",
                }
            )
    elif score is not None and kind in Feedback.Kind.values:
        errors.append({"field": "score", "reason": "only NPS and CSAT answers have a score"})
    if sentiment and sentiment not in Feedback.Sentiment.values:
        errors.append(
            {"field": "sentiment", "reason": f"use one of {', '.join(Feedback.Sentiment.values)}"}
        )
    if timezone.is_naive(occurred_at):
        errors.append({"field": "occurred_at", "reason": "needs a time zone"})
    elif occurred_at > now + FUTURE_TOLERANCE:
        errors.append({"field": "occurred_at", "reason": "is in the future"})
    return errors


def _feedback_summary(feedback: Feedback, author: User | None) -> str:
    who = f" by {author.display_name}" if author else ""
    if feedback.kind in SCORE_RANGES:
        head = f"{feedback.get_kind_display()}: {feedback.score}"
    else:
        head = f"{feedback.get_kind_display()} logged"
    text = f" — {feedback.text[:120]}" if feedback.text else ""
    return f"{head}{who}{text}"[:300]


@transaction.atomic
def log_feedback(
    *,
    user: User | None,
    account: Account,
    kind: str,
    score: int | None = None,
    sentiment: str = "",
    text: str = "",
    occurred_at: dt.datetime | None = None,
) -> Feedback:
    """Record feedback on an account: the Feedback row, a timeline row, and — for NPS, CSAT
    and a sentiment — metric values (``nps``, ``csat``, ``sentiment``) that the score uses.

    The caller has already fetched ``account`` through the user's scope."""
    from scoring.models import MetricDefinition
    from scoring.services import MetricValueIn, record_metric_values

    now = timezone.now()
    occurred_at = occurred_at or now
    errors = _feedback_errors(
        kind=kind, score=score, sentiment=sentiment, occurred_at=occurred_at, now=now
    )
    if errors:
        raise ValidationFailed("The feedback is invalid; see details.", errors=errors)

    feedback = Feedback.objects.create(
        account=account,
        author=user,
        kind=kind,
        score=score,
        sentiment=sentiment,
        text=text,
        occurred_at=occurred_at,
    )
    Activity.objects.create(
        account=account,
        kind=Activity.Kind.FEEDBACK,
        actor=user,
        occurred_at=occurred_at,
        summary=_feedback_summary(feedback, user),
        details={"kind": kind, "score": score, "sentiment": sentiment},
        feedback=feedback,
    )

    readings: dict[str, float] = {}
    if kind in SCORE_RANGES and score is not None:
        readings[kind] = float(score)
    if sentiment:
        readings["sentiment"] = SENTIMENT_POINTS[Feedback.Sentiment(sentiment)]
    if readings:
        values = []
        for key, value in readings.items():
            metric, _ = MetricDefinition.objects.get_or_create(
                key=key, defaults=FEEDBACK_METRICS[key]
            )
            values.append(
                MetricValueIn(
                    account_id=account.pk, metric_id=metric.pk, value=value, observed_at=occurred_at
                )
            )
        record_metric_values(values=values, source="feedback")
    if (kind == Feedback.Kind.NPS and score is not None and score <= 6) or (
        sentiment == Feedback.Sentiment.NEGATIVE
    ):
        # Detractor / negative-feedback playbooks react within seconds instead of waiting
        # for the five-minute sweep (which still catches it if this message is lost).
        from playbooks.tasks import evaluate_feedback

        evaluate_feedback.delay_on_commit([feedback.pk])  # type: ignore[attr-defined]
    return feedback


# --- accounts --------------------------------------------------------------------------

ACCOUNT_FIELDS = ("name", "domain", "segment", "arr", "renewal_date", "lifecycle_stage")


def _check_owner(user: User, owner: User | None, *, account: Account | None) -> None:
    """Who may own an account ``user`` creates or edits: a CSM only themselves, a manager
    someone in their team, an admin anyone (or nobody)."""
    if owner is None:
        if not user.is_admin:
            raise PermissionDenied(
                "Only admins may leave an account without an owner; name an owner in your scope."
            )
        return
    if not selectors.visible_users(user).filter(pk=owner.pk).exists():
        raise ValidationFailed(
            "The owner is outside your scope.",
            errors=[
                {
                    "field": "owner",
                    "reason": f"{owner.username!r} is not someone you may assign accounts to",
                }
            ],
        )
    if (
        account is not None
        and account.owner_id != owner.pk
        and not selectors.can_manage_account(user, account)
    ):
        raise PermissionDenied("Only the team's manager or an admin may reassign an account.")


@transaction.atomic
def create_account(*, user: User, data: dict[str, Any]) -> Account:
    """Create an account from validated API data (``owner`` is a User or None)."""
    external_id = data["external_id"]
    if Account.objects.filter(external_id=external_id).exists():
        raise ValidationFailed(
            "An account with this external_id already exists.",
            errors=[
                {
                    "field": "external_id",
                    "reason": f"{external_id!r} is already taken; PATCH it instead",
                }
            ],
        )
    owner = data.get("owner", user if not user.is_admin else None)
    _check_owner(user, owner, account=None)
    account = Account.objects.create(
        external_id=external_id,
        owner=owner,
        owner_sort_name=owner_sort_name(owner),
        **{k: data[k] for k in ACCOUNT_FIELDS if k in data},
    )
    Activity.objects.create(
        account=account,
        kind=Activity.Kind.ACCOUNT,
        actor=user,
        occurred_at=timezone.now(),
        summary=f"Account created by {user.display_name}",
    )
    return account


@transaction.atomic
def update_account(*, user: User, account: Account, data: dict[str, Any]) -> Account:
    """Apply validated changes; an owner change writes its own timeline row."""
    now = timezone.now()
    changed: list[str] = []
    if "owner" in data and data["owner"] != account.owner:
        new_owner: User | None = data["owner"]
        _check_owner(user, new_owner, account=account)
        old_owner = account.owner
        account.owner = new_owner
        account.owner_sort_name = owner_sort_name(new_owner)
        changed += ["owner", "owner_sort_name"]
        Activity.objects.create(
            account=account,
            kind=Activity.Kind.OWNER_CHANGED,
            actor=user,
            occurred_at=now,
            summary=(
                f"Owner changed from {old_owner.display_name if old_owner else 'nobody'} "
                f"to {new_owner.display_name if new_owner else 'nobody'}"
            ),
        )
    for field in ACCOUNT_FIELDS:
        if field in data and getattr(account, field) != data[field]:
            setattr(account, field, data[field])
            changed.append(field)
    if changed:
        account.save(update_fields=[*changed, "updated_at"])
        fields = [f for f in changed if f not in ("owner", "owner_sort_name")]
        if fields:
            Activity.objects.create(
                account=account,
                kind=Activity.Kind.ACCOUNT,
                actor=user,
                occurred_at=now,
                summary=f"{', '.join(fields)} updated by {user.display_name}"[:300],
            )
    return account


def sync_owner_sort_names(*, user: User, deleting: bool = False) -> int:
    """After ``user`` was renamed (or before they are deleted, when their accounts become
    unowned): the portfolio's owner sort key on their accounts. One UPDATE; returns the
    number of accounts."""
    key = "" if deleting else owner_sort_name(user)
    return (
        Account.objects.filter(owner=user).exclude(owner_sort_name=key).update(owner_sort_name=key)
    )


def parse_decimal(raw: str) -> Decimal:
    try:
        value = Decimal(raw.replace(",", "").replace("$", "").strip())
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{raw!r} is not a finite number")
    return value


def lifecycle_values() -> list[str]:
    return list(LifecycleStage.values)
