"""Score changes flow back to the CRM: the outbox consumer "crm" and the push.

``queue_write_backs`` claims score events as consumer ``CONSUMER`` and, in the same
transaction, turns them into ``PendingWriteBack`` rows (the newest score per linked
account and write-back connector) before marking them processed: a crash loses nothing
and an event is queued once. ``push_pending`` then sends a connector's pending scores
through its kind's ``push`` (HubSpot: batch updates of 100), outside any claim, so a CRM
that is slow or down never holds the outbox; each accepted batch is deleted at once, the
rest waits for the next run. Each push is a ``SyncRun`` of kind write-back."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from chs_site.errors import ApplicationError
from chs_site.secrets import decrypt
from connectors.kinds import PushContext, ScorePush
from connectors.mapping import effective_mapping
from connectors.models import Connector, ExternalLink, PendingWriteBack, SyncRun
from connectors.registry import KINDS
from scoring.contracts import ScoreChange
from scoring.services.events import claim_score_events, mark_processed

log = logging.getLogger(__name__)

CONSUMER = "crm"
PUSH_LIMIT = 10_000
MAX_ERRORS = 200  # records listed on a run; the count says how many there were  # scores per run; more wait for the next (the beat runs every 20 s)


def write_back_connectors() -> list[Connector]:
    kinds = [k for k, spec in KINDS.items() if spec.push is not None]
    return list(Connector.objects.filter(enabled=True, write_back=True, kind__in=kinds))


@transaction.atomic
def queue_write_backs(*, limit: int = 500) -> int:
    """Claim a batch of score events for the CRMs; returns how many events were taken."""
    claimed = claim_score_events(consumer=CONSUMER, limit=limit)
    if not claimed:
        return 0
    newest: dict[int, ScoreChange] = {}
    for change in claimed.changes:
        if (
            change.account_id not in newest
            or change.computed_at >= newest[change.account_id].computed_at
        ):
            newest[change.account_id] = change
    for connector in write_back_connectors() if newest else []:
        linked = set(
            ExternalLink.objects.filter(
                connector=connector, account_id__in=list(newest)
            ).values_list("account_id", flat=True)
        )
        if not linked:
            continue
        PendingWriteBack.objects.bulk_create(
            [
                PendingWriteBack(
                    connector=connector,
                    account_id=account_id,
                    score=newest[account_id].score,
                    band=newest[account_id].band,
                    changed_at=newest[account_id].computed_at,
                )
                for account_id in sorted(linked)
            ],
            update_conflicts=True,
            unique_fields=["connector", "account"],
            update_fields=["score", "band", "changed_at"],
        )
    mark_processed(consumer=CONSUMER, ids=claimed.ids)
    return len(claimed.ids)


def push_pending(*, connector: Connector) -> SyncRun | None:
    """Send ``connector``'s pending scores; None when there were none (or a push of this
    connector is running)."""
    spec = KINDS[connector.kind]
    if spec.push is None:
        return None
    pending = list(PendingWriteBack.objects.filter(connector=connector).order_by("id")[:PUSH_LIMIT])
    if not pending:
        return None
    links: dict[int, list[str]] = {}
    for account_id, vendor_id in ExternalLink.objects.filter(
        connector=connector, account_id__in=[p.account_id for p in pending]
    ).values_list("account_id", "vendor_id"):
        links.setdefault(account_id, []).append(vendor_id)
    items = [
        ScorePush(vendor_id=vendor_id, score=p.score, band=p.band, changed_at=p.changed_at)
        for p in pending
        for vendor_id in sorted(links.get(p.account_id, []))
    ]
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                connector=connector,
                kind=SyncRun.Kind.WRITE_BACK,
                status=SyncRun.Status.RUNNING,
                started_at=timezone.now(),
                expected=len(items),
            )
    except IntegrityError:  # another worker is pushing this connector's scores
        return None
    by_vendor = {vendor_id: p for p in pending for vendor_id in links.get(p.account_id, [])}

    def sent(chunk: Sequence[ScorePush]) -> None:
        done = [by_vendor[item.vendor_id] for item in chunk]
        # Only rows not replaced by a newer score meanwhile: that one still has to go.
        condition = Q()
        for row in done:
            condition |= Q(pk=row.pk, changed_at=row.changed_at)
        PendingWriteBack.objects.filter(condition).delete()
        run.seen += len(chunk)
        run.updated += len(chunk)
        run.save(update_fields=["seen", "updated"])

    def refused(chunk: Sequence[ScorePush], reason: str) -> None:
        rows = [by_vendor[item.vendor_id] for item in chunk]
        PendingWriteBack.objects.filter(pk__in=[row.pk for row in rows]).delete()
        run.seen += len(chunk)
        run.failed += len(chunk)
        run.errors = [
            *run.errors,
            *({"record": item.vendor_id, "reason": reason[:300]} for item in chunk),
        ][:MAX_ERRORS]
        run.save(update_fields=["seen", "failed", "errors"])

    state = dict(connector.state)
    context = PushContext(
        credential=decrypt(connector.credential_encrypted),
        api_base=connector.api_base,
        state=state,
        sent=sent,
        mapping=effective_mapping(spec, connector.mapping),
        refused=refused,
    )
    orphans = [p for p in pending if p.account_id not in links]
    if orphans:  # the account's link is gone (the connector's links were re-made): drop them
        PendingWriteBack.objects.filter(pk__in=[p.pk for p in orphans]).delete()
    try:
        spec.push(context, items)
    except ApplicationError as exc:
        _finish(run, connector, state, failed=exc.message)
    except Exception:
        log.exception("write-back of connector %s failed", connector.pk)
        _finish(run, connector, state, failed="Stopped on an internal error; see the server log.")
        raise
    else:
        _finish(run, connector, state)
    return run


def write_back_scores() -> int:
    """The consumer's task body: queue what the outbox holds, then push every connector's
    pending scores. Returns how many scores were sent."""
    taken = queue_write_backs()
    while taken:
        taken = queue_write_backs()
    sent = 0
    for connector in write_back_connectors():
        run = push_pending(connector=connector)
        sent += run.updated if run is not None else 0
    return sent


def _finish(run: SyncRun, connector: Connector, state: dict, *, failed: str = "") -> None:
    run.status = (
        SyncRun.Status.FAILED
        if failed
        else SyncRun.Status.PARTIAL
        if run.failed
        else SyncRun.Status.SUCCEEDED
    )
    run.message = failed
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "message", "finished_at"])
    connector.state = state
    fields = ["state", "updated_at"]
    if failed:
        connector.health = Connector.Health.FAILING
        connector.last_error = f"Write-back: {failed}"
        fields += ["health", "last_error"]
    connector.save(update_fields=fields)
