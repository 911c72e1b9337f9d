"""Reads of the surveys app: who a campaign would reach, which campaigns and recipients a
user may see (scoped by the accounts they may see), and a campaign's results."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Lower
from django.http import Http404
from django.utils import timezone

from accounts.models import NPS_DETRACTOR_MAX, Account, Contact, User
from accounts.selectors.access import visible_accounts
from surveys.models import Campaign, OptOut, Recipient, SurveyKind

# NPS: 9–10 promoters, 0–6 detractors (accounts.models.NPS_DETRACTOR_MAX); CSAT: 4–5
# satisfied, 1–2 dissatisfied.
NPS_PROMOTER_MIN = 9
CSAT_SATISFIED_MIN = 4
CSAT_DISSATISFIED_MAX = 2
SCALES = {SurveyKind.NPS: range(0, 11), SurveyKind.CSAT: range(1, 6)}


@dataclass(frozen=True)
class AudienceFilters:
    segments: list[str] = field(default_factory=list)
    bands: list[str] = field(default_factory=list)
    lifecycle_stages: list[str] = field(default_factory=list)
    renewal_within_days: int | None = None
    contact_title: str = ""
    primary_only: bool = False


@dataclass(frozen=True)
class AudienceMember:
    contact_id: int
    account_id: int
    email: str
    name: str


@dataclass(frozen=True)
class Audience:
    members: list[AudienceMember]
    accounts: int
    opted_out: int
    throttled: int
    duplicates: int


def throttle_cutoff(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(days=settings.SURVEY_THROTTLE_DAYS)


def recently_surveyed(now: dt.datetime) -> QuerySet[Recipient]:
    """Recipients that count against the throttle: queued or sent within the window."""
    return Recipient.objects.filter(
        queued_at__gte=throttle_cutoff(now),
        status__in=[Recipient.Status.QUEUED, Recipient.Status.SENT],
    )


def _matching_accounts(filters: AudienceFilters, now: dt.datetime) -> QuerySet[Account]:
    accounts = Account.objects.all()
    if filters.segments:
        accounts = accounts.filter(segment__in=filters.segments)
    if filters.bands:
        accounts = accounts.filter(health_band__in=filters.bands)
    if filters.lifecycle_stages:
        accounts = accounts.filter(lifecycle_stage__in=filters.lifecycle_stages)
    if filters.renewal_within_days is not None:
        today = timezone.localdate(now)
        accounts = accounts.filter(
            renewal_date__gte=today,
            renewal_date__lte=today + dt.timedelta(days=filters.renewal_within_days),
        )
    return accounts


def audience(
    filters: AudienceFilters, *, now: dt.datetime, account_ids: list[int] | None = None
) -> Audience:
    """The contacts a campaign with ``filters`` would email now (one per address), and how
    many were left out because they unsubscribed or were surveyed within the throttle.
    ``account_ids`` narrows it to those accounts (a playbook's firing)."""
    accounts = _matching_accounts(filters, now)
    if account_ids is not None:
        accounts = accounts.filter(pk__in=account_ids)
    contacts = (
        Contact.objects.filter(account__in=accounts)
        .exclude(email="")
        .annotate(address=Lower("email"))
        .annotate(
            opted_out=Exists(OptOut.objects.filter(email=OuterRef("address"))),
            throttled=Exists(recently_surveyed(now).filter(email=OuterRef("address"))),
        )
        .order_by("account_id", "-is_primary", "id")
    )
    if filters.contact_title:
        contacts = contacts.filter(title__icontains=filters.contact_title)
    if filters.primary_only:
        contacts = contacts.filter(is_primary=True)
    members: dict[str, AudienceMember] = {}
    opted_out = throttled = duplicates = 0
    for c in contacts.values("id", "account_id", "address", "name", "opted_out", "throttled"):
        if c["opted_out"]:
            opted_out += 1
        elif c["throttled"]:
            throttled += 1
        elif c["address"] in members:
            duplicates += 1
        else:
            members[c["address"]] = AudienceMember(
                contact_id=c["id"], account_id=c["account_id"], email=c["address"], name=c["name"]
            )
    return Audience(
        members=list(members.values()),
        accounts=len({m.account_id for m in members.values()}),
        opted_out=opted_out,
        throttled=throttled,
        duplicates=duplicates,
    )


def segment_names() -> list[str]:
    """Every segment an account is in (the campaign filter's choices)."""
    return list(
        Account.objects.exclude(segment="")
        .order_by("segment")
        .values_list("segment", flat=True)
        .distinct()
    )


def sending_campaign_ids() -> list[int]:
    """Campaigns still sending: beat's safety net for a lost batch message."""
    return list(
        Campaign.objects.filter(status=Campaign.Status.SENDING).values_list("pk", flat=True)
    )


# --- what a user may see ---------------------------------------------------------------------


def visible_recipients(user: User) -> QuerySet[Recipient]:
    """Admins see every recipient; CSMs and managers those of the accounts they may see."""
    if user.is_admin:
        return Recipient.objects.all()
    return Recipient.objects.filter(account__in=visible_accounts(user))


def visible_campaigns(user: User) -> QuerySet[Campaign]:
    """Admins see every campaign; CSMs and managers the campaigns that reached at least one
    of their accounts."""
    campaigns = Campaign.objects.select_related("survey", "created_by")
    if user.is_admin:
        return campaigns.all()
    return campaigns.filter(Exists(visible_recipients(user).filter(campaign=OuterRef("pk"))))


def get_campaign_for_user(user: User, pk: int) -> Campaign:
    try:
        return visible_campaigns(user).get(pk=pk)
    except Campaign.DoesNotExist:
        raise Http404("No such campaign.") from None


def campaign_list(user: User) -> list[Campaign]:
    """Campaigns with their counts over the recipients the user may see, newest first."""
    recipients = Q() if user.is_admin else Q(recipients__account__in=visible_accounts(user))
    return list(
        visible_campaigns(user).annotate(
            sent=Count("recipients", filter=recipients & Q(recipients__status="sent")),
            answered=Count(
                "recipients", filter=recipients & Q(recipients__answered_at__isnull=False)
            ),
        )[:100]
    )


# --- results ---------------------------------------------------------------------------------


def answer_group(kind: str, score: int) -> str:
    """ "low" (NPS detractor, CSAT dissatisfied), "middle" or "high" (promoter, satisfied)."""
    if kind == SurveyKind.NPS:
        high, low = score >= NPS_PROMOTER_MIN, score <= NPS_DETRACTOR_MAX
    else:
        high, low = score >= CSAT_SATISFIED_MIN, score <= CSAT_DISSATISFIED_MAX
    return "high" if high else "low" if low else "middle"


@dataclass(frozen=True)
class CampaignResults:
    kind: str
    queued: int
    sent: int
    failed: int
    skipped: int
    opened: int
    answered: int
    distribution: list[tuple[int, int, str]]  # (score, answers, answer_group) per scale step
    headline: float | None  # NPS (−100…100) or CSAT (% satisfied)
    promoters: int
    passives: int
    detractors: int

    @property
    def response_rate(self) -> float | None:
        return 100 * self.answered / self.sent if self.sent else None


def campaign_results(campaign: Campaign, recipients: QuerySet[Recipient]) -> CampaignResults:
    """Counts, the score distribution and the NPS (or CSAT) of ``recipients`` (a campaign's,
    already scoped to the user): two queries."""
    kind = SurveyKind(campaign.survey.kind)
    counts = recipients.aggregate(
        queued=Count("pk", filter=Q(status=Recipient.Status.QUEUED)),
        sent=Count("pk", filter=Q(status=Recipient.Status.SENT)),
        failed=Count("pk", filter=Q(status=Recipient.Status.FAILED)),
        skipped=Count("pk", filter=Q(status=Recipient.Status.SKIPPED)),
        opened=Count("pk", filter=Q(opened_at__isnull=False)),
    )
    # An answered row always has its score (answer_survey writes both at once).
    scores: Counter[int] = Counter(
        score
        for score in recipients.filter(answered_at__isnull=False).values_list("score", flat=True)
        if score is not None
    )
    answered = sum(scores.values())
    groups: Counter[str] = Counter()
    for score, n in scores.items():
        groups[answer_group(kind, score)] += n
    high, low = groups["high"], groups["low"]
    if not answered:
        headline = None
    elif kind == SurveyKind.NPS:
        headline = round(100 * (high - low) / answered, 1)  # % promoters − % detractors
    else:
        headline = round(100 * high / answered, 1)  # % satisfied
    return CampaignResults(
        kind=kind,
        answered=answered,
        distribution=[(s, scores.get(s, 0), answer_group(kind, s)) for s in SCALES[kind]],
        headline=headline,
        promoters=high,
        passives=answered - high - low,
        detractors=low,
        **counts,
    )
