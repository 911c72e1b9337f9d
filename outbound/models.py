"""Endpoints (who receives what), events (what was sent) and deliveries (to whom, when,
with what result).

A ``Delivery`` is one event for one endpoint: a state machine

    pending --claim--> sending --2xx--> succeeded
       ^                  |--error, within a day of queueing--> pending (next_attempt_at)
       |                  |--error, past the day-------------> failed
       +--replay----------+   (a lease past its end: due again, the worker died)

The claim is a conditional UPDATE (``services.delivery.claim``): only one worker wins a
row, so a delivery is never sent twice at once."""

from __future__ import annotations

from django.db import models
from django.urls import reverse

from accounts.models import User
from chs_site.secrets import decrypt, encrypt

EXCERPT_MAX = 500


class Endpoint(models.Model):
    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        REST_HOOK = "rest_hook", "REST hook (Zapier)"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.WEBHOOK)
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, help_text="The event types it receives.")
    # Kept to sign every delivery (HMAC needs the key itself), so encrypted rather than
    # hashed (chs_site.secrets); shown once when created and never again, masked in the
    # audit log. Read and set through ``secret``.
    secret_encrypted = models.TextField()
    enabled = models.BooleanField(default=True)
    owner = models.ForeignKey(
        User,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Whose scope bounds what it receives (an admin's: every account).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.description or self.url[:100]

    def get_absolute_url(self) -> str:
        return reverse("outbound:endpoint", args=[self.pk])

    @property
    def secret(self) -> str:
        return decrypt(self.secret_encrypted)

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_encrypted = encrypt(value)


class Event(models.Model):
    """One payload as it was sent (and is sent again on a retry or replay)."""

    event_id = models.CharField(max_length=64, unique=True, help_text="The webhook-id header.")
    type = models.CharField(max_length=32)
    payload = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["type", "-id"], name="outbound_event_type")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        SENDING = "sending", "Sending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(help_text="Start of the day of retries (reset by a replay).")
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.CharField(max_length=EXCERPT_MAX, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="delivery_once_per_endpoint")
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["endpoint", "-id"], name="delivery_endpoint_recent"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} to endpoint {self.endpoint_id} ({self.status})"
