"""Metrics, scorecards (versioned), score history, overrides and outcomes.

The score maths lives in ``scoring/engine.py`` (pure); these models only store its inputs
and outputs.
"""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from accounts.models import Account, HealthBand
from scoring.contracts import METRIC_VALUE_LIMIT
from scoring.engine import DEFAULT_GREEN_AT, DEFAULT_RED_BELOW


class MetricDefinition(models.Model):
    class Direction(models.TextChoices):
        HIGHER_IS_BETTER = "higher", "Higher is better"
        LOWER_IS_BETTER = "lower", "Lower is better"

    key = models.SlugField(max_length=64, unique=True, help_text="Used in the API and CSV files.")
    name = models.CharField(max_length=120)
    unit = models.CharField(max_length=32, blank=True)
    description = models.TextField(blank=True)
    direction = models.CharField(
        max_length=8, choices=Direction.choices, default=Direction.HIGHER_IS_BETTER
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MetricValue(models.Model):
    # No index of its own: the unique constraint below starts with the account.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="metric_values", db_index=False
    )
    metric = models.ForeignKey(MetricDefinition, on_delete=models.CASCADE, related_name="values")
    value = models.FloatField()
    observed_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Also the index for window queries: (account, metric, time range). On
            # PostgreSQL it also carries the value (INCLUDE, migration 0002), so window
            # aggregates are index-only scans that never touch the table.
            models.UniqueConstraint(
                fields=["account", "metric", "observed_at"], name="metric_value_unique_observation"
            ),
            # The last line of defence for the bound every entry point checks: a value the
            # window sums cannot hold would fail every recompute of its account.
            models.CheckConstraint(
                condition=Q(value__gte=-METRIC_VALUE_LIMIT) & Q(value__lte=METRIC_VALUE_LIMIT),
                name="metric_value_within_limit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric_id}={self.value} @ {self.observed_at:%Y-%m-%d}"


class Scorecard(models.Model):
    """One version of the scorecard for a segment (blank segment = the default).

    Editing creates a draft; publishing makes it the active version for its segment and
    retires the previous one. Exactly one active version per segment (enforced below)."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    class MissingData(models.TextChoices):
        IGNORE = "ignore", "Ignore the measure (renormalise weights)"
        ZERO = "zero", "Count as 0 points"
        NEUTRAL = "neutral", "Count as 50 points"

    name = models.CharField(max_length=120)
    segment = models.CharField(
        max_length=50, blank=True, help_text="Blank: the default scorecard for every segment."
    )
    version = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    red_below = models.FloatField(default=DEFAULT_RED_BELOW)
    green_at = models.FloatField(default=DEFAULT_GREEN_AT)
    missing_data = models.CharField(
        max_length=8, choices=MissingData.choices, default=MissingData.IGNORE
    )
    based_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="derived"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    change_summary = models.JSONField(
        default=list, blank=True, help_text="Readable diff against the version it replaced."
    )

    class Meta:
        ordering = ["segment", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["segment"],
                condition=Q(status="active"),
                name="one_active_scorecard_per_segment",
            ),
            models.UniqueConstraint(
                fields=["segment", "version"], name="scorecard_segment_version"
            ),
            models.CheckConstraint(
                condition=Q(red_below__lte=models.F("green_at")),
                name="scorecard_red_below_le_green_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.get_status_display()})"


class Measure(models.Model):
    class Aggregation(models.TextChoices):
        LATEST = "latest", "Latest value"
        AVG = "avg", "Average"
        SUM = "sum", "Sum"
        COUNT = "count", "Count"
        CHANGE_PCT = "change_pct", "Change vs previous window (%)"

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="measures")
    metric = models.ForeignKey(MetricDefinition, on_delete=models.PROTECT, related_name="measures")
    weight = models.FloatField()
    aggregation = models.CharField(
        max_length=16, choices=Aggregation.choices, default=Aggregation.LATEST
    )
    window_days = models.PositiveIntegerField(default=30)
    bad = models.FloatField()
    good = models.FloatField()
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["scorecard", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(weight__gt=0), name="measure_weight_positive"),
            models.CheckConstraint(condition=Q(window_days__gte=1), name="measure_window_positive"),
            models.CheckConstraint(condition=~Q(bad=models.F("good")), name="measure_bad_ne_good"),
        ]

    def __str__(self) -> str:
        return f"{self.metric_id} ({self.aggregation}, {self.window_days}d) ×{self.weight}"


class Score(models.Model):
    """Score history: one row per change of an account's computed score, band or breakdown.

    ``breakdown`` is a list of per-measure dicts: metric, name, aggregation, window_days,
    value, points, weight, contribution, stale."""

    # Indexed by the unique (account, -computed_at) constraint below.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="scores", db_index=False
    )
    scorecard = models.ForeignKey(Scorecard, on_delete=models.PROTECT, related_name="scores")
    score = models.FloatField(null=True, blank=True)
    band = models.CharField(max_length=8, choices=HealthBand.choices, blank=True)
    computed_at = models.DateTimeField()
    breakdown = models.JSONField(default=list)

    class Meta:
        ordering = ["-computed_at"]
        constraints = [
            # One row per account and moment; newest first, it is also the index every
            # history read uses (latest score, trend, DISTINCT ON per account).
            models.UniqueConstraint(
                F("account"), F("computed_at").desc(), name="score_unique_per_moment"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.score} ({self.band}) @ {self.computed_at:%Y-%m-%d %H:%M}"


class ScoreOverride(models.Model):
    """A person's judgement shown instead of the computed score while active."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="overrides")
    score = models.FloatField(null=True, blank=True)
    band = models.CharField(max_length=8, choices=HealthBand.choices, blank=True)
    reason = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["account", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(score__isnull=False) | ~Q(band=""), name="override_has_score_or_band"
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=0, score__lte=100),
                name="override_score_0_100",
            ),
        ]

    def __str__(self) -> str:
        return f"Override on {self.account_id} until {self.expires_at:%Y-%m-%d}"


