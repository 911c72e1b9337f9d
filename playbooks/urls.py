from __future__ import annotations

from django.urls import path

import chs_site.converters  # noqa: F401  (registers <account_id:…>)
from playbooks import views

app_name = "playbooks"

urlpatterns = [
    path("today/", views.today, name="today"),
    path("today/<account_id:external_id>/call/", views.today_call, name="today_call"),
    path("today/<account_id:external_id>/task/", views.today_task, name="today_task"),
    path("today/<account_id:external_id>/snooze/", views.today_snooze, name="today_snooze"),
    path("today/<account_id:external_id>/unsnooze/", views.today_unsnooze, name="today_unsnooze"),
    path("tasks/", views.task_queue, name="task_queue"),
    path("tasks/outreach/", views.outreach, name="outreach"),
    path("tasks/<id:pk>/", views.task_detail, name="task_detail"),
    path("tasks/<id:pk>/complete/", views.task_complete, name="task_complete"),
    path("tasks/<id:pk>/snooze/", views.task_snooze, name="task_snooze"),
    path("tasks/<id:pk>/cancel/", views.task_cancel, name="task_cancel"),
    path("tasks/<id:pk>/reopen/", views.task_reopen, name="task_reopen"),
    path("tasks/<id:pk>/reassign/", views.task_reassign, name="task_reassign"),
    path("playbooks/", views.playbook_list, name="playbooks"),
    path("playbooks/new/", views.playbook_edit, name="playbook_new"),
    path("playbooks/<id:pk>/", views.playbook_detail, name="playbook_detail"),
    path("playbooks/<id:pk>/edit/", views.playbook_edit, name="playbook_edit"),
    path("playbooks/<id:pk>/preview/", views.playbook_preview, name="playbook_preview"),
    path("playbooks/<id:pk>/toggle/", views.playbook_toggle, name="playbook_toggle"),
    path("playbooks/<id:pk>/run/", views.playbook_run, name="playbook_run"),
    path(
        "accounts/<account_id:external_id>/success-plan/", views.success_plan, name="success_plan"
    ),
    path("accounts/<account_id:external_id>/tasks/", views.account_tasks, name="account_tasks"),
    path("notifications/", views.notifications, name="notifications"),
    path("slack/", views.slack_settings, name="slack"),
]
