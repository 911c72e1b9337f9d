"""What every kind of connector provides, (the registry of kinds is ``connectors.registry``).

A kind is one module here exposing ``KIND``, a ``ConnectorType``: its labels, the
credential it needs, its mapping fields with their defaults, and ``read`` — a generator of
``Page``s of ``Record``s from the vendor, starting at a cursor. The runner
(``connectors.runner``) does everything else the same way for every kind: matching and
creating accounts, writing metric values, savepoints, counts, the cursor, the run row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MappingField:
    """One editable setting of a kind's mapping. ``kind`` is "text" (one value), "pairs"
    (lines of ``vendor value = CHS value``, stored as a dict) or "metrics" (pairs whose
    right side is a metric key: vendor property → metric)."""

    name: str
    label: str
    help: str
    default: Any
    kind: str = "text"


@dataclass(frozen=True)
class Record:
    """One vendor record, read and translated by the kind.

    ``account`` holds the account fields it sets (name, domain, segment, lifecycle_stage,
    arr, renewal_date) and ``owner_email``; ``match`` how to find the account when no link
    exists yet (``external_id``, ``domain``); ``metrics`` metric key → value observed at
    ``observed_at``; ``skip`` a reason to leave it alone (deleted, archived)."""

    vendor_id: str
    observed_at: dt.datetime
    account: Mapping[str, Any] = field(default_factory=dict)
    match: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    skip: str = ""
    problem: str = ""  # the vendor's data for this record cannot be used: why


@dataclass(frozen=True)
class Page:
    """Records the runner writes in one transaction, then moves the cursor to ``cursor``.
    ``total``: how many records the whole run will see, when the vendor says (progress)."""

    records: list[Record]
    cursor: str
    total: int | None = None


@dataclass(frozen=True)
class ReadContext:
    credential: str
    api_base: str
    mapping: Mapping[str, Any]
    cursor: str
    now: dt.datetime


@dataclass(frozen=True)
class ScorePush:
    """An account's newest score on its way to the vendor's record ``vendor_id``."""

    vendor_id: str
    score: float | None
    band: str
    changed_at: dt.datetime


@dataclass(frozen=True)
class PushContext:
    """What a kind's ``push`` gets: the credential, its API base and mapping, the connector's
    ``state`` (the kind may note facts in it; the caller saves it), ``sent``, to call
    with each batch the vendor accepted (those stop being pending at once), and
    ``refused`` for records the vendor will never accept."""

    credential: str
    api_base: str
    state: dict[str, Any]
    sent: Callable[[Sequence[ScorePush]], None]
    mapping: Mapping[str, Any] = field(default_factory=dict)
    # To call with records the vendor refuses for good (deleted, invalid) and its reason:
    # they are dropped and listed on the run, so one bad record never holds the others.
    refused: Callable[[Sequence[ScorePush], str], None] = lambda items, reason: None


@dataclass(frozen=True)
class ConnectorType:
    kind: str
    label: str
    credential_label: str
    credential_help: str
    mapping_fields: tuple[MappingField, ...]
    # metric key → (name, unit, direction) of the metrics it may write, created on save.
    metric_definitions: Callable[[Mapping[str, Any]], dict[str, tuple[str, str, str]]]
    read: Callable[[ReadContext], Iterator[Page]]
    creates_accounts: bool
    default_interval_minutes: int = 60
    # Writes scores back to the vendor (CRMs); None for a kind that only reads.
    push: Callable[[PushContext, Sequence[ScorePush]], None] | None = None
