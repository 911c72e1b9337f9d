"""The character set of an account's external_id, in one place (no Django imports, so the
settings' schema overrides can read it as well as ``accounts.models``).

An external_id is its account's address in URLs, CSV files and API bodies, so it holds
only characters that mean the same everywhere: CRM ids such as Salesforce's
"0015g00000XyZ", Stripe's "cus_ABC", HubSpot's numbers, or a domain ("acme.com"). It
starts with a letter or digit, so "." and ".." (which browsers fold out of a path) are not
ids. The database holds the same rule (accounts migration 0003)."""

from __future__ import annotations

EXTERNAL_ID_MAX_LENGTH = 100
# "$", not "\\Z": the pattern is also the OpenAPI schema's and PostgreSQL's, which know
# only "$"; accounts.models.ExternalIdValidator refuses the final newline Python's "$"
# would let through.
EXTERNAL_ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._:@+-]{{0,{EXTERNAL_ID_MAX_LENGTH - 1}}}$"
EXTERNAL_ID_RULE = (
    f"1 to {EXTERNAL_ID_MAX_LENGTH} characters: letters A-Z and a-z, digits and . _ - : @ +, "
    "starting with a letter or digit"
)
