"""Surveys' fixtures: an NPS survey and a contact at the CSM's account."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from accounts.models import Account, Contact
from surveys.models import Survey
from surveys.services.definitions import create_survey
from tests.factories import ContactFactory


@pytest.fixture
def nps_survey(db: None) -> Survey:
    return create_survey(
        actor=None,
        name="Quarterly NPS",
        kind="nps",
        question="How likely are you to recommend us?",
        follow_up="What is the main reason for your score?",
    )


@pytest.fixture
def contact(account: Account) -> Contact:
    return ContactFactory.create(
        account=account, name="Dana Buyer", email="Dana@Example.com", title="VP Operations"
    )


def links_in(message: mail.EmailMessage) -> tuple[str, str]:
    """The answer and unsubscribe paths in a survey email (site URL stripped)."""
    answer = re.search(r"https?://[^/\s]+(/s/[^/\s]+/)\s", str(message.body))
    unsubscribe = re.search(r"https?://[^/\s]+(/s/[^/\s]+/unsubscribe/)", str(message.body))
    assert answer and unsubscribe, message.body
    return answer.group(1), unsubscribe.group(1)
