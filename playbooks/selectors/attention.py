"""The Today page: the accounts that need someone now, each with its reasons in words,
ranked by one documented rule, and the headline figures of the book in view.

Signals come from the app that owns their data: ``scoring.selectors.attention`` (entered
red, score drop), ``accounts.selectors.attention`` (renewal while not green, detractor
feedback, headline figures) and ``playbooks.selectors.tasks`` (overdue tasks). Each reason
has a weight (``WEIGHTS``); an account's rank is the sum of its reasons' weights, ties by
ARR (larger first), then name. A snooze (``AttentionSnooze``) hides an account until its
date unless a reason it was not snoozed for appears.

A fixed number of queries whatever the book's size: one per signal, the snoozes, the
flagged accounts, the headline figures (and the people in view for a team)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import Account, Feedback, HealthBand, Role, User
from accounts.selectors.access import visible_accounts, visible_users
from accounts.selectors.attention import (
    Headline,
    Renewal,
    headlines_by_owner,
    recent_detractors,
    renewing_not_green,
)
from chs_site.formatting import day_month, days_ago, in_days, number, plural
from playbooks.models import AttentionSnooze
from playbooks.selectors.tasks import Overdue, overdue_by_account
from scoring.selectors.attention import Drop, RedEntry, entered_red, score_drops

# Rank points per reason, highest first: the order the page explains.
WEIGHTS: dict[str, int] = {
    "entered_red": 40,
    "dropped": 25,
    "detractor": 20,
    "renewal": 20,
    "overdue": 15,
}
QUOTE_CHARS = 80


@dataclass(frozen=True)
class Rule:
    """The thresholds in force (settings ``TODAY_*``)."""

    drop_points: float
    lookback_days: int
    renewal_days: int

    @classmethod
    def from_settings(cls) -> Rule:
        return cls(
            drop_points=settings.TODAY_DROP_POINTS,
            lookback_days=settings.TODAY_LOOKBACK_DAYS,
            renewal_days=settings.TODAY_RENEWAL_DAYS,
        )

    def explained(self) -> list[tuple[str, int]]:
        """Each reason in words with its weight, in ``WEIGHTS`` order."""
        words = {
            "entered_red": f"entered red in the last {plural(self.lookback_days, 'day')}",
            "dropped": (
                f"score fell {number(self.drop_points)} points or more below its "
                f"{self.lookback_days}-day high"
            ),
            "detractor": (
                f"detractor feedback (NPS 0–6 or negative) in the last "
                f"{plural(self.lookback_days, 'day')}"
            ),
            "renewal": f"renews within {plural(self.renewal_days, 'day')} and is not green",
            "overdue": "has tasks past their due date",
        }
        return [(words[kind], weight) for kind, weight in WEIGHTS.items()]


@dataclass(frozen=True)
class Reason:
    kind: str
    key: str  # what a snooze remembers: a new key brings a snoozed account back
    text: str

    @property
    def weight(self) -> int:
        return WEIGHTS[self.kind]


@dataclass
class AttentionItem:
    account: Account
    reasons: list[Reason]

    @property
    def rank(self) -> int:
        return sum(reason.weight for reason in self.reasons)

    @property
    def reason_keys(self) -> list[str]:
        return [reason.key for reason in self.reasons]

    def sort_key(self) -> tuple[int, Decimal, str, int]:
        return (-self.rank, -self.account.arr, self.account.name.casefold(), self.account.pk)


def _quote(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return ""
    short = text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"
    return f": “{short}”"


def _reasons(account: Account, signals: _Signals, *, rule: Rule, today: dt.date) -> list[Reason]:
    pk = account.pk
    out: list[Reason] = []
    red = signals.red.get(pk)
    if red is not None:
        entered = timezone.localtime(red.entered_at).date()
        was = (
            f"was {number(red.previous_score)}"
            if red.previous_score is not None
            else "its first score"
        )
        out.append(
            Reason(
                "entered_red",
                f"entered_red:{entered.isoformat()}",
                f"Entered red {days_ago((today - entered).days)} "
                f"(score {number(red.score)}, {was})",
            )
        )
    drop = signals.drops.get(pk)
    if drop is not None:
        out.append(
            Reason(
                "dropped",
                "dropped",
                f"Score fell {number(drop.points)} points below its {rule.lookback_days}-day "
                f"high (from {number(drop.peak)} to {number(drop.score)})",
            )
        )
    feedback = signals.detractors.get(pk)
    if feedback:
        newest = feedback[0]
        when = day_month(timezone.localtime(newest.occurred_at).date(), today=today)
        if newest.kind == newest.Kind.NPS and newest.is_detractor and newest.score is not None:
            what = f"Detractor: NPS {newest.score} on {when}"
        else:
            what = f"Negative {newest.get_kind_display().lower()} on {when}"
        if newest.author is not None:
            what += f", logged by {newest.author.display_name}"
        more = f" (and {len(feedback) - 1} more)" if len(feedback) > 1 else ""
        out.append(Reason("detractor", f"detractor:{newest.pk}", what + _quote(newest.text) + more))
    renewal = signals.renewals.get(pk)
    if renewal is not None:
        days = (renewal.renewal_date - today).days
        state = (
            f"is {HealthBand(renewal.band).label.lower()}" if renewal.band else "has no score yet"
        )
        out.append(
            Reason(
                "renewal",
                "renewal",
                f"Renews {in_days(days)} ({day_month(renewal.renewal_date, today=today)}) "
                f"and {state}",
            )
        )
    overdue = signals.overdue.get(pk)
    if overdue is not None:
        oldest = (today - overdue.oldest_due).days
        out.append(
            Reason(
                "overdue",
                "overdue",
                f"{plural(overdue.count, 'task')} overdue (oldest {plural(oldest, 'day')})",
            )
        )
    return out


@dataclass
class _Signals:
    red: dict[int, RedEntry]
    drops: dict[int, Drop]
    detractors: dict[int, list[Feedback]]
    renewals: dict[int, Renewal]
    overdue: dict[int, Overdue]

    def account_ids(self) -> set[int]:
        ids: set[int] = set()
        for found in (self.red, self.drops, self.detractors, self.renewals, self.overdue):
            ids.update(found)
        return ids


def _signals(accounts: QuerySet[Account], *, rule: Rule, now: dt.datetime) -> _Signals:
    today = timezone.localdate(now)
    since = now - dt.timedelta(days=rule.lookback_days)
    return _Signals(
        red=entered_red(accounts, since=since),
        drops=score_drops(accounts, since=since, points=rule.drop_points),
        detractors=recent_detractors(accounts, since=since),
        renewals=renewing_not_green(accounts, today=today, days=rule.renewal_days),
        overdue=overdue_by_account(accounts, today=today),
    )


@dataclass
class Attention:
    items: list[AttentionItem]  # ranked, not snoozed
    snoozed: int  # accounts with reasons hidden by a snooze
    # Overdue tasks per account owner, snoozed accounts included (None: unowned).
    overdue_by_owner: dict[int | None, int] = field(default_factory=dict)


def attention(accounts: QuerySet[Account], *, rule: Rule, now: dt.datetime) -> Attention:
    """The accounts of ``accounts`` that need attention, ranked (see the module doc)."""
    today = timezone.localdate(now)
    signals = _signals(accounts, rule=rule, now=now)
    ids = signals.account_ids()
    found = Attention([], 0)
    if not ids:
        return found
    snoozes = {s.account_id: s for s in AttentionSnooze.objects.filter(account_id__in=ids)}
    for account in accounts.filter(pk__in=ids).select_related("owner"):
        overdue = signals.overdue.get(account.pk)
        if overdue is not None:
            owner = account.owner_id
            found.overdue_by_owner[owner] = found.overdue_by_owner.get(owner, 0) + overdue.count
        item = AttentionItem(account, _reasons(account, signals, rule=rule, today=today))
        snooze = snoozes.get(account.pk)
        if snooze is not None and snooze.hides(item.reason_keys, today=today):
            found.snoozed += 1
            continue
        found.items.append(item)
    found.items.sort(key=AttentionItem.sort_key)
    return found


def attention_item(
    account: Account, *, rule: Rule, now: dt.datetime
) -> tuple[AttentionItem | None, AttentionSnooze | None]:
    """One account's current item (None when it needs nothing now, or is snoozed) and its
    snooze, for a row refreshed after an action."""
    today = timezone.localdate(now)
    signals = _signals(Account.objects.filter(pk=account.pk), rule=rule, now=now)
    item = AttentionItem(account, _reasons(account, signals, rule=rule, today=today))
    snooze = AttentionSnooze.objects.filter(account=account).first()
    if not item.reasons or (snooze is not None and snooze.hides(item.reason_keys, today=today)):
        return None, snooze
    return item, snooze


@dataclass
class PersonLine:
    """One person's row on a team's Today: their book's figures and attention count."""

    user: User | None  # None: accounts nobody owns
    headline: Headline
    attention: int = 0
    overdue_tasks: int = 0


