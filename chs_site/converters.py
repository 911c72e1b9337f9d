"""URL converters shared by every app's ``urls.py`` (importing this module registers them).

``account_id``: an account's ``external_id`` as one path segment. Valid ids (letters,
digits and ``. _ - : @ +``, see ``accounts.models.EXTERNAL_ID_PATTERN``) appear as they
are. Anything else a row might still hold (one stored before the rule, or written around
it) is percent-encoded here, so ``reverse`` builds a link that leads back to the account
instead of raising ``NoReverseMatch``: Django quotes the ``%`` once more, the server decodes
that layer, and ``to_python`` the one added here."""

from __future__ import annotations

from urllib.parse import quote, unquote

from django.urls import register_converter

# The characters a valid external_id may hold besides letters and digits (quote() already
# leaves "_.-~" alone).
_SAFE = ":@+"


class AccountIdConverter:
    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        return unquote(value)

    def to_url(self, value: str) -> str:
        return quote(str(value), safe=_SAFE)


# The largest id a 64-bit integer column holds (SQLite's and PostgreSQL's bigint).
MAX_ID = 2**63 - 1


class IdConverter:
    """A row id: ``<int:…>`` matches any run of digits, and a lookup beyond the database's
    integer range raises (OverflowError on SQLite, "out of range" on PostgreSQL) instead
    of finding nothing. Beyond ``MAX_ID`` the URL simply does not match: a 404."""

    regex = "[0-9]+"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError("beyond the largest id")
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(AccountIdConverter, "account_id")
register_converter(IdConverter, "id")
