"""Finding accounts and contacts by text, in the user's scope: the portfolio's search box
and the global search read the same account search document (name, external id, domain;
kept by the triggers of migration 0002, trigram-indexed on PostgreSQL)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.models import Account, AccountSearch, Contact, User
from accounts.selectors.access import visible_accounts

SEARCH_MAX_LENGTH = 100


def matching_account_ids(text: str) -> QuerySet[AccountSearch, int]:
    """Ids of accounts whose name, external id or domain contains ``text``. One line each
    of the search document, and line breaks in the text become spaces, so a match never
    spans two of them."""
    text = text.replace("\r", " ").replace("\n", " ")
    return AccountSearch.objects.filter(document__icontains=text).values_list(
        "account_id", flat=True
    )


def search_accounts(user: User, text: str, *, limit: int) -> list[Account]:
    return list(
        visible_accounts(user)
        .filter(pk__in=matching_account_ids(text))
        .select_related("owner")
        .order_by("name", "pk")[:limit]
    )


def search_contacts(user: User, text: str, *, limit: int) -> list[Contact]:
    """Contacts of accounts in the user's scope whose name or email contains ``text``."""
    return list(
        Contact.objects.filter(account__in=visible_accounts(user).values("pk"))
        .filter(Q(name__icontains=text) | Q(email__icontains=text))
        .select_related("account")
        .order_by("name", "pk")[:limit]
    )