class DirtyAccount(models.Model):
    """Durable marker: this account's score must be recomputed.

    Written in the same transaction as the data that made it dirty; deleted by the
    recompute that consumed it. Redis only carries the "go look" message."""

    account = models.OneToOneField(
        Account, primary_key=True, on_delete=models.CASCADE, related_name="dirty_marker"
    )
    marked_at = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=32, blank=True)

    def __str__(self) -> str:
        return f"dirty {self.account_id} since {self.marked_at}"


class QuarantinedAccount(models.Model):
    """An account the recompute could not score, set aside so it blocks nobody else.

    A batch that fails is split until the failing account stands alone; that account gets
    this row (with the error) and is skipped by every recompute until an admin retries it
    from the quarantine page, which deletes the row and marks the account dirty."""

    account = models.OneToOneField(
        Account, primary_key=True, on_delete=models.CASCADE, related_name="quarantine"
    )
    reason = models.TextField(help_text="The error the recompute met, as the database said it.")
    quarantined_at = models.DateTimeField()

    class Meta:
        ordering = ["-quarantined_at"]

    def __str__(self) -> str:
        return f"quarantined {self.account_id}: {self.reason[:60]}"


def all_consumers() -> int:
    """The ``pending`` bits of a new score event: every configured consumer's."""
    return reduce(or_, (c["bit"] for c in settings.SCORE_EVENT_CONSUMERS.values()), 0)


