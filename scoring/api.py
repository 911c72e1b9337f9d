"""REST endpoints of this app (mounted under /api/v1/ by chs_site/api_urls.py): metrics
ingest, metric definitions, scorecards (drafts, publishing), outcomes, score history."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, URLResolver, path
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import chs_site.converters  # noqa: F401  (registers <account_id:…>)
from accounts.authentication import api_user, is_ingest_key
from accounts.selectors.access import get_account_for_user
from chs_site.api_docs import INGEST_NO_CONTENT, error_responses
from chs_site.api_fields import (
    PositiveFloatField,
    StrictBooleanField,
    StrictCharField,
    StrictDecimalField,
    StrictFilterSet,
    StrictFloatField,
    StrictIntegerField,
    StrictModelSerializer,
)
from chs_site.api_parsers import LenientJSONParser
from chs_site.confirm import counted
from chs_site.errors import Conflict, ValidationFailed
from scoring.contracts import MEASURE_WEIGHT_MAX, METRIC_VALUE_LIMIT
from scoring.models import Measure, MetricDefinition, Outcome, Score, Scorecard
from scoring.publish_outlook import PublishOutlook, publish_outlook
from scoring.services import ingest
from scoring.services.outcomes import record_outcome
from scoring.services.scorecards import (
    create_scorecard_from_data,
    publish_scorecard,
    update_scorecard_draft,
)
from scoring.services.values import create_metric_definition


class AdminWritesPermission(permissions.BasePermission):
    """Everyone signed in may read; only admins may change (DESIGN.md's role table)."""

    message = "Only admins may change this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in permissions.SAFE_METHODS or bool(
            getattr(request.user, "is_admin", False)
        )


# --- metrics ingest ----------------------------------------------------------------------


class MetricItemSerializer(serializers.Serializer):
    account = StrictCharField(help_text="The account's external_id.")
    metric = StrictCharField(help_text="A metric definition's key.")
    value = StrictFloatField(
        min_value=-METRIC_VALUE_LIMIT,
        max_value=METRIC_VALUE_LIMIT,
        help_text="A finite number between -1e15 and 1e15.",
    )
    observed_at = serializers.DateTimeField(
        help_text="ISO 8601; no time zone means UTC; at most 5 minutes in the future."
    )


class MetricsIngestSerializer(serializers.Serializer):
    values = serializers.ListField(
        child=MetricItemSerializer(),
        min_length=1,
        max_length=ingest.MAX_ITEMS,
        help_text=f"1 to {ingest.MAX_ITEMS} items.",
    )


class AcceptedSerializer(serializers.Serializer):
    accepted = StrictIntegerField()


