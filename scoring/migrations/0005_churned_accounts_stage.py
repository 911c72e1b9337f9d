"""Accounts whose newest outcome is a churn move to the churned lifecycle stage, as
recording a churn now does (``scoring.services.outcomes.record_outcome``), so they leave
renewal lists and ARR at risk."""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.models import OuterRef, Subquery


def churned_stage(apps: Any, schema_editor: Any) -> None:
    Account = apps.get_model("accounts", "Account")
    Outcome = apps.get_model("scoring", "Outcome")
    newest = Outcome.objects.filter(account=OuterRef("pk")).order_by("-occurred_at", "-pk")
    Account.objects.annotate(newest_kind=Subquery(newest.values("kind")[:1])).filter(
        newest_kind="churned"
    ).exclude(lifecycle_stage="churned").update(lifecycle_stage="churned")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0012_contact_flags"),
        ("scoring", "0004_score_event_consumers"),
    ]

    operations = [migrations.RunPython(churned_stage, migrations.RunPython.noop)]
