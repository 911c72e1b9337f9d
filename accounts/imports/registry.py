"""The kinds of CSV file CHS imports, each with its fields and importer.

An app registers its kinds when it loads (``AppConfig.ready``): accounts its own, scoring
metric values and outcomes. The framework looks importers up here by kind, so it never
imports the apps that build on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chs_site.errors import ApplicationError

if TYPE_CHECKING:
    from accounts.imports.importer import Importer


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    help: str = ""


@dataclass(frozen=True)
class ImportKindSpec:
    kind: str
    label: str
    fields: tuple[FieldSpec, ...]
    importer: Callable[..., Importer]

    @property
    def extra_columns(self) -> str | None:
        """The mapping key under which columns beyond the fields are mapped (wide metric
        files map each remaining column to a metric), or None."""
        return getattr(self.importer, "extra_columns", None)


_KINDS: dict[str, ImportKindSpec] = {}


def register(spec: ImportKindSpec) -> None:
    if spec.kind in _KINDS and _KINDS[spec.kind] != spec:
        raise ValueError(f"import kind {spec.kind!r} is registered twice")
    _KINDS[spec.kind] = spec


def kind_spec(kind: str) -> ImportKindSpec:
    try:
        return _KINDS[kind]
    except KeyError:
        raise ApplicationError(
            f"Unknown import kind {kind!r}; choose one of {', '.join(_KINDS)}."
        ) from None


def kinds() -> list[ImportKindSpec]:
    return list(_KINDS.values())


def choices() -> list[tuple[str, str]]:
    return [(k.kind, k.label) for k in _KINDS.values()]
