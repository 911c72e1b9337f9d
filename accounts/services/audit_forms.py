"""What a saved Django form (and its inline formsets) changed, as the audit log records it:
``{field: [old, new]}`` with related objects by their label."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import models

from accounts.services.audit import plain


def _shown(field: forms.Field | None, value: Any) -> Any:
    """A form value as a person reads it: a related object by its label, not its id."""
    queryset = getattr(field, "queryset", None)
    if isinstance(field, forms.ModelMultipleChoiceField) and queryset is not None:
        if value is None:
            return []
        ids = [v.pk if isinstance(v, models.Model) else v for v in value]
        return sorted(str(o) for o in queryset.filter(pk__in=ids))
    if isinstance(field, forms.ModelChoiceField) and value not in (None, ""):
        if isinstance(value, models.Model) or queryset is None:
            return str(value)
        found = queryset.filter(pk=value).first()
        return str(found) if found is not None else value
    return plain(value)


def form_changes(form: forms.BaseForm, *, adding: bool) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for the fields a bound, valid form changed."""
    changes: dict[str, list[Any]] = {}
    for name in form.changed_data:
        field = form.fields.get(name)
        old = None if adding else _shown(field, form.initial.get(name, field and field.initial))
        new = _shown(field, form.cleaned_data.get(name))
        if old != new:
            changes[name] = [old, new]
    return changes


def formset_changes(formset: forms.BaseFormSet) -> dict[str, list[Any]]:
    """An inline formset's rows added, changed and deleted (after ``save``)."""
    name = formset.model._meta.verbose_name  # type: ignore[attr-defined]
    changes: dict[str, list[Any]] = {}
    for obj in getattr(formset, "new_objects", []):
        changes[f"{name} {obj}"] = [None, "added"]
    for obj, fields in getattr(formset, "changed_objects", []):
        changes[f"{name} {obj}"] = ["changed", ", ".join(fields)]
    for obj in getattr(formset, "deleted_objects", []):
        changes[f"{name} {obj}"] = ["removed", None]
    return changes
