"""People (users, roles, teams) and the customer accounts they look after."""

from __future__ import annotations

import hashlib
import re

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import NullIf
from django.urls import reverse
from django.utils.deconstruct import deconstructible

from accounts.imports.registry import kind_spec
from chs_site.identifiers import EXTERNAL_ID_MAX_LENGTH, EXTERNAL_ID_PATTERN, EXTERNAL_ID_RULE
from chs_site.parsing import number_locale_label


class Role(models.TextChoices):
    CSM = "csm", "CSM"
    MANAGER = "manager", "Manager"
    ADMIN = "admin", "Admin"


class HealthBand(models.TextChoices):
    RED = "red", "Red"
    YELLOW = "yellow", "Yellow"
    GREEN = "green", "Green"


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    manager = models.ForeignKey(
        "accounts.User",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_teams",
    )
    slack_webhook_url = models.URLField(
        blank=True, help_text="Optional Slack-compatible incoming-webhook URL for notifications."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    class EmailMode(models.TextChoices):
        IMMEDIATE = "immediate", "Immediately"
        DIGEST = "digest", "Daily digest"
        OFF = "off", "Never"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CSM)
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
        help_text="The team this CSM works in.",
    )
    email_notifications = models.CharField(
        max_length=16, choices=EmailMode.choices, default=EmailMode.IMMEDIATE
    )

    class Meta:
        ordering = ["username"]

    @property
    def is_admin(self) -> bool:
        return self.is_superuser or self.role == Role.ADMIN

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER and not self.is_admin

    @property
    def is_csm(self) -> bool:
        return self.role == Role.CSM and not self.is_superuser

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class LifecycleStage(models.TextChoices):
    ONBOARDING = "onboarding", "Onboarding"
    ADOPTION = "adoption", "Adoption"
    EXPANSION = "expansion", "Expansion"
    RENEWAL = "renewal", "Renewal"
    CHURNED = "churned", "Churned"


SEGMENT_SUGGESTIONS = ("SMB", "Mid-Market", "Enterprise")


def band_rank() -> models.Case:
    """Red first, then yellow, green, no data: the portfolio's "band" sort. One definition
    for the query and its index, so PostgreSQL can match them."""
    return models.Case(
        models.When(health_band="red", then=models.Value(0)),
        models.When(health_band="yellow", then=models.Value(1)),
        models.When(health_band="green", then=models.Value(2)),
        default=models.Value(3),
        output_field=models.IntegerField(),
    )


def owner_sort_name(owner: User | None) -> str:
    """How the portfolio's "owner" column sorts: by the name it shows (``display_name``, the
    full name or else the username), case-insensitively. Stored on ``Account`` so the sort
    reads an index instead of joining users; blank for an unowned account (sorted last)."""
    return owner.display_name.casefold()[:150] if owner is not None else ""


def is_valid_external_id(value: str) -> bool:
    return re.fullmatch(EXTERNAL_ID_PATTERN[1:-1], value) is not None


@deconstructible
class ExternalIdValidator(RegexValidator):
    def __init__(self) -> None:
        super().__init__(
            EXTERNAL_ID_PATTERN, message=f"must be {EXTERNAL_ID_RULE}", code="invalid_external_id"
        )

    def __call__(self, value: object) -> None:
        if not is_valid_external_id(str(value)):
            raise ValidationError(self.message, code=self.code, params={"value": value})


validate_external_id = ExternalIdValidator()


