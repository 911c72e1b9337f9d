"""Surveys, their campaigns, each recipient's send/open/answer, and opt-outs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from accounts.models import Account, Contact, Feedback, HealthBand, LifecycleStage


class SurveyKind(models.TextChoices):
    # The values are feedback kinds: an answer becomes Feedback(kind=survey.kind).
    NPS = Feedback.Kind.NPS.value, "NPS (0–10)"
    CSAT = Feedback.Kind.CSAT.value, "CSAT (1–5)"


class Survey(models.Model):
    name = models.CharField(max_length=150, unique=True, help_text="Shown to staff only.")
    kind = models.CharField(max_length=8, choices=SurveyKind.choices)
    question = models.CharField(
        max_length=300,
        help_text="E.g. “How likely are you to recommend us to a friend or colleague?”",
    )
    follow_up = models.CharField(
        max_length=300, help_text="Asked above the comment box, e.g. “What is the main reason?”"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("surveys:survey_send", args=[self.pk])


class Campaign(models.Model):
    """One send of a survey to the contacts its filters matched (or to the accounts a
    playbook fired for). The filters are kept as they were used, for the record."""

    class Status(models.TextChoices):
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"

    class Source(models.TextChoices):
        MANUAL = "manual", "Sent by an admin"
        PLAYBOOK = "playbook", "Sent by a playbook"

    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="campaigns")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.SENDING)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.MANUAL)
    source_label = models.CharField(max_length=200, blank=True, help_text="The playbook's name.")
    # Filters (empty = any).
    segments = models.JSONField(default=list, blank=True)
    bands = models.JSONField(default=list, blank=True)
    lifecycle_stages = models.JSONField(default=list, blank=True)
    renewal_within_days = models.PositiveIntegerField(null=True, blank=True)
    contact_title = models.CharField(max_length=100, blank=True)
    primary_only = models.BooleanField(default=False)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["status"],
                name="campaign_sending",
                condition=Q(status="sending"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.survey.name} · {self.created_at:%Y-%m-%d %H:%M}"

    def get_absolute_url(self) -> str:
        return reverse("surveys:campaign_detail", args=[self.pk])

    def filters_summary(self) -> list[str]:
        parts = []
        if self.segments:
            parts.append(f"Segment is {' or '.join(self.segments)}")
        if self.bands:
            labels = dict(HealthBand.choices)
            parts.append(f"Band is {' or '.join(labels.get(b, b) for b in self.bands)}")
        if self.lifecycle_stages:
            labels = dict(LifecycleStage.choices)
            stages = " or ".join(labels.get(s, s) for s in self.lifecycle_stages)
            parts.append(f"Lifecycle stage is {stages}")
        if self.renewal_within_days is not None:
            parts.append(f"Renews within {self.renewal_within_days} days")
        if self.contact_title:
            parts.append(f"Contact's role contains “{self.contact_title}”")
        if self.primary_only:
            parts.append("Primary contacts only")
        return parts


class Recipient(models.Model):
    """One contact in one campaign: what was sent to whom, when, and what came back."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (unsubscribed)"

    # Both indexed by the indexes below, not by Django's default ones.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="recipients", db_index=False
    )
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)
    contact = models.ForeignKey(Contact, null=True, on_delete=models.SET_NULL, related_name="+")
    # Lower-cased: one person is one address, whichever account lists them.
    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    error = models.CharField(max_length=300, blank=True)
    queued_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    score = models.SmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    feedback = models.ForeignKey(
        Feedback, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "email"], name="recipient_once_per_campaign"
            )
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="recipient_campaign_status"),
            # The throttle: was this address surveyed recently?
            models.Index(fields=["email", "-queued_at"], name="recipient_email_queued"),
            models.Index(fields=["account"], name="recipient_account"),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.campaign_id})"


class OptOut(models.Model):
    """An address that asked for no more surveys: never queued again."""

    email = models.EmailField(unique=True, help_text="Lower-cased.")
    at = models.DateTimeField()
    recipient = models.ForeignKey(
        Recipient,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The survey email whose unsubscribe link was used.",
    )

    class Meta:
        verbose_name = "opt-out"

    def __str__(self) -> str:
        return self.email
