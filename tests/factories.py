"""factory-boy factories shared by the whole suite: people and accounts, playbooks and tasks,
metrics, and helpers that write score history the way scoring does."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import factory
from django.utils import timezone

from accounts.models import Account, Contact, Feedback, Role, Team, User, owner_sort_name
from playbooks.models import Playbook, PlaybookAction, Task, TaskStatus, TriggerType
from playbooks.services.tasks import adjust_open_task_counts
from scoring.contracts import ScoreChange
from scoring.engine import DEFAULT_GREEN_AT, DEFAULT_RED_BELOW, band_for
from scoring.models import MetricDefinition, MetricValue, Score, Scorecard


class TeamFactory(factory.django.DjangoModelFactory[Team]):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = Role.CSM
    password = factory.django.Password("pw")


def _default_band(score: float | None) -> str:
    """The band the engine's default thresholds give ``score`` ("" for no score)."""
    return band_for(score, red_below=DEFAULT_RED_BELOW, green_at=DEFAULT_GREEN_AT)


class AccountFactory(factory.django.DjangoModelFactory[Account]):
    """An account; ``score=…`` (or the ``red``/``yellow``/``green`` traits) sets its shown and
    computed score and band together, as a recompute under the default thresholds would:
    ``AccountFactory.create(score=30)``, ``AccountFactory.create(red=True)``. A test that means
    them to differ (an override) still passes the fields itself."""

    class Meta:
        model = Account

    class Params:
        score: float | None = None
        red = factory.Trait(score=20.0)
        yellow = factory.Trait(score=55.0)
        green = factory.Trait(score=88.0)

    external_id = factory.Sequence(lambda n: f"EXT-{n:05d}")
    name = factory.Faker("company")
    domain = factory.Faker("domain_name")
    segment = "SMB"
    owner = factory.SubFactory(UserFactory)
    owner_sort_name = factory.LazyAttribute(lambda a: owner_sort_name(a.owner))
    arr = Decimal("12000.00")
    renewal_date = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=120))
    health_score = factory.SelfAttribute("score")
    computed_score = factory.SelfAttribute("score")
    health_band = factory.LazyAttribute(lambda a: _default_band(a.score))
    computed_band = factory.LazyAttribute(lambda a: _default_band(a.score))


class ContactFactory(factory.django.DjangoModelFactory[Contact]):
    class Meta:
        model = Contact

    account = factory.SubFactory(AccountFactory)
    name = factory.Faker("name")
    email = factory.Faker("email")


class FeedbackFactory(factory.django.DjangoModelFactory[Feedback]):
    class Meta:
        model = Feedback

    account = factory.SubFactory(AccountFactory)
    kind = Feedback.Kind.NOTE
    text = "Talked about the roadmap."
    occurred_at = factory.LazyFunction(timezone.now)


# --- playbooks, metrics and score history ---------------------------------------------


class PlaybookFactory(factory.django.DjangoModelFactory[Playbook]):
    class Meta:
        model = Playbook
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Playbook {n}")
    enabled = True
    cooldown_days = 14
    trigger_type = TriggerType.BAND_ENTERED
    band = "red"

    @factory.post_generation
    def task(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if not create or extracted is False:
            return
        PlaybookAction.objects.create(
            playbook=self,  # type: ignore[misc]  # factory-boy passes the model instance
            kind=PlaybookAction.Kind.CREATE_TASK,
            title_template=kwargs.get("title", "Call {account_name}: now {band}"),
            description_template=kwargs.get("description", "Score {score}, was {previous_band}."),
            due_in_days=kwargs.get("due_in_days", 2),
            assignee_rule=kwargs.get("assignee_rule", PlaybookAction.AssigneeRule.OWNER),
            assignee_user=kwargs.get("assignee_user"),
        )


class TaskFactory(factory.django.DjangoModelFactory[Task]):
    class Meta:
        model = Task

    title = factory.Sequence(lambda n: f"Task {n}")
    account = factory.SubFactory(AccountFactory)
    assignee = factory.LazyAttribute(lambda t: t.account.owner)
    due_date = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=1))
    created_at = factory.LazyFunction(timezone.now)

    @classmethod
    def _create(cls, model_class: type[Task], *args: Any, **kwargs: Any) -> Task:
        # What the services do when they open a task: the account's open-task count follows.
        task = super()._create(model_class, *args, **kwargs)
        if task.status == TaskStatus.OPEN:
            adjust_open_task_counts(changes=[(task.account_id, 1)])
        return task


class MetricFactory(factory.django.DjangoModelFactory[MetricDefinition]):
    class Meta:
        model = MetricDefinition
        django_get_or_create = ("key",)

    key = factory.Sequence(lambda n: f"metric_{n}")
    name = factory.LazyAttribute(lambda m: m.key.replace("_", " ").title())


def _default_scorecard() -> Scorecard:
    card, _ = Scorecard.objects.get_or_create(
        segment="", status=Scorecard.Status.ACTIVE, defaults={"name": "Default", "version": 1}
    )
    return card


def record_score(account: Account, score: float | None, band: str, at: dt.datetime) -> Score:
    """A score history row plus the denormalised health fields, as scoring would write."""
    row = Score.objects.create(
        account=account, scorecard=_default_scorecard(), score=score, band=band, computed_at=at
    )
    Account.objects.filter(pk=account.pk).update(
        health_score=score,
        health_band=band,
        computed_score=score,
        computed_band=band,
        computed_at=at,
    )
    return row


def change(
    account: Account,
    *,
    band: str,
    score: float | None,
    previous_band: str = "",
    previous_score: float | None = None,
    at: dt.datetime | None = None,
    store: bool = True,
) -> ScoreChange:
    """A score change as a score event delivers it (and, by default, its history row)."""
    at = at or timezone.now()
    row = record_score(account, score, band, at) if store else None
    return ScoreChange(
        account_id=account.pk,
        score_id=row.pk if row else None,
        previous_score=previous_score,
        previous_band=previous_band,
        score=score,
        band=band,
        computed_at=at,
    )


def metric_value(
    account: Account, metric: MetricDefinition, value: float, at: dt.datetime
) -> MetricValue:
    return MetricValue.objects.create(account=account, metric=metric, value=value, observed_at=at)
