"""Every kind of connector, by its ``ConnectorKind`` value. Adding a kind: a module in
``connectors.kinds`` with its ``KIND``, a ``ConnectorKind`` choice, and a line here."""

from __future__ import annotations

from connectors.kinds import ConnectorType, hubspot, salesforce, stripe, zendesk

KINDS: dict[str, ConnectorType] = {
    k.kind: k for k in (hubspot.KIND, salesforce.KIND, stripe.KIND, zendesk.KIND)
}


def connector_type(kind: str) -> ConnectorType:
    return KINDS[kind]
