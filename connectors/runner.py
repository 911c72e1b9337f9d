"""One sync run: read the vendor page by page from the connector's cursor, write each
record in a savepoint, commit each page together with the cursor it reached, keep counts
and errors on the ``SyncRun`` row.

Guarantees: a bad record is rolled back alone and listed (record id and reason) while the
run goes on; the cursor only ever moves to a page that committed, so a run that fails
halfway resumes there; records are upserted by the vendor's id (``ExternalLink``), and
values equal to what is stored count as skipped, so a second run over the same data
changes nothing. A rejected credential marks the connector failing with the vendor's
reason."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, models, transaction
from django.utils import timezone

from accounts.models import Account, User
from accounts.services.accounts import ACCOUNT_FIELDS, sync_account
from chs_site.errors import ApplicationError
from chs_site.secrets import decrypt
from connectors.kinds import ConnectorType, ReadContext, Record
from connectors.mapping import effective_mapping
from connectors.models import Connector, ExternalLink, SyncRun
from connectors.registry import connector_type
from scoring.contracts import MetricValueIn, check_metric_value
from scoring.models import MetricDefinition, MetricValue
from scoring.services.values import record_metric_values

log = logging.getLogger(__name__)


class RecordProblem(Exception):
    """This record cannot be written: ``str(exc)`` says which field and why."""


def start_run(*, run_id: int) -> SyncRun | None:
    """Take a queued run (a conditional update: of two workers given the same message,
    exactly one goes on); None when it was taken already or is gone."""
    now = timezone.now()
    taken = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.QUEUED).update(
        status=SyncRun.Status.RUNNING, started_at=now
    )
    if taken != 1:
        return None
    return SyncRun.objects.select_related("connector").get(pk=run_id)


def execute_sync(*, run_id: int) -> SyncRun | None:
    run = start_run(run_id=run_id)
    if run is None:
        return None
    connector = run.connector
    spec = connector_type(connector.kind)
    writer = _Writer(connector=connector, run=run, spec=spec)
    try:
        context = ReadContext(
            credential=decrypt(connector.credential_encrypted),
            api_base=connector.api_base,
            mapping=effective_mapping(spec, connector.mapping),
            cursor=connector.cursor,
            now=timezone.now(),
        )
        for page in spec.read(context):
            with transaction.atomic():
                for record in page.records:
                    writer.apply(record)
                connector.cursor = page.cursor
                connector.save(update_fields=["cursor", "updated_at"])
                if page.total is not None:
                    run.expected = page.total
                run.save(update_fields=_COUNTS)
    except ApplicationError as exc:
        _finish(run, failed=exc.message)
    except Exception:
        log.exception("sync run %s of connector %s failed", run.pk, connector.pk)
        _finish(run, failed="The sync stopped on an internal error; it is in the server log.")
        raise
    else:
        _finish(run)
    return run


_COUNTS = ["seen", "expected", "created", "updated", "skipped", "failed", "errors"]


def _finish(run: SyncRun, *, failed: str = "") -> None:
    """Close the run; a failed run (a rejected credential, the vendor down, a key that no
    longer decrypts) marks the connector failing with its reason, a finished one clears it."""
    now = timezone.now()
    if failed:
        run.status = SyncRun.Status.FAILED
        run.message = failed
    elif run.failed:
        run.status = SyncRun.Status.PARTIAL
        run.message = f"{run.failed} record{'s' if run.failed != 1 else ''} could not be written."
    else:
        run.status = SyncRun.Status.SUCCEEDED
    run.finished_at = now
    run.save(update_fields=[*_COUNTS, "status", "message", "finished_at"])
    connector = run.connector
    if failed:
        connector.health = Connector.Health.FAILING
        connector.last_error = failed
    else:
        connector.health = Connector.Health.OK
        connector.last_error = ""
    connector.save(update_fields=["health", "last_error", "updated_at"])


class _Writer:
    """Applies records to CHS for one run, counting as it goes."""

    def __init__(self, *, connector: Connector, run: SyncRun, spec: ConnectorType) -> None:
        self.connector = connector
        self.run = run
        self.spec = spec
        self.metric_ids = dict(MetricDefinition.objects.values_list("key", "pk"))

    def apply(self, record: Record) -> None:
        self.run.seen += 1
        if record.skip:
            self.run.skipped += 1
            return
        try:
            with transaction.atomic():  # a savepoint: a bad record leaves nothing behind
                outcome = self._write(record)
        except (RecordProblem, ApplicationError, ValidationError, IntegrityError, DataError) as exc:
            self._error(record, _reason(exc))
            return
        if outcome == "created":
            self.run.created += 1
        elif outcome == "updated":
            self.run.updated += 1
        else:
            self.run.skipped += 1

    def _error(self, record: Record, reason: str) -> None:
        self.run.failed += 1
        if len(self.run.errors) < SyncRun.ERRORS_KEPT:
            self.run.errors = [*self.run.errors, {"record": record.vendor_id, "reason": reason}]

    def _write(self, record: Record) -> str:
        if record.problem:
            raise RecordProblem(record.problem)
        fields = _clean_account_fields(record.account)
        metrics = self._metric_values(record)
        link = (
            ExternalLink.objects.select_related("account")
            .filter(connector=self.connector, vendor_id=record.vendor_id)
            .first()
        )
        own_id = f"{self.spec.kind}-{record.vendor_id}"  # the id of an account it creates
        account = link.account if link else _match({"own_id": own_id, **record.match})
        if account is None and not self.spec.creates_accounts:
            return "skipped"
        account, changed = sync_account(
            account=account,
            external_id=own_id,
            data=fields,
            source=self.spec.label,
        )
        new_values = self._changed_values(account.pk, metrics, record.observed_at)
        if new_values:
            record_metric_values(values=new_values, source=self.spec.kind)
        if link is None:
            ExternalLink.objects.create(
                connector=self.connector,
                vendor_id=record.vendor_id,
                account=account,
                synced_at=timezone.now(),
            )
        elif changed or new_values:
            ExternalLink.objects.filter(pk=link.pk).update(synced_at=timezone.now())
        if changed == ["created"]:
            return "created"
        return "updated" if changed or new_values or link is None else "skipped"

    def _metric_values(self, record: Record) -> dict[int, float]:
        out: dict[int, float] = {}
        for key, value in record.metrics.items():
            metric_id = self.metric_ids.get(key)
            if metric_id is None:
                raise RecordProblem(f"metric {key!r} is not defined; save the connector again")
            try:
                out[metric_id] = check_metric_value(float(value))
            except (TypeError, ValueError) as exc:
                raise RecordProblem(f"metric {key}: {exc}") from exc
        return out

    def _changed_values(
        self, account_id: int, metrics: Mapping[int, float], at: dt.datetime
    ) -> list[MetricValueIn]:
        if not metrics:
            return []
        stored = dict(
            MetricValue.objects.filter(
                account_id=account_id, metric_id__in=list(metrics), observed_at=at
            ).values_list("metric_id", "value")
        )
        return [
            MetricValueIn(account_id=account_id, metric_id=m, value=v, observed_at=at)
            for m, v in metrics.items()
            if stored.get(m) != v
        ]


def _reason(exc: Exception) -> str:
    if isinstance(exc, ApplicationError):
        return exc.message
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    if isinstance(exc, IntegrityError | DataError):
        return f"the database refused it: {str(exc)[:300]}"
    return str(exc)


def _clean_account_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The account fields of a record, converted and checked by the model's own fields
    (lengths, choices, decimal places); ``owner_email`` becomes ``owner`` when a CHS user
    has that address. A bad value names its field."""
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name == "owner_email":
            owner = (
                User.objects.filter(email__iexact=value, is_active=True).first() if value else None
            )
            if owner is not None:
                cleaned["owner"] = owner
            continue
        if name not in ACCOUNT_FIELDS:
            raise RecordProblem(f"{name} is not an account field")
        field = Account._meta.get_field(name)
        assert isinstance(field, models.Field)  # ACCOUNT_FIELDS are concrete columns
        try:
            cleaned[name] = field.clean(value, None)
        except ValidationError as exc:
            raise RecordProblem(f"{name} {str(value)[:60]!r}: {'; '.join(exc.messages)}") from exc
    return cleaned


def _match(match: Mapping[str, str]) -> Account | None:
    """An existing account for a record without a link: by the external id the record
    names, by the id the connector gives accounts it creates (a connector deleted and added
    again finds its accounts), then by domain."""
    for key in ("external_id", "own_id"):
        external_id = match.get(key)
        account = Account.objects.filter(external_id=external_id).first() if external_id else None
        if account is not None:
            return account
    domain = (match.get("domain") or "").strip().lower()
    if domain:
        return Account.objects.filter(domain__iexact=domain).order_by("pk").first()
    return None
