"""Scoring's shapes that other apps' API endpoints include: the churn-risk signal on an
account (``GET /api/v1/accounts/{external_id}/``)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.models import Account
from scoring import validation
from scoring.models import Score


class ChurnDriverSerializer(serializers.Serializer):
    metric = serializers.CharField()
    name = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    points = serializers.FloatField(allow_null=True)
    effect = serializers.FloatField(
        help_text="Against the average account: negative raises the risk."
    )
    raises_risk = serializers.BooleanField()


class ChurnRiskSerializer(serializers.Serializer):
    signal = serializers.CharField(
        help_text="Always 'churn-risk model': a second signal beside the health score."
    )
    probability = serializers.FloatField(help_text="Estimated chance of churn, 0–1.")
    model_version = serializers.IntegerField(help_text="The fitted model's id.")
    fitted_at = serializers.DateTimeField()
    model_auc = serializers.FloatField(allow_null=True, help_text="Cross-validated ROC AUC.")
    drivers = ChurnDriverSerializer(many=True, help_text="The measures that drive it most.")


def churn_risk_payload(account: Account) -> dict[str, Any] | None:
    """The account's churn risk from the stored model (None without a model); uses the
    newest score's breakdown when it holds the model's measures."""
    latest = Score.objects.filter(account=account).order_by("-computed_at").first()
    risk = validation.churn_risk_for(
        account=account, breakdown=latest.breakdown if latest is not None else None
    )
    if risk is None:
        return None
    return {"signal": "churn-risk model", **risk.as_dict()}
