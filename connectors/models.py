"""Connectors: one row per configured source (its kind, encrypted credentials, mapping,
schedule and cursor), a run row per sync or write-back, the vendor id → account links
that make syncs upserts, and the scores waiting to be written back to a CRM."""

from __future__ import annotations

from django.db import models

from accounts.models import Account


class ConnectorKind(models.TextChoices):
    HUBSPOT = "hubspot", "HubSpot"
    SALESFORCE = "salesforce", "Salesforce"
    STRIPE = "stripe", "Stripe"
    ZENDESK = "zendesk", "Zendesk"


class Connector(models.Model):
    class Health(models.TextChoices):
        NEW = "new", "Never run"
        OK = "ok", "OK"
        FAILING = "failing", "Failing"

    kind = models.CharField(max_length=20, choices=ConnectorKind.choices)
    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=False)
    # Fernet token of the credential (chs_site.secrets); never rendered or logged.
    credential_encrypted = models.TextField(blank=True)
    credential_last4 = models.CharField(max_length=4, blank=True)
    mapping = models.JSONField(default=dict, blank=True)
    interval_minutes = models.PositiveIntegerField(default=60)
    write_back = models.BooleanField(
        default=False, help_text="Write each score change back to the CRM (HubSpot only)."
    )
    # The vendor's API address; blank means the vendor's public one. Not on the page (a
    # changed address would send the credential elsewhere): for a proxy or a local test
    # server, set from a Django shell or by code.
    api_base = models.URLField(blank=True)
    # Where the next incremental sync starts (vendor-specific text: a timestamp, an id).
    cursor = models.CharField(max_length=200, blank=True)
    # Small facts a kind keeps between runs (HubSpot: the write-back properties exist).
    state = models.JSONField(default=dict, blank=True)
    health = models.CharField(max_length=10, choices=Health.choices, default=Health.NEW)
    last_error = models.TextField(blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="connector_due")]

    def __str__(self) -> str:
        return self.name

    @property
    def credential_hint(self) -> str:
        return f"•••• {self.credential_last4}" if self.credential_encrypted else ""


class SyncRun(models.Model):
    class Kind(models.TextChoices):
        SYNC = "sync", "Sync"
        WRITE_BACK = "write_back", "Write-back"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Finished with errors"
        FAILED = "failed", "Failed"

    FINISHED = (Status.SUCCEEDED, Status.PARTIAL, Status.FAILED)

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.SYNC)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Records seen so far and, when the vendor says, how many there are in all (progress).
    seen = models.PositiveIntegerField(default=0)
    expected = models.PositiveIntegerField(null=True, blank=True)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # [{"record": vendor id, "reason": text}], the first ERRORS_KEPT of them.
    errors = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)

    ERRORS_KEPT = 100

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["connector", "-created_at"], name="syncrun_recent")]
        constraints = [
            # One sync queued or running per connector: "Sync now" twice is one run.
            models.UniqueConstraint(
                fields=["connector", "kind"],
                condition=models.Q(status__in=["queued", "running"]),
                name="syncrun_one_active",
            )
        ]

    def __str__(self) -> str:
        return f"{self.connector} {self.get_kind_display()} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def percent(self) -> int:
        if self.is_finished:
            return 100
        if not self.expected:
            return 0
        return min(99, int(100 * self.seen / self.expected))


class ExternalLink(models.Model):
    """A vendor's record (a HubSpot company, a Stripe customer) is this account."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="links")
    vendor_id = models.CharField(max_length=100)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    synced_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "vendor_id"], name="link_vendor_id"),
        ]
        indexes = [models.Index(fields=["connector", "account"], name="link_account")]

    def __str__(self) -> str:
        return f"{self.connector} {self.vendor_id} → {self.account_id}"


class PendingWriteBack(models.Model):
    """The newest score of an account, waiting to be written to a CRM. One row per
    (connector, account): a later change replaces an unsent one, so a CRM that was down
    gets each account's latest score once, not every step in between."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField(null=True, blank=True)
    band = models.CharField(max_length=8, blank=True)
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "account"], name="writeback_account"),
        ]

    def __str__(self) -> str:
        return f"{self.connector} ← {self.account_id}: {self.score} {self.band}"
