"""REST endpoints of this app (mounted under /api/v1/ by chs_site/api_urls.py).

``GET|POST /api/v1/tasks/`` and ``GET|PATCH /api/v1/tasks/{id}/``. Tasks are scoped by
``visible_tasks``; a task outside the caller's scope is a 404. Service refusals
(``ApplicationError``) reach the API-wide handler (``chs_site.api_errors``), which answers
400 with ``{"error", "details": [{"field", "reason"}]}``. Status changes go
through the services (explicit transitions table): ``{"status": "done", "outcome_note": …}``,
``{"status": "snoozed", "snoozed_until": "YYYY-MM-DD", "snooze_reason": …}``,
``{"status": "cancelled"}``, ``{"status": "open"}`` (from snoozed); ``{"assignee": username}``
reassigns (managers within their team, admins).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db import transaction
from django.http import Http404
from django.urls import URLPattern, URLResolver, path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import api_user
from accounts.models import User
from accounts.selectors.access import get_account_for_user, visible_users
from chs_site.api_docs import error_responses
from chs_site.api_fields import StrictCharField, StrictFilterSet, StrictModelSerializer
from chs_site.converters import MAX_ID
from chs_site.errors import Conflict
from playbooks.models import Task, TaskPriority, TaskStatus
from playbooks.selectors.tasks import get_task_for_user, visible_tasks
from playbooks.services.tasks import create_task, reassign_task, transition_task, update_task


class TaskSerializer(StrictModelSerializer):
    account: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="external_id", read_only=True
    )
    assignee: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    playbook: serializers.PrimaryKeyRelatedField = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True
    )
    playbook_name = StrictCharField(
        source="playbook.name", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Task
        fields = [
            "id",
            "account",
            "title",
            "description",
            "status",
            "priority",
            "due_date",
            "assignee",
            "playbook",
            "playbook_name",
            "snoozed_until",
            "snooze_reason",
            "outcome_note",
            "created_at",
            "updated_at",
            "closed_at",
        ]
        read_only_fields = fields


class TaskCreateSerializer(serializers.Serializer):
    account = StrictCharField(max_length=100, help_text="The account's external_id.")
    title = StrictCharField(max_length=200)
    description = StrictCharField(required=False, allow_blank=True, default="")
    due_date = serializers.DateField(required=False, allow_null=True, default=None)
    priority = serializers.ChoiceField(choices=TaskPriority.choices, default=TaskPriority.NORMAL)
    assignee = StrictCharField(
        required=False, allow_blank=True, default="", help_text="Username; default: the owner."
    )


class TaskUpdateSerializer(serializers.Serializer):
    title = StrictCharField(max_length=200, required=False)
    description = StrictCharField(required=False, allow_blank=True)
    due_date = serializers.DateField(required=False, allow_null=True)
    priority = serializers.ChoiceField(choices=TaskPriority.choices, required=False)
    status = serializers.ChoiceField(choices=TaskStatus.choices, required=False)
    outcome_note = StrictCharField(required=False, allow_blank=True, default="")
    snoozed_until = serializers.DateField(required=False, allow_null=True, default=None)
    snooze_reason = StrictCharField(required=False, allow_blank=True, default="")
    assignee = StrictCharField(required=False)


class TaskFilter(StrictFilterSet):
    assignee = django_filters.CharFilter(field_name="assignee__username")
    account = django_filters.CharFilter(field_name="account__external_id")
    status = django_filters.ChoiceFilter(choices=TaskStatus.choices)
    due_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lt")
    # A playbook id: an unknown one matches no task (as an unknown assignee does).
    playbook = django_filters.NumberFilter(method="_by_playbook")

    class Meta:
        model = Task
        fields = ["assignee", "account", "status", "due_before", "playbook"]

    @extend_schema_field(OpenApiTypes.INT)
    def _by_playbook(self, queryset: Any, name: str, value: Any) -> Any:
        if value != int(value):
            raise serializers.ValidationError({"playbook": ["must be a playbook's id"]})
        if not 0 <= value <= MAX_ID:  # no such row can exist
            return queryset.none()
        return queryset.filter(playbook_id=int(value))


def _user(request: Request, username: str) -> User:
    """The assignee, if the caller may give them work; the same conflict whether the user
    does not exist or is outside the caller's scope."""
    user = visible_users(api_user(request)).filter(username=username).first()
    if user is None:
        raise Conflict(
            "The assignee cannot be used.",
            errors=[{"field": "assignee", "reason": f"{username!r} cannot be given this task"}],
        )
    return user


class TaskList(generics.ListAPIView):
    serializer_class = TaskSerializer
    filterset_class = TaskFilter

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Task.objects.none()
        return (
            visible_tasks(api_user(self.request))
            .select_related("account", "assignee", "playbook")
            .order_by("due_date", "pk")
        )

    @extend_schema(
        summary="List tasks in your scope",
        responses={200: TaskSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create a task on an account in your scope",
        request=TaskCreateSerializer,
        responses={201: TaskSerializer, **error_responses(400, 409)},
    )
    def post(self, request: Request) -> Response:
        data = TaskCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            account = get_account_for_user(api_user(request), v["account"])
        except Http404:
            raise Conflict(
                "The account cannot be used.",
                errors=[
                    {"field": "account", "reason": f"No account {v['account']!r} in your scope."}
                ],
            ) from None
        assignee = _user(request, v["assignee"]) if v["assignee"] else None
        task = create_task(
            actor=api_user(request),
            account=account,
            title=v["title"],
            description=v["description"],
            due_date=v["due_date"],
            priority=v["priority"],
            assignee=assignee,
        )
        return Response(TaskSerializer(task).data, status=status.HTTP_201_CREATED)


class TaskDetail(generics.RetrieveAPIView):
    serializer_class = TaskSerializer

    def get_object(self) -> Task:
        try:
            return get_task_for_user(api_user(self.request), int(self.kwargs["pk"]))
        except Http404:
            raise NotFound("No such task.") from None

    @extend_schema(summary="One task", responses={200: TaskSerializer, **error_responses(404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Edit, reassign or move a task along the allowed transitions",
        request=TaskUpdateSerializer,
        responses={200: TaskSerializer, **error_responses(400, 404, 409)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        task = self.get_object()
        data = TaskUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        actor = api_user(request)
        # One request, one outcome: edits, reassignment and the status change together.
        with transaction.atomic():
            edits = {k: v[k] for k in ("title", "description", "priority") if k in v}
            if "due_date" in request.data:
                edits["due_date"] = v["due_date"]
            if edits:
                task = update_task(task=task, actor=actor, **edits)
            if "assignee" in v:
                task = reassign_task(task=task, actor=actor, assignee=_user(request, v["assignee"]))
            if "status" in v and v["status"] != task.status:
                task = transition_task(
                    task=task,
                    actor=actor,
                    to_status=v["status"],
                    outcome_note=v["outcome_note"],
                    snoozed_until=v["snoozed_until"],
                    reason=v["snooze_reason"],
                )
        task = get_task_for_user(actor, task.pk)
        return Response(TaskSerializer(task).data)


urlpatterns: list[URLPattern | URLResolver] = [
    path("tasks/", TaskList.as_view(), name="api-tasks"),
    path("tasks/<id:pk>/", TaskDetail.as_view(), name="api-task"),
]
