"""REST endpoints of scorecard validation (mounted under /api/v1/ by chs_site/api_urls.py):
the backtest of a scorecard version and its suggested weights. Everyone signed in may read
the backtest (scorecards are readable by every role); suggesting weights is part of editing
a scorecard, so admins only."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.urls import URLPattern, URLResolver, path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import chs_site.converters  # noqa: F401  (registers <id:…>)
from chs_site.api_docs import error_responses
from chs_site.api_fields import StrictBooleanField, StrictIntegerField
from chs_site.errors import PermissionDenied
from scoring import validation
from scoring.models import Scorecard
from scoring.selectors.scorecards import scorecard_spec


class BacktestQuery(serializers.Serializer):
    lead_days = serializers.IntegerField(
        min_value=1,
        max_value=730,
        default=validation.LEAD_DAYS_DEFAULT,
        required=False,
        help_text="Days before each outcome (1–730).",
    )


class SuggestBody(serializers.Serializer):
    lead_days = StrictIntegerField(
        min_value=1, max_value=730, default=validation.LEAD_DAYS_DEFAULT, required=False
    )
    create_draft = StrictBooleanField(
        default=False,
        required=False,
        help_text="Also create a draft version with the suggested weights (its id is returned).",
    )


BACKTEST_EXAMPLE = {
    "scorecard": 3,
    "version": 2,
    "lead_days": 90,
    "n_outcomes": 394,
    "n_churned": 95,
    "n_scored": 394,
    "base_rate": 0.2411,
    "auc": 0.8013,
    "red_precision": 0.6667,
    "red_recall": 0.2963,
    "enough_outcomes": True,
    "bands": {
        "red": {"accounts": 12, "churned": 8, "churn_rate": 0.6667, "lift": 2.77},
        "yellow": {"accounts": 98, "churned": 40, "churn_rate": 0.4082, "lift": 1.69},
        "green": {"accounts": 284, "churned": 47, "churn_rate": 0.1655, "lift": 0.69},
    },
    "calibration": [
        {"score_from": 20, "score_to": 30, "accounts": 5, "churned": 5, "churn_rate": 1.0}
    ],
}

SUGGEST_EXAMPLE = {
    "scorecard": 3,
    "enough_outcomes": True,
    "lead_days": 90,
    "n_outcomes": 394,
    "n_churned": 95,
    "auc_current": 0.8013,
    "auc_suggested": 0.8108,
    "measures": [
        {
            "metric": "logins_per_user",
            "aggregation": "avg",
            "window_days": 14,
            "bad": 0.5,
            "good": 4.0,
            "current_weight": 1.0,
            "suggested_weight": 2.8,
            "no_signal": False,
            "coefficient": 1.4871,
        },
        {
            "metric": "overdue_invoices",
            "aggregation": "latest",
            "window_days": 30,
            "bad": 2.0,
            "good": 0.0,
            "current_weight": 1.0,
            "suggested_weight": None,
            "no_signal": True,
            "coefficient": 0.0,
        },
    ],
    "draft": None,
}


class ScorecardBacktest(APIView):
    @extend_schema(
        summary="Backtest a scorecard version against recorded outcomes",
        description=(
            "For each outcome of the accounts the version's segment matches, the score the "
            "version gives the account `lead_days` before the outcome, from only the metric "
            "values observed before that moment. Returns ROC AUC (low score → churn), churn "
            "rate and lift per band, precision/recall of red for churn and a calibration "
            "table. With fewer than 30 churned or 30 retained outcomes `enough_outcomes` is "
            "false: read the figures as anecdotes."
        ),
        parameters=[BacktestQuery],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 401, 404)},
        examples=[OpenApiExample("Backtest", value=BACKTEST_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        card = get_object_or_404(Scorecard, pk=pk)
        query = BacktestQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        backtest = validation.run_backtest(
            scorecard=card, lead_days=query.validated_data["lead_days"]
        )
        return Response(
            {
                "scorecard": card.pk,
                "version": card.version,
                "lead_days": backtest.lead_days,
                **backtest.metrics.as_dict(),
            }
        )


class ScorecardSuggestWeights(APIView):
    @extend_schema(
        summary="Suggest weights from outcomes (admins)",
        description=(
            "Fits a regularised logistic regression of 'retained' on each measure's points at "
            "lead time with non-negative weights; measures without signal are flagged and "
            "left out. `auc_suggested` is cross-validated (5 folds), `auc_current` is the "
            "current weights' AUC on the same outcomes. With too few outcomes (fewer than 30 "
            "churned or 30 retained) nothing is fitted: `enough_outcomes` is false and "
            "`message` says what is missing. `create_draft: true` also creates a draft."
        ),
        request=SuggestBody,
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 401, 403, 404)},
        examples=[
            OpenApiExample(
                "Request", value={"lead_days": 90, "create_draft": False}, request_only=True
            ),
            OpenApiExample("Suggestion", value=SUGGEST_EXAMPLE, response_only=True),
            OpenApiExample(
                "Too few outcomes",
                value={
                    "scorecard": 3,
                    "enough_outcomes": False,
                    "message": "Too few outcomes to suggest weights: 12 churned and 80 retained "
                    "at 90 days' lead; at least 30 of each are needed. Record more renewals and "
                    "churns first.",
                    "n_outcomes": 92,
                    "n_churned": 12,
                    "auc_current": None,
                    "auc_suggested": None,
                    "measures": [],
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        if not getattr(request.user, "is_admin", False):
            raise PermissionDenied("Only admins may tune scorecards.")
        card = get_object_or_404(Scorecard, pk=pk)
        body = SuggestBody(data=request.data)
        body.is_valid(raise_exception=True)
        lead_days = body.validated_data["lead_days"]
        spec = scorecard_spec(card)
        rows = validation.backtest_rows(spec, validation.outcomes_for(card), lead_days=lead_days)
        try:
            suggestion = validation.suggest_weights(spec, rows, lead_days=lead_days)
        except validation.TooFewOutcomes as exc:
            churned = sum(r.churned for r in rows)
            return Response(
                {
                    "scorecard": card.pk,
                    "enough_outcomes": False,
                    "message": str(exc),
                    "lead_days": lead_days,
                    "n_outcomes": len(rows),
                    "n_churned": churned,
                    "auc_current": None,
                    "auc_suggested": None,
                    "measures": [],
                }
            )
        payload: dict[str, Any] = {
            "scorecard": card.pk,
            "enough_outcomes": True,
            **suggestion.as_dict(),
            "draft": None,
        }
        if body.validated_data["create_draft"]:
            draft = validation.create_draft_from_suggestion(
                scorecard=card, author=request.user, lead_days=lead_days
            )
            payload["draft"] = {"id": draft.pk, "version": draft.version}
            return Response(payload, status=status.HTTP_201_CREATED)
        return Response(payload)


urlpatterns: list[URLPattern | URLResolver] = [
    path("scorecards/<id:pk>/backtest/", ScorecardBacktest.as_view(), name="scorecard-backtest"),
    path(
        "scorecards/<id:pk>/suggest-weights/",
        ScorecardSuggestWeights.as_view(),
        name="scorecard-suggest-weights",
    ),
]
