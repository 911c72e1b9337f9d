"""Accounts the recompute could not score, set aside so that they block nobody else.

``recompute.recompute_isolating`` runs a batch in a savepoint; when it fails for a reason that is not
transient (a value the window sums cannot hold, a bug met by one account's data), the batch
is split in halves until the failing account stands alone. That account is quarantined with
the error: every recompute skips it until an admin retries it from the quarantine page
(``release``), which marks it dirty so the next recompute tries again."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from accounts.services.audit import Action, ObjectType, record_audit
from scoring.models import QuarantinedAccount
from scoring.services.dirty import mark_accounts_dirty

log = logging.getLogger(__name__)


def describe(exc: BaseException) -> str:
    """The error as the admin page shows it: its type and first line, bounded."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"[:500]


def quarantine_account(account_id: int, exc: BaseException) -> None:
    reason = describe(exc)
    log.error("account %s quarantined: the recompute failed on it (%s)", account_id, reason)
    QuarantinedAccount.objects.update_or_create(
        account_id=account_id,
        defaults={"reason": reason, "quarantined_at": timezone.now()},
    )


@transaction.atomic
def release(account_ids: Iterable[int]) -> int:
    """Let quarantined accounts be scored again: the next recompute tries them."""
    ids = sorted(set(account_ids))
    rows = QuarantinedAccount.objects.filter(account_id__in=ids).select_related("account")
    for row in rows:
        record_audit(
            action=Action.RELEASED,
            object_type=ObjectType.QUARANTINE,
            object_id=row.account.external_id,
            label=row.account.name,
            changes={"quarantined": [row.reason, None]},
        )
    deleted, _ = rows.delete()
    mark_accounts_dirty(account_ids=ids, reason="quarantine retry")
    return deleted