@dataclass
class TodayBoard:
    rule: Rule
    items: list[AttentionItem]  # ranked; the page shows them a page at a time
    snoozed: int
    headline: Headline
    overdue_tasks: int
    quarter_label: str
    people: list[PersonLine] = field(default_factory=list)
    person: User | None = None  # the person filtered to, on a team's Today
    is_team: bool = False


def _quarter_label(today: dt.date) -> str:
    return f"Q{(today.month - 1) // 3 + 1} {today.year}"


def person_in_scope(user: User, username: str) -> User:
    """The person named ``username`` if ``user`` may see their book, else 404 (a CSM
    outside the manager's team cannot be told from one that does not exist)."""
    if "\x00" in username:  # no such name can exist; PostgreSQL refuses NUL in text
        raise Http404("No such person.")
    person = visible_users(user).filter(username=username[:150]).first()
    if person is None:
        raise Http404("No such person.")
    return person


def today_board(user: User, *, now: dt.datetime, person: User | None = None) -> TodayBoard:
    """The Today page for ``user``: their own book for a CSM; for a manager their team
    (an admin: everyone), with a line per person, or one person's book (``person``, already
    checked with ``person_in_scope``)."""
    rule = Rule.from_settings()
    today = timezone.localdate(now)
    scope = visible_accounts(user)
    is_team = not user.is_csm
    if person is not None:
        scope = scope.filter(owner=person)
    found = attention(scope, rule=rule, now=now)
    headlines = headlines_by_owner(scope, today=today)
    headline = Headline()
    for line in headlines.values():
        headline.add(line)
    attention_by_owner: dict[int | None, int] = {}
    for item in found.items:
        owner_id = item.account.owner_id
        attention_by_owner[owner_id] = attention_by_owner.get(owner_id, 0) + 1
    board = TodayBoard(
        rule=rule,
        items=found.items,
        snoozed=found.snoozed,
        headline=headline,
        overdue_tasks=sum(found.overdue_by_owner.values()),
        quarter_label=_quarter_label(today),
        person=person,
        is_team=is_team,
    )
    if is_team and person is None:
        board.people = _people_lines(
            user, headlines=headlines, attention=attention_by_owner, overdue=found.overdue_by_owner
        )
    return board


def _people_lines(
    user: User,
    *,
    headlines: dict[int | None, Headline],
    attention: dict[int | None, int],
    overdue: dict[int | None, int],
) -> list[PersonLine]:
    people = (
        visible_users(user)
        .filter(Q(role=Role.CSM) | Q(pk__in=[pk for pk in headlines if pk is not None]))
        .order_by("first_name", "last_name", "username")
    )
    lines = [
        PersonLine(
            user=p,
            headline=headlines.get(p.pk) or Headline(),
            attention=attention.get(p.pk, 0),
            overdue_tasks=overdue.get(p.pk, 0),
        )
        for p in people
    ]
    if None in headlines:
        lines.append(
            PersonLine(
                user=None,
                headline=headlines[None],
                attention=attention.get(None, 0),
                overdue_tasks=overdue.get(None, 0),
            )
        )
    return lines
