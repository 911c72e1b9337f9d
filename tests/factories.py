"""factory-boy factories shared by the whole suite."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.models import Account, Contact, Feedback, Role, Team, User, owner_sort_name


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


class AccountFactory(factory.django.DjangoModelFactory[Account]):
    class Meta:
        model = Account

    external_id = factory.Sequence(lambda n: f"EXT-{n:05d}")
    name = factory.Faker("company")
    domain = factory.Faker("domain_name")
    segment = "SMB"
    owner = factory.SubFactory(UserFactory)
    owner_sort_name = factory.LazyAttribute(lambda a: owner_sort_name(a.owner))
    arr = Decimal("12000.00")
    renewal_date = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=120))


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
