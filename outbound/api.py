"""Webhooks and REST hooks through the REST API (mounted under /api/v1/).

- ``/webhooks/``: endpoints, for admins only (a session, or an admin's key: read to list,
  write to change); for anyone else the endpoints do not exist (404). A created endpoint's
  ``secret`` is in the 201 answer and never again.
- ``/hooks/``: Zapier-style REST hooks, for any key with the write scope: subscribe a
  target URL to one event, unsubscribe by id; a hook receives events about the accounts
  its key's user may see. ``/hooks/samples/{event}/`` returns a recent real payload (or
  the documented example) for the no-code tool's field mapping."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, URLResolver, path
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import AdminsOnly, api_user
from chs_site.api_docs import error_responses
from chs_site.api_fields import StrictBooleanField, StrictCharField, StrictURLField
from outbound.events import SUBSCRIBABLE, EventType, example_payload
from outbound.models import Delivery, Endpoint
from outbound.selectors import deliveries_of, hook_for, sample_payload
from outbound.services import subscriptions

ADMIN_PERMISSIONS = [permissions.IsAuthenticated, AdminsOnly, *APIView.permission_classes]

ENDPOINT_EXAMPLE = {
    "id": 7,
    "kind": "webhook",
    "url": "https://hooks.example.com/chs",
    "description": "Data warehouse",
    "event_types": ["account.band_changed", "task.created"],
    "enabled": True,
    "owner": "admin",
    "created_at": "2026-12-04T09:00:00Z",
}


class EndpointSerializer(serializers.ModelSerializer):
    owner: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE), allow_empty=False, min_length=1
    )
    url = StrictURLField(max_length=2000)
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    enabled = StrictBooleanField(required=False)

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "kind",
            "url",
            "description",
            "event_types",
            "enabled",
            "owner",
            "created_at",
        ]
        read_only_fields = ["id", "kind", "owner", "created_at"]


class NewEndpointSerializer(EndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret (whsec_…): in this answer only."
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class EndpointUpdateSerializer(serializers.Serializer):
    url = StrictURLField(max_length=2000, required=False)
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE),
        allow_empty=False,
        min_length=1,
        required=False,
    )
    enabled = StrictBooleanField(required=False)


class DeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.CharField(source="event.event_id", read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "last_attempt_at",
            "last_status_code",
            "last_response",
            "last_error",
            "next_attempt_at",
            "delivered_at",
        ]
        read_only_fields = fields


def _issued(issued: subscriptions.IssuedEndpoint) -> dict[str, Any]:
    return {**EndpointSerializer(issued.endpoint).data, "secret": issued.secret}


class EndpointList(generics.ListAPIView):
    """Webhook endpoints and REST hooks, newest first (admins)."""

    serializer_class = EndpointSerializer
    permission_classes = ADMIN_PERMISSIONS

    def get_queryset(self) -> QuerySet[Endpoint]:
        return Endpoint.objects.select_related("owner").order_by("-created_at", "-id")

    @extend_schema(
        summary="List webhook endpoints (admins)",
        responses={200: EndpointSerializer(many=True), **error_responses(404)},
        examples=[
            OpenApiExample(
                "endpoint", value=ENDPOINT_EXAMPLE, response_only=True, status_codes=["200"]
            )
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Subscribe a URL to events (admins); the answer holds the secret, once",
        request=EndpointSerializer,
        responses={201: NewEndpointSerializer, **error_responses(400, 404)},
        examples=[
            OpenApiExample(
                "subscribe",
                value={
                    "url": "https://hooks.example.com/chs",
                    "description": "Data warehouse",
                    "event_types": ["account.band_changed", "task.created"],
                },
                request_only=True,
            ),
            OpenApiExample(
                "created",
                value={**ENDPOINT_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        data = EndpointSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        issued = subscriptions.create_endpoint(
            actor=api_user(request),
            url=v["url"],
            event_types=v["event_types"],
            description=v.get("description", ""),
        )
        return Response(_issued(issued), status=status.HTTP_201_CREATED)


class EndpointDetail(APIView):
    permission_classes = ADMIN_PERMISSIONS

    def _endpoint(self, pk: int) -> Endpoint:
        return get_object_or_404(Endpoint.objects.select_related("owner"), pk=pk)

    @extend_schema(
        summary="One webhook endpoint (admins)",
        responses={200: EndpointSerializer, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(EndpointSerializer(self._endpoint(pk)).data)

    @extend_schema(
        summary="Change an endpoint: URL, description, events, enabled (admins; audited)",
        request=EndpointUpdateSerializer,
        responses={200: EndpointSerializer, **error_responses(400, 404)},
        examples=[OpenApiExample("disable", value={"enabled": False}, request_only=True)],
    )
    def patch(self, request: Request, pk: int) -> Response:
        endpoint = self._endpoint(pk)
        data = EndpointUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        updated = subscriptions.update_endpoint(
            actor=api_user(request), endpoint=endpoint, **data.validated_data
        )
        return Response(EndpointSerializer(updated).data)

    @extend_schema(
        summary="Delete an endpoint and its deliveries (admins; audited)",
        responses={204: None, **error_responses(404)},
    )
    def delete(self, request: Request, pk: int) -> Response:
        subscriptions.delete_endpoint(actor=api_user(request), endpoint=self._endpoint(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryList(generics.ListAPIView):
    """What was sent to one endpoint, when, and with what answer; newest first."""

    serializer_class = DeliverySerializer
    permission_classes = ADMIN_PERMISSIONS

    def get_queryset(self) -> QuerySet[Delivery]:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Delivery.objects.none()
        return deliveries_of(get_object_or_404(Endpoint, pk=self.kwargs["pk"]))

    @extend_schema(
        summary="Deliveries of one endpoint (admins)",
        responses={200: DeliverySerializer(many=True), **error_responses(404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class HookSubscribeSerializer(serializers.Serializer):
    target_url = StrictURLField(max_length=2000, help_text="Where CHS posts the events.")
    event = serializers.ChoiceField(choices=EventType.choices)


class HookSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    target_url = serializers.CharField(source="url")
    event = serializers.SerializerMethodField()
    secret = serializers.CharField(
        required=False, help_text="Signing secret (whsec_…), in the subscribe answer only."
    )

    def get_event(self, endpoint: Endpoint) -> str:
        return endpoint.event_types[0]


class HookSubscribe(APIView):
    @extend_schema(
        summary="Subscribe a REST hook (Zapier): a target URL to one event",
        description=(
            "For any API key with the `write` scope. The hook receives the event about the "
            "accounts the key's user may see, as signed JSON (Standard Webhooks; Zapier "
            "may ignore the signature). Answer 410 Gone to a delivery to unsubscribe."
        ),
        request=HookSubscribeSerializer,
        responses={201: HookSerializer, **error_responses(400)},
        examples=[
            OpenApiExample(
                "subscribe",
                value={
                    "target_url": "https://hooks.zapier.com/hooks/standard/1234/abcd/",
                    "event": "account.band_changed",
                },
                request_only=True,
            ),
            OpenApiExample(
                "subscribed",
                value={
                    "id": 12,
                    "target_url": "https://hooks.zapier.com/hooks/standard/1234/abcd/",
                    "event": "account.band_changed",
                    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        data = HookSubscribeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = subscriptions.subscribe_hook(
            actor=api_user(request),
            target_url=data.validated_data["target_url"],
            event=data.validated_data["event"],
        )
        body = {**HookSerializer(issued.endpoint).data, "secret": issued.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class HookUnsubscribe(APIView):
    @extend_schema(
        summary="Unsubscribe a REST hook (yours; an admin any)",
        responses={204: None, **error_responses(404)},
    )
    def delete(self, request: Request, pk: int) -> Response:
        user = api_user(request)
        subscriptions.delete_endpoint(actor=user, endpoint=hook_for(user, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class HookSample(APIView):
    @extend_schema(
        summary="A sample payload of one event type",
        description=(
            "The newest payload of this type sent about an account you may see, or the "
            "documented example when none was sent yet. No-code tools use it to map fields."
        ),
        parameters=[
            OpenApiParameter(
                "event",
                str,
                OpenApiParameter.PATH,
                enum=list(SUBSCRIBABLE),
                description="Event type",
            )
        ],
        responses={200: dict[str, Any], **error_responses(404)},
        examples=[
            OpenApiExample(
                event_type,
                value=example_payload(event_type),
                response_only=True,
                status_codes=["200"],
            )
            for event_type in SUBSCRIBABLE
        ],
    )
    def get(self, request: Request, event: str) -> Response:
        if event not in SUBSCRIBABLE:
            raise NotFound(f"No event type {event[:40]!r}; use one of {', '.join(SUBSCRIBABLE)}.")
        return Response(sample_payload(api_user(request), event))


urlpatterns: list[URLPattern | URLResolver] = [
    path("webhooks/", EndpointList.as_view(), name="api-webhooks"),
    path("webhooks/<id:pk>/", EndpointDetail.as_view(), name="api-webhook"),
    path("webhooks/<id:pk>/deliveries/", DeliveryList.as_view(), name="api-webhook-deliveries"),
    path("hooks/", HookSubscribe.as_view(), name="api-hooks"),
    path("hooks/<id:pk>/", HookUnsubscribe.as_view(), name="api-hook"),
    path("hooks/samples/<str:event>/", HookSample.as_view(), name="api-hook-sample"),
]