class MetricsIngest(APIView):
    parser_classes = [LenientJSONParser]
    ingest_endpoint = True

    @extend_schema(
        summary="Send metric values (up to 10 000 per request)",
        description=(
            "Validated as a whole: if any item is bad the answer is 400 listing each bad "
            "item's `index`, `field` and `reason`, and nothing is stored. Re-sending the same "
            "(account, metric, observed_at) updates the value (latest wins), never duplicates. "
            "Accounts outside your scope are reported as unknown. On success the affected "
            "accounts' scores are recomputed by the scoring workers within seconds."
        ),
        request=MetricsIngestSerializer,
        responses={
            202: OpenApiResponse(AcceptedSerializer, description="All values stored."),
            **error_responses(400, 409),
        },
        examples=[
            OpenApiExample(
                "two values",
                value={
                    "values": [
                        {
                            "account": "ACME-1",
                            "metric": "logins_30d",
                            "value": 412,
                            "observed_at": "2026-11-20T00:00:00Z",
                        },
                        {
                            "account": "ACME-1",
                            "metric": "open_tickets",
                            "value": 3,
                            "observed_at": "2026-11-20T00:00:00Z",
                        },
                    ]
                },
                request_only=True,
            ),
            OpenApiExample(
                "accepted", value={"accepted": 2}, response_only=True, status_codes=["202"]
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        body = request.data
        if not isinstance(body, dict) or "values" not in body:
            raise ValidationFailed(
                "The body must be a JSON object with a 'values' list.",
                errors=[{"field": "values", "reason": "is missing"}],
            )
        accepted = ingest.ingest_metric_values(
            user=api_user(request),
            items=body["values"],
            source="api",
        )
        return Response({"accepted": accepted}, status=status.HTTP_202_ACCEPTED)


# --- metric definitions ------------------------------------------------------------------


class MetricDefinitionSerializer(StrictModelSerializer):
    class Meta:
        model = MetricDefinition
        fields = ["key", "name", "unit", "description", "direction"]
        extra_kwargs: dict[str, Any] = {"key": {"validators": []}}


class MetricDefinitionList(generics.ListAPIView):
    serializer_class = MetricDefinitionSerializer
    permission_classes = [
        permissions.IsAuthenticated,
        AdminWritesPermission,
        *generics.ListAPIView.permission_classes,
    ]
    queryset = MetricDefinition.objects.order_by("key")

    @extend_schema(
        examples=[
            OpenApiExample(
                "metrics",
                value={
                    "key": "logins_30d",
                    "name": "Logins (30 days)",
                    "unit": "logins",
                    "description": "",
                    "direction": "higher",
                },
                response_only=True,
                status_codes=["200"],
            )
        ],
        summary="List metric definitions",
        responses={200: MetricDefinitionSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Define a metric (admins)",
        responses={201: MetricDefinitionSerializer, **error_responses(400, 409)},
        examples=[
            OpenApiExample(
                "logins",
                value={
                    "key": "logins_30d",
                    "name": "Logins (30 days)",
                    "unit": "logins",
                    "description": "Distinct user logins in the last 30 days.",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = MetricDefinitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        metric = create_metric_definition(**serializer.validated_data)
        return Response(MetricDefinitionSerializer(metric).data, status=status.HTTP_201_CREATED)


# --- scorecards --------------------------------------------------------------------------


class MeasureSerializer(serializers.Serializer):
    metric = StrictCharField(help_text="Metric key.")
    weight = PositiveFloatField(
        max_value=MEASURE_WEIGHT_MAX, help_text=f"Above 0, at most {MEASURE_WEIGHT_MAX:g}."
    )
    aggregation = serializers.ChoiceField(choices=Measure.Aggregation.choices, default="latest")
    window_days = StrictIntegerField(min_value=1, max_value=3650, default=30)
    bad = StrictFloatField(
        min_value=-METRIC_VALUE_LIMIT,
        max_value=METRIC_VALUE_LIMIT,
        help_text="Value worth 0 points.",
    )
    good = StrictFloatField(
        min_value=-METRIC_VALUE_LIMIT,
        max_value=METRIC_VALUE_LIMIT,
        help_text="Value worth 100 points (below `bad`: lower is better).",
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        if isinstance(instance, Measure):
            return {
                "metric": instance.metric.key,
                "weight": instance.weight,
                "aggregation": instance.aggregation,
                "window_days": instance.window_days,
                "bad": instance.bad,
                "good": instance.good,
            }
        return super().to_representation(instance)

    def to_internal_value(self, data: Any) -> Any:
        # A measure is always sent whole, also inside a PATCH of its scorecard: DRF's partial
        # update would otherwise skip a missing field of a nested item (``weight``) and leave
        # the service a measure it cannot build.
        if isinstance(data, dict):
            missing = {
                name: [serializers.Field.default_error_messages["required"]]
                for name, field in self.fields.items()
                if field.required and name not in data
            }
            if missing:
                raise serializers.ValidationError(missing)
        return super().to_internal_value(data)


class MeasureListField(serializers.ListField):
    def to_representation(self, data: Any) -> list[Any]:
        items = data.all() if hasattr(data, "all") else data  # a scorecard's measures
        return super().to_representation(items)


class ScorecardSerializer(StrictModelSerializer):
    # A list field (not many=True) so the schema says minItems 1; a PATCH may leave it out.
    measures = MeasureListField(child=MeasureSerializer(), min_length=1)
    red_below = StrictFloatField(min_value=0, max_value=100, required=False)
    green_at = StrictFloatField(min_value=0, max_value=100, required=False)

    class Meta:
        model = Scorecard
        fields = [
            "id",
            "name",
            "segment",
            "version",
            "status",
            "red_below",
            "green_at",
            "missing_data",
            "based_on",
            "created_at",
            "published_at",
            "measures",
        ]
        read_only_fields = ["id", "version", "status", "based_on", "created_at", "published_at"]
        # A new draft takes its segment's next version (scoring.services.scorecards); the
        # unique (segment, version) check DRF would add tests the default version 1 instead.
        validators: list[Any] = []


SCORECARD_EXAMPLE = {
    "name": "Enterprise health",
    "segment": "Enterprise",
    "red_below": 40,
    "green_at": 70,
    "missing_data": "ignore",
    "measures": [
        {
            "metric": "logins_30d",
            "weight": 2,
            "aggregation": "latest",
            "window_days": 30,
            "bad": 10,
            "good": 200,
        },
        {
            "metric": "open_tickets",
            "weight": 1,
            "aggregation": "avg",
            "window_days": 30,
            "bad": 10,
            "good": 0,
        },
    ],
}


SCORECARD_OUT = {
    "id": 7,
    **SCORECARD_EXAMPLE,
    "version": 3,
    "status": "active",
    "based_on": 5,
    "created_at": "2026-11-01T08:00:00Z",
    "published_at": "2026-11-02T08:00:00Z",
}
SCORECARD_OUT_EXAMPLE = OpenApiExample(
    "scorecard", value=SCORECARD_OUT, response_only=True, status_codes=["200"]
)


def _scorecards() -> QuerySet[Scorecard]:
    return Scorecard.objects.prefetch_related("measures__metric").order_by("segment", "-version")


class ScorecardFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=Scorecard.Status.choices)
    segment = django_filters.CharFilter()

    class Meta:
        model = Scorecard
        fields = ["status", "segment"]


class ScorecardList(generics.ListAPIView):
    serializer_class = ScorecardSerializer
    filterset_class = ScorecardFilter
    permission_classes = [
        permissions.IsAuthenticated,
        AdminWritesPermission,
        *generics.ListAPIView.permission_classes,
    ]

    def get_queryset(self) -> QuerySet[Scorecard]:
        return _scorecards()

    @extend_schema(
        examples=[
            OpenApiExample(
                "versions", value=SCORECARD_OUT, response_only=True, status_codes=["200"]
            )
        ],
        summary="List scorecard versions",
        responses={200: ScorecardSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create a draft scorecard (admins)",
        description="A new version for the segment (blank = the default scorecard), as a draft; publish it to make it score accounts.",
        responses={201: ScorecardSerializer, **error_responses(400, 409)},
        examples=[OpenApiExample("draft", value=SCORECARD_EXAMPLE, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        serializer = ScorecardSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        scorecard = create_scorecard_from_data(
            author=api_user(request), data=dict(serializer.validated_data)
        )
        return Response(
            ScorecardSerializer(_scorecards().get(pk=scorecard.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class ScorecardDetail(generics.GenericAPIView):
    serializer_class = ScorecardSerializer
    permission_classes = [
        permissions.IsAuthenticated,
        AdminWritesPermission,
        *generics.GenericAPIView.permission_classes,
    ]

    @extend_schema(
        examples=[SCORECARD_OUT_EXAMPLE],
        summary="Read a scorecard version",
        responses={200: ScorecardSerializer, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(ScorecardSerializer(get_object_or_404(_scorecards(), pk=pk)).data)

    @extend_schema(
        summary="Edit a scorecard (admins)",
        description=(
            "A draft is edited in place (200). An active or retired version is never changed: "
            "a new draft version based on it is created with your changes (201, with its new "
            "`id`). `measures`, when sent, replaces the whole list; the segment is fixed."
        ),
        request=ScorecardSerializer,
        responses={
            200: ScorecardSerializer,
            201: ScorecardSerializer,
            **error_responses(400, 404, 409),
        },
        examples=[
            OpenApiExample("raise the red threshold", value={"red_below": 45}, request_only=True)
        ],
    )
    def patch(self, request: Request, pk: int) -> Response:
        scorecard = get_object_or_404(Scorecard, pk=pk)
        serializer = ScorecardSerializer(scorecard, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        result = update_scorecard_draft(
            scorecard=scorecard,
            author=api_user(request),
            data=dict(serializer.validated_data),
        )
        code = status.HTTP_200_OK if result.pk == scorecard.pk else status.HTTP_201_CREATED
        return Response(ScorecardSerializer(_scorecards().get(pk=result.pk)).data, status=code)


class PlaybookEffectSerializer(serializers.Serializer):
    playbook = StrictIntegerField(source="playbook_id", help_text="The playbook's id.")
    name = StrictCharField()
    accounts = StrictIntegerField(help_text="Accounts it would fire for.")
    tasks = StrictIntegerField(help_text="Tasks it would create.")


class PublishOutlookSerializer(serializers.Serializer):
    """What publishing would do; the same counts the scorecard page's confirmation shows."""

    accounts = StrictIntegerField(help_text="Accounts re-scored by this version.")
    compared_with = StrictCharField(help_text="The version scoring them today.")
    moved = StrictIntegerField(help_text="Accounts that would move to another band.")
    tasks = StrictIntegerField(help_text="Tasks the playbooks would create.")
    playbooks = PlaybookEffectSerializer(
        source="effects", many=True, help_text="Each playbook that would create tasks."
    )


class PublishRequestSerializer(serializers.Serializer):
    confirm = StrictBooleanField(
        required=False,
        default=False,
        help_text="Must be true: publishing re-scores accounts and may create tasks. "
        "GET this URL first to see how many.",
    )


PUBLISH_OUTLOOK_EXAMPLE = OpenApiExample(
    "what publishing would do",
    value={
        "accounts": 240,
        "compared_with": "Default v3 (active)",
        "moved": 17,
        "tasks": 9,
        "playbooks": [{"playbook": 4, "name": "Fell into red", "accounts": 9, "tasks": 9}],
    },
    response_only=True,
)


def _draft_outlook(card: Scorecard) -> PublishOutlook:
    if card.status != Scorecard.Status.DRAFT:
        raise Conflict(f"Only a draft can be published; this version is {card.status}.")
    return publish_outlook(card)


def _outlook_sentence(outlook: PublishOutlook) -> str:
    return (
        f"Publishing re-scores {counted(outlook.accounts, 'account')}, moves "
        f"{counted(outlook.moved, 'account')} to another band and creates "
        f"{counted(outlook.tasks, 'task')}."
    )


class ScorecardPublish(APIView):
    """GET: a dry run (what publishing would do, nothing written). POST with
    ``{"confirm": true}``: publish. A POST without it publishes nothing and answers 400
    with the dry run's counts in words, as the pages refuse an unconfirmed publish."""

    permission_classes = [
        permissions.IsAuthenticated,
        AdminWritesPermission,
        *APIView.permission_classes,
    ]

    @extend_schema(
        summary="What publishing a draft would do (dry run)",
        description="The accounts it re-scores, how many move band and the tasks each "
        "playbook would create. Nothing is written. Anyone who may read scorecards may ask.",
        responses={200: PublishOutlookSerializer, **error_responses(404, 409)},
        examples=[PUBLISH_OUTLOOK_EXAMPLE],
    )
    def get(self, request: Request, pk: int) -> Response:
        card = get_object_or_404(Scorecard, pk=pk)
        return Response(PublishOutlookSerializer(_draft_outlook(card)).data)

    @extend_schema(
        summary="Publish a draft (admins)",
        description='Needs `{"confirm": true}`: makes the draft the active version for '
        "its segment and retires the one that was active; scores are recomputed and "
        "playbooks may create tasks (GET this URL first to see how many). Without "
        "`confirm` nothing is published and the answer is a 400 saying what would happen.",
        request=PublishRequestSerializer,
        responses={200: ScorecardSerializer, **error_responses(400, 404, 409)},
        examples=[
            OpenApiExample("confirm", value={"confirm": True}, request_only=True),
            SCORECARD_OUT_EXAMPLE,
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        card = get_object_or_404(Scorecard, pk=pk)
        serializer = PublishRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not serializer.validated_data["confirm"]:
            raise ValidationFailed(
                'Nothing was published: send {"confirm": true} to publish. '
                + _outlook_sentence(_draft_outlook(card)),
                errors=[{"field": "confirm", "reason": "Must be true to publish."}],
            )
        published = publish_scorecard(scorecard=card, author=api_user(request))
        return Response(ScorecardSerializer(_scorecards().get(pk=published.pk)).data)


# --- outcomes ----------------------------------------------------------------------------


class OutcomeSerializer(StrictModelSerializer):
    account = StrictCharField(
        source="account.external_id", max_length=100, help_text="The account's external_id."
    )
    arr_change = StrictDecimalField(
        max_digits=14, decimal_places=2, help_text="ARR gained (+) or lost (−)."
    )

    class Meta:
        model = Outcome
        fields = ["id", "account", "kind", "occurred_at", "arr_change", "note", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[Any] = []


class OutcomeCreate(generics.GenericAPIView):
    serializer_class = OutcomeSerializer
    ingest_endpoint = True

    @extend_schema(
        summary="Record an outcome (renewed, churned, expanded, contracted)",
        description="Idempotent on (account, kind, occurred_at): 201 when new, 200 when it was already recorded (updated if the ARR change or note differ).",
        responses={
            201: OutcomeSerializer,
            200: OutcomeSerializer,
            **INGEST_NO_CONTENT,
            **error_responses(400, 404),
        },
        examples=[
            OpenApiExample(
                "renewal",
                value={
                    "account": "ACME-1",
                    "kind": "renewed",
                    "occurred_at": "2026-11-01",
                    "arr_change": "5000.00",
                    "note": "Two-year term.",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = OutcomeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        account = get_account_for_user(api_user(request), data["account"]["external_id"])
        existed = Outcome.objects.filter(
            account=account, kind=data["kind"], occurred_at=data["occurred_at"]
        ).exists()
        outcome = record_outcome(
            user=api_user(request),
            account=account,
            kind=data["kind"],
            occurred_at=data["occurred_at"],
            arr_change=data["arr_change"],
            note=data.get("note", ""),
        )
        code = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        if is_ingest_key(request):
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(OutcomeSerializer(outcome).data, status=code)


# --- score history -----------------------------------------------------------------------


class BreakdownSerializer(serializers.Serializer):
    metric = StrictCharField()
    name = StrictCharField()
    aggregation = StrictCharField()
    window_days = StrictIntegerField()
    value = StrictFloatField(allow_null=True)
    points = StrictFloatField(allow_null=True)
    weight = StrictFloatField()
    contribution = StrictFloatField()
    stale = StrictBooleanField()


class ScoreSerializer(StrictModelSerializer):
    scorecard_version = StrictIntegerField(source="scorecard.version", read_only=True)
    breakdown = BreakdownSerializer(many=True, read_only=True)

    class Meta:
        model = Score
        fields = [
            "id",
            "score",
            "band",
            "computed_at",
            "scorecard",
            "scorecard_version",
            "breakdown",
        ]


class AccountScores(generics.ListAPIView):
    serializer_class = ScoreSerializer

    def get_queryset(self) -> QuerySet[Score]:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Score.objects.none()
        account = get_account_for_user(api_user(self.request), self.kwargs["external_id"])
        return (
            Score.objects.filter(account=account)
            .select_related("scorecard")
            .order_by("-computed_at", "-id")
        )

    @extend_schema(
        examples=[
            OpenApiExample(
                "history",
                value={
                    "id": 981,
                    "score": 62.5,
                    "band": "yellow",
                    "computed_at": "2026-11-20T09:00:03Z",
                    "scorecard": 7,
                    "scorecard_version": 3,
                    "breakdown": [
                        {
                            "metric": "logins_30d",
                            "name": "Logins (30 days)",
                            "aggregation": "latest",
                            "window_days": 30,
                            "value": 120.0,
                            "points": 57.9,
                            "weight": 2.0,
                            "contribution": 38.6,
                            "stale": False,
                        },
                        {
                            "metric": "open_tickets",
                            "name": "Open tickets",
                            "aggregation": "avg",
                            "window_days": 30,
                            "value": 2.8,
                            "points": 72.0,
                            "weight": 1.0,
                            "contribution": 24.0,
                            "stale": False,
                        },
                    ],
                },
                response_only=True,
                status_codes=["200"],
            )
        ],
        summary="An account's score history, newest first, with breakdown",
        responses={200: ScoreSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


urlpatterns: list[URLPattern | URLResolver] = [
    path("metrics/", MetricsIngest.as_view(), name="api-metrics"),
    path("metric-definitions/", MetricDefinitionList.as_view(), name="api-metric-definitions"),
    path("scorecards/", ScorecardList.as_view(), name="api-scorecards"),
    path("scorecards/<id:pk>/", ScorecardDetail.as_view(), name="api-scorecard"),
    path("scorecards/<id:pk>/publish/", ScorecardPublish.as_view(), name="api-scorecard-publish"),
    path("outcomes/", OutcomeCreate.as_view(), name="api-outcomes"),
    path(
        "accounts/<account_id:external_id>/scores/",
        AccountScores.as_view(),
        name="api-account-scores",
    ),
]
