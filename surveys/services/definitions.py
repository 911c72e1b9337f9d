"""Creating a survey: its kind (NPS or CSAT), question and follow-up question."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from accounts.services.audit import Action, ObjectType, record_audit, snapshot
from chs_site.errors import ValidationFailed
from surveys.models import Survey, SurveyKind

SURVEY_FIELDS = ("name", "kind", "question", "follow_up")


@transaction.atomic
def create_survey(
    *, actor: User | None, name: str, kind: str, question: str, follow_up: str
) -> Survey:
    errors = []
    name, question, follow_up = name.strip(), question.strip(), follow_up.strip()
    if not name:
        errors.append({"field": "name", "reason": "give the survey a name"})
    elif Survey.objects.filter(name=name).exists():
        errors.append({"field": "name", "reason": f"a survey named {name!r} already exists"})
    if kind not in SurveyKind.values:
        errors.append(
            {"field": "kind", "reason": f"use one of {', '.join(SurveyKind.values)}; got {kind!r}"}
        )
    if not question:
        errors.append({"field": "question", "reason": "write the question the scale answers"})
    if not follow_up:
        errors.append({"field": "follow_up", "reason": "write the question above the comment box"})
    if errors:
        raise ValidationFailed("The survey is invalid; see details.", errors=errors)
    survey = Survey.objects.create(
        name=name, kind=kind, question=question, follow_up=follow_up, created_by=actor
    )
    record_audit(
        action=Action.CREATED,
        object_type=ObjectType.SURVEY,
        obj=survey,
        changes={f: [None, v] for f, v in snapshot(survey, SURVEY_FIELDS).items()},
        actor=actor,
    )
    return survey