class ScoreEvent(models.Model):
    """The outbox: news about an account's health for whoever reacts to it (playbooks,
    and any consumer named in ``settings.SCORE_EVENT_CONSUMERS``).

    Written in the transaction that made the news (one per account whose computed score
    or band changed in a recompute batch; one per detractor feedback), so a crash never
    loses one. ``pending`` holds one bit per consumer that has yet to see the event; a
    consumer claims rows with its bit set (``SKIP LOCKED``) and clears the bit in the
    transaction of what it did about them. ``processed_at`` is set when the last bit
    clears; processed rows are pruned after ``scoring.services.events.RETENTION``.

    The references carry no database constraint: an event is an immutable message, a
    first night writes 100 000 of them, and each foreign-key check would cost the recompute
    more than the row itself (consumers skip events whose account is gone)."""

    class Kind(models.TextChoices):
        SCORE = "score", "Score changed"
        FEEDBACK = "feedback", "Detractor feedback"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+"
    )
    scorecard = models.ForeignKey(
        Scorecard,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        help_text="The version that computed the new score.",
    )
    score_row = models.ForeignKey(
        Score,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        help_text="The history row written with this change (none when the score was lost).",
    )
    previous_score = models.FloatField(null=True, blank=True)
    previous_band = models.CharField(max_length=8, blank=True)
    score = models.FloatField(null=True, blank=True)
    band = models.CharField(max_length=8, blank=True)
    breakdown = models.JSONField(
        null=True,
        blank=True,
        help_text="The measures that changed (rows of Score.breakdown); null for a first score.",
    )
    feedback = models.ForeignKey(
        "accounts.Feedback",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    created_at = models.DateTimeField(help_text="When the change happened.")
    pending = models.PositiveSmallIntegerField(
        default=all_consumers,
        help_text="One bit per consumer that has not processed the event yet.",
    )
    processed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last consumer processed the event."
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            # The claim reads the oldest unprocessed events; processed ones leave the index.
            models.Index(
                fields=["id"],
                name="scoreevent_unprocessed",
                condition=Q(processed_at__isnull=True),
            ),
            # The prune deletes processed events by age.
            models.Index(
                fields=["processed_at"],
                name="scoreevent_processed_at",
                condition=Q(processed_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.account_id} at {self.created_at:%Y-%m-%d %H:%M}"


class Outcome(models.Model):
    class Kind(models.TextChoices):
        RENEWED = "renewed", "Renewed"
        CHURNED = "churned", "Churned"
        EXPANDED = "expanded", "Expanded"
        CONTRACTED = "contracted", "Contracted"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="outcomes")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    occurred_at = models.DateField()
    arr_change = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["occurred_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "kind", "occurred_at"], name="outcome_unique_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.account_id} on {self.occurred_at}"


# --- validation: the fitted churn model; backfill jobs -------------------------------------


class ChurnModel(models.Model):
    """A fitted churn-risk model: logistic regression over one scorecard version's measure
    points at lead time (``scoring/validation.py``). Pages read the newest row instead of
    refitting; a Celery task refits on demand and after new outcomes."""

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="churn_models")
    lead_days = models.PositiveIntegerField(default=90)
    fitted_at = models.DateTimeField()
    intercept = models.FloatField()
    measures = models.JSONField(
        default=list,
        help_text="Per measure: metric, name, aggregation, window_days, bad, good, "
        "coefficient (on points/100, for 'retained'), mean (of the training features).",
    )
    n_outcomes = models.PositiveIntegerField()
    n_churned = models.PositiveIntegerField()
    auc = models.FloatField(null=True, blank=True, help_text="Cross-validated ROC AUC.")
    outcomes_seen = models.PositiveIntegerField(
        default=0, help_text="Outcomes in the database when fitted (refit when it grows)."
    )

    class Meta:
        ordering = ["-fitted_at"]
        get_latest_by = "fitted_at"

    def __str__(self) -> str:
        return f"Churn model #{self.pk} ({self.fitted_at:%Y-%m-%d %H:%M})"


