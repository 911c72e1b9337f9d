"""The Segment-compatible endpoint (mounted under /api/v1/ by chs_site/api_urls.py).

``integrations/segment/`` takes one Segment message (Segment's webhook destination) or a
batch (its HTTP tracking API and libraries); ``integrations/segment/v1/batch`` is the same
endpoint at the path Segment's libraries append to their ``host``. Authenticated by an API
key with the ``ingest`` (or ``write``) scope, sent as HTTP Basic (the key as user name, an
empty password: Segment's write key) or ``Authorization: Token``. The rules are in
``scoring.services.segment``."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import (
    KeyBasicAuthentication,
    PerTokenThrottle,
    TokenAuthentication,
    api_user,
)
from chs_site.api_docs import error_responses
from chs_site.api_parsers import LenientJSONParser
from scoring.services.segment import MAX_MESSAGES, ingest_segment


class SegmentThrottle(PerTokenThrottle):
    """Its own budget per key (``SEGMENT_RATE_LIMIT``): product analytics arrive in far
    more requests than the rest of the API."""

    scope = "segment"


class SegmentMessageSerializer(serializers.Serializer):
    """Segment's Spec common fields (other fields are accepted and ignored; null is the same
    as absent, as Segment's libraries send it)."""

    type = serializers.ChoiceField(
        choices=["identify", "group", "track", "page", "screen", "alias"]
    )
    messageId = serializers.CharField(  # noqa: N815 (Segment's field names)
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=100,
        help_text="The dedupe key: a message seen in the last 7 days is a duplicate. "
        "Without one, an id is derived from the message's content.",
    )
    userId = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=255
    )  # noqa: N815
    anonymousId = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=255
    )  # noqa: N815
    groupId = serializers.CharField(  # noqa: N815
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="group: the account's external_id.",
    )
    event = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=200,
        help_text="track: required.",
    )
    name = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, help_text="page and screen."
    )
    traits = serializers.DictField(required=False, allow_null=True)
    properties = serializers.DictField(required=False, allow_null=True)
    context = serializers.DictField(  # type: ignore[assignment]
        required=False,
        allow_null=True,
        help_text="`context.groupId` attributes a track or page to an account.",
    )
    timestamp = serializers.DateTimeField(required=False, allow_null=True)
    originalTimestamp = serializers.DateTimeField(required=False, allow_null=True)  # noqa: N815
    sentAt = serializers.DateTimeField(required=False, allow_null=True)  # noqa: N815
    receivedAt = serializers.DateTimeField(required=False, allow_null=True)  # noqa: N815


class SegmentBatchSerializer(serializers.Serializer):
    batch = serializers.ListField(
        child=SegmentMessageSerializer(),
        min_length=1,
        max_length=MAX_MESSAGES,
        help_text=f"1 to {MAX_MESSAGES} messages.",
    )
    sentAt = serializers.DateTimeField(required=False, allow_null=True)  # noqa: N815
    context = serializers.DictField(required=False, allow_null=True)  # type: ignore[assignment]


class SkippedSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    field = serializers.CharField()
    reason = serializers.CharField()


class SegmentResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Messages read (duplicates included).")
    duplicates = serializers.IntegerField(help_text="Messages whose messageId was seen before.")
    skipped = SkippedSerializer(
        many=True, help_text="groupIds that name no account you may use (first 100)."
    )


_EXAMPLE_TRACK = {
    "anonymousId": "23adfd82-aa0f-45a7-a756-24f2a7a4c895",
    "context": {"library": {"name": "analytics.js", "version": "2.11.1"}, "ip": "108.0.78.21"},
    "event": "Course Clicked",
    "messageId": "ajs-f8ca1e4de5024d9430b3928bd8ac6b96",
    "properties": {"title": "Intro to Analytics"},
    "receivedAt": "2015-12-12T19:11:01.266Z",
    "sentAt": "2015-12-12T19:11:01.169Z",
    "timestamp": "2015-12-12T19:11:01.249Z",
    "type": "track",
    "userId": "AiUGstSDIg",
    "originalTimestamp": "2015-12-12T19:11:01.152Z",
}
_EXAMPLE_BATCH = {
    "batch": [
        {
            "type": "identify",
            "userId": "019mr8mf4r",
            "traits": {"email": "jake@yahoo.com", "name": "Jake Peterson", "age": 26},
            "timestamp": "2012-12-02T00:30:08.276Z",
        },
        {
            "type": "track",
            "userId": "019mr8mf4r",
            "event": "Song Played",
            "properties": {"name": "Fallin for You", "artist": "Dierks Bentley"},
            "timestamp": "2012-12-02T00:30:12.984Z",
        },
    ],
    "context": {"device": {"type": "phone", "name": "Apple iPhone 6"}},
}


class SegmentIngest(APIView):
    authentication_classes = [TokenAuthentication, KeyBasicAuthentication]
    parser_classes = [LenientJSONParser]
    throttle_classes = [SegmentThrottle]
    ingest_endpoint = True

    @extend_schema(
        summary="Send Segment messages (identify, group, track, page, screen, or a batch)",
        description=(
            "Segment-compatible: one Spec message (as Segment's webhook destination sends "
            'it) or `{"batch": [...]}` (as its HTTP tracking API and libraries send it), '
            f"up to {MAX_MESSAGES} messages. Authenticate with an API key of scope `ingest` "
            "or `write`: HTTP Basic with the key as the user name and an empty password, or "
            "`Authorization: Token <key>`. `group` links its user to the account whose "
            "external_id is the `groupId` (or the trait set on /scoring/product-analytics/); `track`, "
            "`page` and `screen` are rolled up within seconds into the daily metrics "
            "`segment_active_users`, `segment_events` and `segment_event_<name>` for the "
            "event names an admin selected. Validated as a whole: a malformed message is a "
            "400 naming its `index`, `field` and `reason`, and nothing is stored. Idempotent "
            "by `messageId`. A groupId naming no account you may use links nothing and is "
            "listed in `skipped`. 403 while an admin has the endpoint switched off."
        ),
        request=SegmentBatchSerializer,
        responses={
            200: OpenApiResponse(SegmentResultSerializer, description="Stored."),
            **error_responses(400),
        },
        examples=[
            OpenApiExample("batch (HTTP tracking API)", value=_EXAMPLE_BATCH, request_only=True),
            OpenApiExample("track (webhook destination)", value=_EXAMPLE_TRACK, request_only=True),
            OpenApiExample(
                "stored",
                value={"accepted": 2, "duplicates": 0, "skipped": []},
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # 200, not 202: Segment's libraries treat any other status as a failed upload.
        result = ingest_segment(user=api_user(request), body=request.data)
        return Response(result.as_dict(), status=status.HTTP_200_OK)


urlpatterns: list[URLPattern] = [
    path("integrations/segment/", SegmentIngest.as_view(), name="api-segment"),
    path("integrations/segment/v1/batch", SegmentIngest.as_view(), name="api-segment-batch"),
]
