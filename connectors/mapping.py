"""A connector's mapping: the kind's defaults merged with what the admin changed, and the
text form of "pairs" fields (``vendor_name = chs_name`` per line) used on the page."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connectors.kinds import ConnectorType

METRIC_KEY = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")  # MetricDefinition.key is a SlugField


class MappingError(ValueError):
    pass


def effective_mapping(spec: ConnectorType, stored: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping a sync uses: each field's stored value, else the kind's default."""
    return {f.name: stored.get(f.name, f.default) for f in spec.mapping_fields}


def format_pairs(pairs: Mapping[str, str]) -> str:
    return "\n".join(f"{left} = {right}" for left, right in pairs.items())


def parse_pairs(text: str, *, right_is_metric_key: bool = False) -> dict[str, str]:
    """``left = right`` per line (blank lines and lines starting with # are ignored);
    MappingError names the line and what is wrong with it."""
    pairs: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        left, sep, right = (part.strip() for part in line.partition("="))
        if not sep or not left or not right:
            raise MappingError(f"line {number}: write it as 'name = value', not {line[:60]!r}")
        if right_is_metric_key and not METRIC_KEY.match(right):
            raise MappingError(
                f"line {number}: {right[:64]!r} is not a metric key (letters, digits, - and _)"
            )
        if left in pairs:
            raise MappingError(f"line {number}: {left!r} is mapped twice")
        pairs[left] = right
    return pairs