class Account(models.Model):
    """A customer account. Its current health is denormalised here by the scoring
    services so the portfolio can filter and sort 100 000 rows from one table."""

    external_id = models.CharField(
        max_length=EXTERNAL_ID_MAX_LENGTH,
        unique=True,
        validators=[validate_external_id],
        help_text="The account's id in the customer's CRM: " + EXTERNAL_ID_RULE + ".",
    )
    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=200, blank=True)
    segment = models.CharField(max_length=50, blank=True)
    owner = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_accounts",
    )
    arr = models.DecimalField("ARR", max_digits=14, decimal_places=2, default=0)
    renewal_date = models.DateField(null=True, blank=True)
    lifecycle_stage = models.CharField(
        max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.ADOPTION
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Current health, written only by scoring.services (effective = override if active).
    health_score = models.FloatField(null=True, blank=True)
    health_band = models.CharField(max_length=8, choices=HealthBand.choices, blank=True)
    computed_score = models.FloatField(null=True, blank=True)
    computed_band = models.CharField(max_length=8, choices=HealthBand.choices, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    score_change_30d = models.FloatField(
        null=True, blank=True, help_text="Computed score now minus the score 30 days ago."
    )
    top_mover = models.CharField(
        max_length=200, blank=True, help_text="The measure that moved the score most, in words."
    )

    # Denormalised for the portfolio's sorts (a join or a count per account cannot be read
    # from an index). ``open_task_count`` is written only by playbooks.services, in the
    # transaction that opens or closes the task; ``owner_sort_name`` by every write of
    # ``owner`` and by user renames (accounts.services.sync_owner_sort_names).
    open_task_count = models.PositiveIntegerField(
        default=0, editable=False, help_text="Tasks on this account with status open."
    )
    owner_sort_name = models.CharField(
        max_length=150, blank=True, editable=False, help_text="owner_sort_name(owner)."
    )

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["owner", "name"]),
            # A plain index: Django's db_index=True would add a LIKE-pattern twin nobody uses,
            # and every recompute that rewrites an account's row updates every index.
            models.Index(fields=["segment"], name="account_segment"),
            # The stage filter's count for a whole book (an admin's 100 000 accounts) reads
            # this instead of the table (27 ms to 3 ms on the pages bench).
            models.Index(fields=["lifecycle_stage"], name="account_stage"),
            models.Index(fields=["health_score"]),
            models.Index(fields=["health_band", "health_score"]),
            models.Index(fields=["renewal_date"]),
            models.Index(fields=["arr"]),
            models.Index(fields=["score_change_30d"]),
            # The portfolio sorts by every column both ways with blanks last and the id as
            # tie-breaker; these let PostgreSQL read the first page from an index instead of
            # sorting the whole book (100 000 rows for an admin). Migration 0002 adds the
            # "DESC NULLS LAST" ones on PostgreSQL only (SQLite cannot declare them): on
            # health_score, score_change_30d and renewal_date, and on (health_band,
            # health_score DESC NULLS LAST, name, id) for a band filter sorted by score.
            models.Index(fields=["name", "id"], name="account_name_id"),
            models.Index(band_rank(), "health_score", "id", name="account_band_rank"),
            # "Moved most" sorts blanks last (NULLIF makes them NULL, last when ascending);
            # the descending index is PostgreSQL only (migration 0002).
            models.Index(
                NullIf("top_mover", models.Value("")), "name", "id", name="account_mover_name_id"
            ),
            # Open tasks both ways (NOT NULL, so DESC needs no NULLS LAST: portable).
            models.Index(fields=["open_task_count", "name", "id"], name="account_tasks_name_id"),
            models.Index(
                fields=["-open_task_count", "name", "id"], name="account_tasks_desc_name_id"
            ),
            # Owner: unowned (blank → NULL) last; the descending index is PostgreSQL only
            # (migration 0002).
            models.Index(
                NullIf("owner_sort_name", models.Value("")),
                "name",
                "id",
                name="account_owner_name_id",
            ),
            # A CSM's own book (owner = one person) sorted by trend or mover: the global
            # indexes above hold every book, and when the sort key goes with the owner (or
            # the whole book is blank) PostgreSQL reads past other books first. The
            # descending twins are PostgreSQL only (migration 0002).
            models.Index(
                fields=["owner", "score_change_30d", "name", "id"],
                name="account_owner_trend_name_id",
            ),
            models.Index(
                "owner",
                NullIf("top_mover", models.Value("")),
                "name",
                "id",
                name="account_owner_mover_name_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"

    def get_absolute_url(self) -> str:
        return reverse("accounts:account_detail", args=[self.external_id])


class AccountSearch(models.Model):
    """What the portfolio search matches: an account's name, external id and domain, one
    per line. Database triggers keep it (migration 0002), whatever writes the account (the
    ORM, a bulk insert, SQL). It lives apart from the account row because every recompute
    rewrites that row, and a rewritten row updates every index on its table: the search's
    trigram index cost about a quarter of that update while it sat on the account."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="search_document"
    )
    document = models.TextField()

    def __str__(self) -> str:
        return f"Search text of {self.account_id}"


class Contact(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    title = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    is_primary = models.BooleanField(default=False)
    is_champion = models.BooleanField(
        "champion", default=False, help_text="Speaks for the product inside the customer."
    )
    is_decision_maker = models.BooleanField(
        "decision-maker", default=False, help_text="Signs off the renewal or the purchase."
    )

    class Meta:
        ordering = ["-is_primary", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"], condition=Q(is_primary=True), name="one_primary_contact"
            )
        ]

    def __str__(self) -> str:
        return self.name


# NPS answers 0–6 are detractors (the NPS definition); playbooks react to them.
NPS_DETRACTOR_MAX = 6


class Feedback(models.Model):
    """Something a person said or did: a call, a note, an NPS or CSAT answer."""

    class Kind(models.TextChoices):
        NOTE = "note", "Note"
        CALL = "call", "Call"
        MEETING = "meeting", "Meeting"
        EMAIL = "email", "Email"
        NPS = "nps", "NPS answer"
        CSAT = "csat", "CSAT answer"

    class Survey(models.TextChoices):
        """The scale of ``score`` when a call or a meeting carries a survey answer."""

        NPS = "nps", "NPS (0–10)"
        CSAT = "csat", "CSAT (1–5)"

    class Sentiment(models.TextChoices):
        POSITIVE = "positive", "Positive"
        NEUTRAL = "neutral", "Neutral"
        NEGATIVE = "negative", "Negative"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="feedback")
    author = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    score = models.SmallIntegerField(null=True, blank=True, help_text="NPS 0–10 or CSAT 1–5.")
    survey = models.CharField(
        max_length=8,
        choices=Survey.choices,
        blank=True,
        help_text="A call or meeting that carries an NPS or CSAT answer: the answer's scale.",
    )
    sentiment = models.CharField(max_length=16, choices=Sentiment.choices, blank=True)
    text = models.TextField(blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["account", "-occurred_at"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="nps") | Q(score__gte=0, score__lte=10),
                name="feedback_nps_score_0_10",
            ),
            models.CheckConstraint(
                condition=~Q(kind="csat") | Q(score__gte=1, score__lte=5),
                name="feedback_csat_score_1_5",
            ),
            models.CheckConstraint(
                condition=Q(survey="") | Q(kind__in=["call", "meeting"]),
                name="feedback_survey_on_calls_and_meetings",
            ),
            models.CheckConstraint(
                condition=~Q(survey="nps") | Q(score__gte=0, score__lte=10),
                name="feedback_survey_nps_score_0_10",
            ),
            models.CheckConstraint(
                condition=~Q(survey="csat") | Q(score__gte=1, score__lte=5),
                name="feedback_survey_csat_score_1_5",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.account_id}"

    @property
    def answer_kind(self) -> str:
        """ "nps" or "csat" when this feedback carries a survey answer (an answer on its own,
        or a call or meeting with one), else ""."""
        if self.kind in (self.Kind.NPS, self.Kind.CSAT):
            return str(self.kind)
        return str(self.survey)

    @property
    def is_detractor(self) -> bool:
        """An NPS answer of 0–6 (on its own or given in a call), or feedback logged as
        negative."""
        nps_detractor = (
            self.answer_kind == self.Kind.NPS
            and self.score is not None
            and self.score <= NPS_DETRACTOR_MAX
        )
        return nps_detractor or self.sentiment == self.Sentiment.NEGATIVE


def detractor_feedback() -> Q:
    """``Feedback.is_detractor`` as a filter."""
    nps_low = Q(score__lte=NPS_DETRACTOR_MAX)
    return (
        Q(kind=Feedback.Kind.NPS) & nps_low
        | Q(survey=Feedback.Survey.NPS) & nps_low
        | Q(sentiment=Feedback.Sentiment.NEGATIVE)
    )


class Activity(models.Model):
    """One line of an account's timeline. Services write it in the same transaction
    as the change it describes, so the timeline is one indexed query."""

    class Kind(models.TextChoices):
        FEEDBACK = "feedback", "Feedback"
        BAND_CHANGED = "band_changed", "Band changed"
        OVERRIDE = "override", "Score override"
        TASK_CREATED = "task_created", "Task created"
        TASK_UPDATED = "task_updated", "Task updated"
        TASK_COMPLETED = "task_completed", "Task completed"
        PLAYBOOK_FIRED = "playbook_fired", "Playbook fired"
        OUTCOME = "outcome", "Outcome"
        OWNER_CHANGED = "owner_changed", "Owner changed"
        PLAN = "plan", "Success plan"
        ACCOUNT = "account", "Account updated"
        ATTENTION_SNOOZED = "attention_snoozed", "Alert snoozed"
        CONTACT = "contact", "Contact"

    # Indexed by (account, -occurred_at) below.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="activities", db_index=False
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    # Actor and feedback are indexed only where set (below).
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    occurred_at = models.DateTimeField()
    summary = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    feedback = models.ForeignKey(
        Feedback,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["account", "-occurred_at"]),
            # For deleting a user or a feedback (SET_NULL, CASCADE): partial, so the rows
            # that have neither, such as the recompute's "band changed" lines (100 000 on
            # a first night), are not written into two indexes of NULLs.
            models.Index(
                fields=["actor"], name="activity_actor", condition=models.Q(actor__isnull=False)
            ),
            models.Index(
                fields=["feedback"],
                name="activity_feedback",
                condition=models.Q(feedback__isnull=False),
            ),
        ]
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return self.summary


class WorkerHeartbeat(models.Model):
    """Last time a Celery worker ran the heartbeat task (beat sends it every minute);
    /healthz shows it so an operator sees whether workers are consuming."""

    hostname = models.CharField(max_length=200, primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.seen_at}"


def hash_api_key(key: str) -> str:
    """What an API key is stored (and looked up) as: its SHA-256, never the key itself."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """A machine's key to the REST API. Only the SHA-256 of the key is stored; the key is
    shown once when created. A token acts with its user's role, narrowed by its scope."""

    class Scope(models.TextChoices):
        INGEST = "ingest", "Ingest (send data only)"
        READ = "read", "Read only"
        WRITE = "write", "Read and write"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, help_text="What the token is for.")
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.INGEST)
    prefix = models.CharField(
        max_length=16,
        db_index=True,
        help_text="The key's first characters, shown to tell keys apart.",
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user}, {self.scope})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ImportJob(models.Model):
    """One CSV import: the stored file, its column mapping, progress and result.

    PostgreSQL holds the job's state, so a page left and reopened (or a restarted worker)
    finds it where it was."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Waiting for the column mapping"
        QUEUED = "queued", "Queued"
        VALIDATING = "validating", "Validating"
        WRITING = "writing", "Writing"
        SUCCEEDED = "succeeded", "Imported"
        FAILED = "failed", "Nothing imported"

    FINISHED = (Status.SUCCEEDED, Status.FAILED)

    kind = models.CharField(max_length=16, help_text="A kind in accounts.imports.registry.")
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    header = models.JSONField(default=list, blank=True)
    mapping = models.JSONField(default=dict, blank=True)
    # Jobs from before locales were chosen were read the English way, hence the default.
    number_locale = models.CharField(
        max_length=16,
        default="en",
        help_text="The locale the file's numbers are read in (a Babel identifier: en, de, fr…).",
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UPLOADED)
    rows_total = models.PositiveIntegerField(default=0)
    rows_validated = models.PositiveIntegerField(default=0)
    rows_written = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(
        default=list, blank=True, help_text="The first bad rows (line, column, reason)."
    )
    errors_file = models.FileField(upload_to="imports/errors/%Y/%m/", blank=True)
    message = models.TextField(blank=True, help_text="Why the job stopped, in words.")
    result = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        User, null=True, on_delete=models.SET_NULL, related_name="import_jobs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_by", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind_label} import {self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("accounts:import_detail", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def kind_label(self) -> str:
        return kind_spec(self.kind).label

    @property
    def number_format_label(self) -> str:
        return number_locale_label(self.number_locale)


class ImportMapping(models.Model):
    """The column mapping last used for an import kind, offered again next time."""

    kind = models.CharField(max_length=16, unique=True)
    mapping = models.JSONField(default=dict)
    updated_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"mapping for {self.kind}"


class AuditEntry(models.Model):
    """One change to configuration or access: who (a user, an API key, or a command/task),
    when, what (object type, id, label, field changes) and from where. Append-only: the app
    writes entries through ``accounts.services.audit`` and never changes or deletes one."""

    class Source(models.TextChoices):
        WEB = "web", "Web"
        API = "api", "API"
        COMMAND = "command", "Command"
        TASK = "task", "Task"
        SYSTEM = "system", "System"

    class ObjectType(models.TextChoices):
        SCORECARD = "scorecard", "Scorecard"
        METRIC = "metric_definition", "Metric definition"
        PLAYBOOK = "playbook", "Playbook"
        USER = "user", "User"
        TEAM = "team", "Team"
        API_TOKEN = "api_token", "API key"
        OVERRIDE = "override", "Score override"
        ACCOUNT = "account", "Account"
        IMPORT = "import", "Import"
        EXPORT = "export", "Export"
        BACKFILL = "backfill", "Backfill"
        QUARANTINE = "quarantine", "Quarantine"
        SIGN_IN = "sign_in", "Sign-in"
        WEBHOOK = "webhook", "Webhook endpoint"
        SURVEY = "survey", "Survey"
        SURVEY_CAMPAIGN = "survey_campaign", "Survey campaign"
        BI_ROLE = "bi_role", "BI database role"
        CONNECTOR = "connector", "Connector"
        OTHER = "other", "Other"

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        DELETED = "deleted", "Deleted"
        PUBLISHED = "published", "Published"
        ROLLED_BACK = "rolled_back", "Rolled back"
        ENABLED = "enabled", "Enabled"
        DISABLED = "disabled", "Disabled"
        RUN = "run", "Run now"
        REVOKED = "revoked", "Revoked"
        OWNER_CHANGED = "owner_changed", "Owner changed"
        STARTED = "started", "Started"
        FINISHED = "finished", "Finished"
        DOWNLOADED = "downloaded", "Downloaded"
        RELEASED = "released", "Released"
        PASSWORD_CHANGED = "password_changed", "Password changed"
        SIGNED_IN = "signed_in", "Signed in"
        SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
        LOCKED_OUT = "locked_out", "Locked out"
        UNLOCKED = "unlocked", "Unlocked"

    at = models.DateTimeField()
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text so the entry still says who after the user or key is deleted.
    actor_label = models.CharField(max_length=200)
    api_token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=20, choices=ObjectType.choices)
    object_id = models.CharField(max_length=64, blank=True)
    object_label = models.CharField(max_length=200, blank=True)
    # {field: [old, new]}; secret fields hold a mask, never the value.
    changes = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["-at", "-id"], name="audit_at"),
            models.Index(fields=["actor", "-at"], name="audit_actor_at"),
            models.Index(fields=["object_type", "-at"], name="audit_type_at"),
            models.Index(fields=["action", "-at"], name="audit_action_at"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_type} {self.object_label}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise ValueError("Audit entries are append-only; this one cannot be changed.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ValueError("Audit entries are append-only; this one cannot be deleted.")


class OutboxEvent(models.Model):
    """News about a change that the apps above may react to (a task created or completed,
    a playbook fired, an outcome recorded, an import finished), written by the service
    that made the change, in its transaction, so a crash never loses one and a rollback
    never sends one.

    It lives here, in the lowest app that writes such news (imports), so that accounts,
    scoring and playbooks all write it without importing upward; the app that reacts
    (outbound's webhooks) claims unprocessed rows with ``SKIP LOCKED`` and sets
    ``processed_at`` in the transaction of what it did about them, as with scoring's
    ``ScoreEvent``. The row carries only references: the consumer reads the objects when
    it builds what it sends. Processed rows are pruned after
    ``accounts.services.outbox.RETENTION``."""

    class Topic(models.TextChoices):
        TASK_CREATED = "task.created", "Task created"
        TASK_COMPLETED = "task.completed", "Task completed"
        PLAYBOOK_FIRED = "playbook.fired", "Playbook fired"
        OUTCOME_RECORDED = "outcome.recorded", "Outcome recorded"
        IMPORT_FINISHED = "import.finished", "Import finished"

    topic = models.CharField(max_length=32, choices=Topic.choices)
    # No database constraint: an event is an immutable message and may outlive its objects
    # (the consumer skips an event whose object is gone).
    account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    object_id = models.BigIntegerField(help_text="The task, run, outcome or import job.")
    created_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The claim reads the oldest unprocessed rows: a small partial index.
            models.Index(
                fields=["id"],
                condition=models.Q(processed_at__isnull=True),
                name="outbox_unprocessed",
            ),
            models.Index(fields=["processed_at"], name="outbox_processed_at"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.object_id}"


class SavedView(models.Model):
    """A named portfolio query string (filters, search and sort). Personal, or shared with a
    team the owner manages (its members and manager see it); only its owner renames or
    deletes it."""

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=1000, blank=True)
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="shared_views",
        help_text="Shared with this team; blank = personal.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_view_name_per_owner")
        ]
        indexes = [models.Index(fields=["team", "name"], name="saved_view_team_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_shared(self) -> bool:
        return self.team_id is not None


class DefaultView(models.Model):
    """The saved view a user's portfolio opens with when its URL carries no query: one per
    user (the primary key), their own or one shared with their team."""

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, primary_key=True, related_name="default_view"
    )
    view = models.ForeignKey(SavedView, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"Default view of {self.user_id}"