class BackfillJob(models.Model):
    """Rewriting the last ``days`` days of score history with one scorecard version, as a
    Celery job. The row is the truth the progress bar polls; the worker claims it with a
    conditional UPDATE (queued → running), so a duplicate message does nothing."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="backfills")
    days = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0, help_text="Accounts to backfill.")
    done = models.PositiveIntegerField(default=0)
    rows_written = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(days__gte=1), name="backfill_days_positive")
        ]

    def __str__(self) -> str:
        return f"Backfill of {self.scorecard} ({self.days} days, {self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


# --- product analytics (Segment-compatible ingest) -----------------------------------------


class SegmentSettings(models.Model):
    """The one configuration of the Segment-compatible endpoint (row pk=1), edited by admins
    on /scoring/product-analytics/; the counters are the roll-up's, shown on the same page."""

    enabled = models.BooleanField(
        default=False, help_text="Off: the endpoint refuses messages (403) and stores nothing."
    )
    group_trait = models.CharField(
        max_length=64,
        blank=True,
        help_text="A `group` trait that holds the account's external_id (blank: the groupId).",
    )
    identify_trait = models.CharField(
        max_length=64,
        blank=True,
        help_text="An `identify` trait that holds the account's external_id (blank: none).",
    )
    tracked_events = models.JSONField(
        default=list, blank=True, help_text="Track event names counted per day as their own metric."
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(null=True, blank=True)
    events_rolled_up = models.BigIntegerField(default=0)
    events_skipped = models.BigIntegerField(
        default=0,
        help_text="Rolled-up events linked to no account, or dated before the daily retention.",
    )
    last_rollup_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "Segment settings"

    def __str__(self) -> str:
        return f"Segment ingest ({'on' if self.enabled else 'off'})"


class SegmentUser(models.Model):
    """A product user (Segment's userId, or anonymousId) linked to an account by the newest
    `group` (or `identify` with the configured trait) call: the newest message wins, so a
    replayed older one changes nothing."""

    user_key = models.CharField(max_length=260, primary_key=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    linked_at = models.DateTimeField(help_text="When the linking message happened.")

    def __str__(self) -> str:
        return f"{self.user_key} → {self.account_id}"


class SegmentMessage(models.Model):
    """A messageId seen: the dedupe key, kept ``segment_rollup.MESSAGE_RETENTION`` (7 days)
    after it arrived, long after its event was rolled up and deleted."""

    message_id = models.CharField(max_length=100, primary_key=True)
    received_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.message_id


class SegmentEvent(models.Model):
    """A `track`, `page` or `screen` message waiting for the roll-up, which claims rows
    (``SKIP LOCKED``), counts them and deletes them in one transaction. Written in bulk by
    the request; the references carry no constraint (checked by the request already)."""

    user_key = models.CharField(max_length=260)
    event = models.CharField(max_length=200, blank=True, help_text="Blank for page and screen.")
    account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        help_text="From the message's context.groupId; else the user's link at roll-up.",
    )
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.event or 'page'} by {self.user_key} at {self.occurred_at:%Y-%m-%d %H:%M}"


class SegmentDailyUser(models.Model):
    """A user seen active for an account on a (UTC) day: what makes `active_users` a count
    of distinct users across batches."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    user_key = models.CharField(max_length=260)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "day", "user_key"], name="segment_daily_user_unique"
            )
        ]
        indexes = [models.Index(fields=["day"], name="segment_daily_user_day")]

    def __str__(self) -> str:
        return f"{self.user_key} on {self.account_id} {self.day}"


class SegmentDailyCount(models.Model):
    """The running count behind one daily metric value (account, day, metric)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    metric = models.ForeignKey(MetricDefinition, on_delete=models.CASCADE, related_name="+")
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "day", "metric"], name="segment_daily_count_unique"
            )
        ]
        indexes = [models.Index(fields=["day"], name="segment_daily_count_day")]

    def __str__(self) -> str:
        return f"{self.metric_id}={self.count} on {self.account_id} {self.day}"


class SegmentEventName(models.Model):
    """A track event name the roll-up has seen, offered on the settings page."""

    name = models.CharField(max_length=200, primary_key=True)
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
