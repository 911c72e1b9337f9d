"""REST endpoints of this app (mounted under /api/v1/ by chs_site/api_urls.py).

Each view: fetch through ``accounts.selectors`` (404 outside the user's scope), validate
with a serializer, call one service, serialize the result."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.urls import URLPattern, URLResolver, path
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

import chs_site.converters  # noqa: F401  (registers <account_id:…>)
from accounts.authentication import api_user, is_ingest_key
from accounts.models import Account, Feedback, HealthBand, User, validate_external_id
from accounts.selectors.access import assignable_owner, get_account_for_user, visible_accounts
from accounts.services.accounts import create_account, update_account
from chs_site.api_docs import INGEST_NO_CONTENT, error_responses
from chs_site.api_fields import (
    StrictCharField,
    StrictFilterSet,
    StrictFloatField,
    StrictIntegerField,
    StrictModelSerializer,
)
from scoring.serializers import ChurnRiskSerializer, churn_risk_payload
from scoring.services.feedback import log_feedback

ACCOUNT_EXAMPLE = {
    "external_id": "ACME-1",
    "name": "Acme Corp",
    "domain": "acme.example",
    "segment": "Enterprise",
    "owner": "csm1",
    "arr": "120000.00",
    "renewal_date": "2027-03-31",
    "lifecycle_stage": "adoption",
}
ACCOUNT_OUT = {
    **ACCOUNT_EXAMPLE,
    "health": {
        "score": 62.5,
        "band": "yellow",
        "computed_score": 62.5,
        "computed_at": "2026-11-20T09:00:03Z",
        "trend_30d": -4.5,
    },
}


class HealthSerializer(serializers.Serializer):
    score = StrictFloatField(
        source="health_score",
        allow_null=True,
        help_text="What people see (an active override wins).",
    )
    band = StrictCharField(
        source="health_band",
        allow_blank=True,
        help_text="red, yellow, green, or blank for no data.",
    )
    computed_score = StrictFloatField(allow_null=True)
    computed_at = serializers.DateTimeField(allow_null=True)
    trend_30d = StrictFloatField(
        source="score_change_30d",
        allow_null=True,
        help_text="Computed score now minus 30 days ago.",
    )


class AccountSerializer(StrictModelSerializer):
    owner = StrictCharField(
        source="owner.username",
        allow_null=True,
        required=False,
        max_length=150,
        help_text=(
            "The owning CSM's username: yourself, someone in your team (managers) or anyone "
            "(admins). Defaults to you (admins: nobody). Anyone else answers 409 with the "
            "same message whether the user exists or not."
        ),
    )
    health = HealthSerializer(source="*", read_only=True)

    class Meta:
        model = Account
        fields = [
            "external_id",
            "name",
            "domain",
            "segment",
            "owner",
            "arr",
            "renewal_date",
            "lifecycle_stage",
            "health",
        ]
        # Uniqueness is checked by the service, which names the clash in words.
        extra_kwargs = {
            "external_id": {"validators": [validate_external_id]},
            "arr": {"min_value": 0},
        }


class AccountDetailSerializer(AccountSerializer):
    """The detail adds the churn-risk model's estimate, labelled as such."""

    churn_risk = serializers.SerializerMethodField(
        help_text="Second signal beside the health score: the fitted churn-risk model's "
        "probability, its version and the measures that drive it (null until fitted)."
    )

    class Meta(AccountSerializer.Meta):
        fields = [*AccountSerializer.Meta.fields, "churn_risk"]

    @extend_schema_field(ChurnRiskSerializer(allow_null=True))
    def get_churn_risk(self, account: Account) -> dict[str, Any] | None:
        return churn_risk_payload(account)


class AccountUpdateSerializer(AccountSerializer):
    class Meta(AccountSerializer.Meta):
        read_only_fields = ["external_id"]


def _with_owner(user: User, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the owner's username replaced by the user, if ``user`` may assign
    them (``None`` stays: the service decides who may leave an account unowned)."""
    if "owner" not in data:
        return dict(data)
    username = (data["owner"] or {}).get("username")
    return {**data, "owner": None if username is None else assignable_owner(user, username)}


class AccountFilter(StrictFilterSet):
    band = django_filters.ChoiceFilter(field_name="health_band", choices=HealthBand.choices)
    segment = django_filters.CharFilter(field_name="segment")
    owner = django_filters.CharFilter(field_name="owner__username", help_text="Owner's username.")
    renewal_after = django_filters.DateFilter(
        field_name="renewal_date", lookup_expr="gte", help_text="Renewal on or after (YYYY-MM-DD)."
    )
    renewal_before = django_filters.DateFilter(
        field_name="renewal_date", lookup_expr="lte", help_text="Renewal on or before (YYYY-MM-DD)."
    )

    class Meta:
        model = Account
        fields = ["band", "segment", "owner", "renewal_after", "renewal_before"]


class AccountList(generics.ListAPIView):
    """Accounts in your scope (a CSM their book, a manager the team's, an admin all)."""

    serializer_class = AccountSerializer
    filterset_class = AccountFilter
    ingest_endpoint = True  # POST creates accounts: integrations push them

    def get_queryset(self) -> QuerySet[Account]:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Account.objects.none()
        return (
            visible_accounts(api_user(self.request)).select_related("owner").order_by("external_id")
        )

    @extend_schema(
        summary="List accounts in your scope",
        responses={200: AccountSerializer(many=True), **error_responses(400, 404)},
        examples=[
            OpenApiExample("a page", value=ACCOUNT_OUT, response_only=True, status_codes=["200"])
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create an account",
        request=AccountSerializer,
        responses={201: AccountSerializer, **INGEST_NO_CONTENT, **error_responses(400, 409)},
        examples=[OpenApiExample("new account", value=ACCOUNT_EXAMPLE, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        serializer = AccountSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = api_user(request)
        account = create_account(user=user, data=_with_owner(user, serializer.validated_data))
        if is_ingest_key(request):
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(AccountSerializer(account).data, status=status.HTTP_201_CREATED)


class AccountDetail(generics.GenericAPIView):
    serializer_class = AccountSerializer
    ingest_endpoint = True

    @extend_schema(
        summary="Read an account",
        responses={200: AccountDetailSerializer, **error_responses(404)},
        examples=[
            OpenApiExample("account", value=ACCOUNT_OUT, response_only=True, status_codes=["200"])
        ],
    )
    def get(self, request: Request, external_id: str) -> Response:
        account = get_account_for_user(api_user(request), external_id)
        return Response(AccountDetailSerializer(account).data)

    @extend_schema(
        summary="Update an account",
        request=AccountUpdateSerializer,
        responses={200: AccountSerializer, **INGEST_NO_CONTENT, **error_responses(400, 404, 409)},
        examples=[
            OpenApiExample(
                "new renewal date", value={"renewal_date": "2027-06-30"}, request_only=True
            )
        ],
    )
    def patch(self, request: Request, external_id: str) -> Response:
        account = get_account_for_user(api_user(request), external_id)
        serializer = AccountUpdateSerializer(account, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = api_user(request)
        account = update_account(
            user=user, account=account, data=_with_owner(user, serializer.validated_data)
        )
        if is_ingest_key(request):
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(AccountSerializer(account).data)


class FeedbackSerializer(StrictModelSerializer):
    account = StrictCharField(
        max_length=100, help_text="The account's external_id.", source="account.external_id"
    )
    author: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    score = StrictIntegerField(
        required=False,
        allow_null=True,
        help_text=(
            "NPS 0–10 or CSAT 1–5: for those kinds, or for a call or meeting that names "
            "its `survey`."
        ),
    )
    occurred_at = serializers.DateTimeField(required=False, help_text="Defaults to now.")

    class Meta:
        model = Feedback
        fields = [
            "id",
            "account",
            "kind",
            "score",
            "survey",
            "sentiment",
            "text",
            "occurred_at",
            "author",
            "created_at",
        ]
        read_only_fields = ["id", "author", "created_at"]


class FeedbackCreate(generics.GenericAPIView):
    serializer_class = FeedbackSerializer
    ingest_endpoint = True

    @extend_schema(
        summary="Log feedback (a call, note, meeting, email, NPS or CSAT answer)",
        description=(
            "NPS and CSAT scores also become metric values (`nps`, `csat`), and a sentiment "
            "becomes the `sentiment` metric (positive 100, neutral 50, negative 0), so the "
            "account's score is recomputed."
        ),
        responses={201: FeedbackSerializer, **INGEST_NO_CONTENT, **error_responses(400, 404)},
        examples=[
            OpenApiExample(
                "NPS answer",
                value={
                    "account": "ACME-1",
                    "kind": "nps",
                    "score": 9,
                    "sentiment": "positive",
                    "text": "Loves the reports.",
                    "occurred_at": "2026-11-20T10:00:00Z",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = FeedbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        account = get_account_for_user(api_user(request), data["account"]["external_id"])
        feedback = log_feedback(
            user=api_user(request),
            account=account,
            kind=data["kind"],
            score=data.get("score"),
            survey=data.get("survey", ""),
            sentiment=data.get("sentiment", ""),
            text=data.get("text", ""),
            occurred_at=data.get("occurred_at"),
        )
        if is_ingest_key(request):
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(FeedbackSerializer(feedback).data, status=status.HTTP_201_CREATED)


urlpatterns: list[URLPattern | URLResolver] = [
    path("accounts/", AccountList.as_view(), name="api-accounts"),
    path("accounts/<account_id:external_id>/", AccountDetail.as_view(), name="api-account"),
    path("feedback/", FeedbackCreate.as_view(), name="api-feedback"),
]
