"""Every URL (pages and API) × every actor (anonymous, CSM, manager, admin sessions; API
keys of each scope) × every method, against ONE declared table: ``PERMISSIONS``.

Objects in the URLs belong to *another team's* book (``other_csm``'s), so a CSM or a
manager outside it must get exactly what a missing object gets (404), on every read,
update and delete. A new URL pattern without an entry in the table fails the test.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from accounts.authentication import PerTokenThrottle
from accounts.models import Account, Contact, ImportJob, SavedView, User
from accounts.services.heartbeat import record_worker_heartbeat
from accounts.services.tokens import create_api_token
from chs_site.queues import QUEUES
from chs_site.secrets import encrypt
from connectors.models import Connector, SyncRun
from outbound.events import NewEvent
from outbound.models import Delivery
from outbound.services.delivery import queue_deliveries
from outbound.services.subscriptions import create_endpoint, subscribe_hook
from playbooks.models import Playbook, Task, TriggerType
from playbooks.services.tasks import adjust_open_task_counts
from scoring.models import BackfillJob, MetricDefinition, Scorecard, SegmentSettings
from surveys.models import Campaign, Recipient, Survey
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

SESSIONS = ("anonymous", "csm", "manager", "admin")
KEYS = ("admin:read", "admin:ingest", "admin:write", "csm:ingest", "csm:write")
PAGE_METHODS = ("GET", "POST", "DELETE")  # pages never take PUT/PATCH: DELETE stands for them
API_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def all_routes() -> Iterator[str]:
    """Every URL pattern as its full route; Django's admin site counts as one ("admin/")."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[str]:
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                if route == "admin/":
                    yield route
                else:
                    yield from walk(p.url_patterns, route)
            elif isinstance(p, URLPattern):
                yield route

    yield from walk(get_resolver().url_patterns, "")


@dataclass
class World:
    ids: dict[str, str]
    clients: dict[str, tuple[Client, dict[str, str]]] = field(default_factory=dict)


@pytest.fixture
def world(csm: User, manager: User, admin: User, other_csm: User, other_account: Account) -> World:
    # A worker checked in (with a broker, /healthz fails without one: not a permission).
    for queue in QUEUES:
        record_worker_heartbeat(queue=queue)
    MetricDefinition.objects.create(key="logins", name="Logins")
    card = Scorecard.objects.create(name="Default")
    playbook = Playbook.objects.create(
        name="Red accounts", trigger_type=TriggerType.BAND_ENTERED, band="red"
    )
    task = Task.objects.create(
        title="Call",
        account=other_account,
        assignee=other_csm,
        due_date=timezone.localdate() + dt.timedelta(days=1),
        created_at=timezone.now(),
    )
    adjust_open_task_counts(changes=[(other_account.pk, 1)])  # as opening a task does
    job = ImportJob.objects.create(  # run by the other team's manager
        kind="accounts",
        original_name="a.csv",
        created_by=User.objects.get(username="other_manager"),
    )
    backfill = BackfillJob.objects.create(scorecard=card, days=7, created_by=admin)
    SegmentSettings.objects.create(pk=1, enabled=True)  # switched off, Segment answers 403
    token = create_api_token(user=other_csm, scope="read").token
    endpoint = create_endpoint(
        actor=admin, url="https://hooks.example/", event_types=["task.created"]
    )
    hook = subscribe_hook(
        actor=other_csm, target_url="https://hooks.example/z/", event="task.created"
    )
    event = NewEvent("evt_permissions", "task.created", None, {}, timezone.now())
    queue_deliveries(events=[event], endpoint_ids={event.event_id: [endpoint.endpoint.pk]})
    survey = Survey.objects.create(name="NPS", kind="nps", question="Q?", follow_up="Why?")
    campaign = Campaign.objects.create(survey=survey, created_at=timezone.now())
    Recipient.objects.create(  # reached the other team's account only
        campaign=campaign, account=other_account, email="c@example.com", queued_at=timezone.now()
    )
    connector = Connector.objects.create(
        kind="hubspot", name="CRM", credential_encrypted=encrypt("pat-secret")
    )
    run = SyncRun.objects.create(connector=connector, status=SyncRun.Status.SUCCEEDED)
    view = SavedView.objects.create(  # shared with the other team by its manager
        owner=User.objects.get(username="other_manager"),
        name="Red",
        query="band=red",
        team=other_csm.team,
    )
    ids = {
        "external_id": other_account.external_id,
        "metric": "logins",
        "task": str(task.pk),
        "playbook": str(playbook.pk),
        "scorecard": str(card.pk),
        "import": str(job.pk),
        "backfill": str(backfill.pk),
        "token": str(token.pk),
        "webhook": str(endpoint.endpoint.pk),
        # The API's DELETE removes its endpoint: one of its own, so later routes keep theirs.
        "webhook_api": str(
            create_endpoint(
                actor=admin, url="https://h.example/", event_types=["task.created"]
            ).endpoint.pk
        ),
        "delivery": str(Delivery.objects.get().pk),
        "hook": str(hook.endpoint.pk),
        "survey": str(survey.pk),
        "campaign": str(campaign.pk),
        "connector": str(connector.pk),
        "run": str(run.pk),
        "view": str(view.pk),
        "contact": str(Contact.objects.create(account=other_account, name="Dana").pk),
    }
    w = World(ids=ids)
    w.clients["anonymous"] = (Client(), {})
    for name, user in (("csm", csm), ("manager", manager), ("admin", admin)):
        w.clients[name] = (client_for(user), {})
    for spec in KEYS:
        who, scope = spec.split(":")
        key = create_api_token(user={"admin": admin, "csm": csm}[who], scope=scope).key
        w.clients[spec] = (Client(), {"Authorization": f"Token {key}"})
    return w


def url_for(route: str, ids: dict[str, str]) -> str:
    kind = (
        "contact"
        if "/contacts/<id:pk>/" in route
        else "task"
        if route.startswith(("tasks/", "api/v1/tasks/"))
        else "playbook"
        if route.startswith("playbooks/")
        else "import"
        if route.startswith("imports/")
        else "backfill"
        if route.startswith("scoring/backfills/")
        else "token"
        if route.startswith("api-tokens/")
        else "delivery"
        if route.startswith("webhooks/deliveries/")
        else "webhook_api"
        if route == "api/v1/webhooks/<id:pk>/"
        else "webhook"
        if route.startswith(("webhooks/", "api/v1/webhooks/"))
        else "hook"
        if route.startswith("api/v1/hooks/")
        else "campaign"
        if route.startswith("surveys/campaigns/")
        else "survey"
        if route.startswith("surveys/")
        else "connector"
        if route.startswith("connectors/")
        else "view"
        if route.startswith("portfolio/views/")
        else "scorecard"
    )
    url = (
        route.replace("<account_id:external_id>", ids["external_id"])
        .replace("<slug:metric>", ids["metric"])
        .replace("<id:pk>", ids[kind])
        .replace("<id:run_pk>", ids["run"])
        .replace("<slug:kind>", "hubspot")
        .replace("<uidb64>", "MQ")
        .replace("<token>", "not-a-token")
        .replace("<str:event>", "task.created")
    )
    return "/" + url


# ONE declared table: route → method → the outcome for each actor. "L" is a redirect to a
# login page (the admin site's for Django's admin), every other value a status code.
# Pages list:  anonymous csm manager admin
# API lists:   anonymous | csm manager admin (sessions) | admin's read ingest write keys |
#              csm's ingest write keys
# The objects in the URLs are another team's (other_csm's account, task, import job), so
# 404 for the CSM and the manager is "outside your scope". POST bodies are empty (the
# form or the JSON "{}"), so an allowed write answers its "fix your request" code: 400, or
# the page again (200), or a redirect (302).
PERMISSIONS: dict[str, dict[str, str]] = {
    "": {"GET": "302 302 302 302", "POST": "302 302 302 302", "DELETE": "302 302 302 302"},
    "healthz": {"GET": "200 200 200 200", "POST": "405 405 405 405", "DELETE": "405 405 405 405"},
    "admin/": {"GET": "L L L 200", "POST": "L L L 200", "DELETE": "L L L 200"},
    "api/v1/accounts/": {
        "GET": "401 | 200 200 200 | 200 403 200 | 403 200",
        "POST": "401 | 400 400 400 | 403 400 400 | 400 400",
        "PUT": "401 | 405 405 405 | 403 405 405 | 405 405",
        "PATCH": "401 | 405 405 405 | 403 405 405 | 405 405",
        "DELETE": "401 | 405 405 405 | 403 405 405 | 405 405",
    },
    "api/v1/accounts/<account_id:external_id>/": {
        "GET": "401 | 404 404 200 | 200 403 200 | 403 404",
        "POST": "401 | 405 405 405 | 403 405 405 | 405 405",
        "PUT": "401 | 405 405 405 | 403 405 405 | 405 405",
        "PATCH": "401 | 404 404 200 | 403 204 200 | 404 404",
        "DELETE": "401 | 405 405 405 | 403 405 405 | 405 405",
    },
    "api/v1/feedback/": {
        "GET": "401 | 405 405 405 | 405 403 405 | 403 405",
        "POST": "401 | 400 400 400 | 403 400 400 | 400 400",
        "PUT": "401 | 405 405 405 | 403 405 405 | 405 405",
        "PATCH": "401 | 405 405 405 | 403 405 405 | 405 405",
        "DELETE": "401 | 405 405 405 | 403 405 405 | 405 405",
    },
    "api/v1/metrics/": {
        "GET": "401 | 405 405 405 | 405 403 405 | 403 405",
        "POST": "401 | 400 400 400 | 403 400 400 | 400 400",
        "PUT": "401 | 405 405 405 | 403 405 405 | 405 405",
        "PATCH": "401 | 405 405 405 | 403 405 405 | 405 405",
        "DELETE": "401 | 405 405 405 | 403 405 405 | 405 405",
    },
    "api/v1/metric-definitions/": {
        "GET": "401 | 200 200 200 | 200 403 200 | 403 200",
        "POST": "401 | 403 403 400 | 403 403 400 | 403 403",
        "PUT": "401 | 403 403 405 | 403 403 405 | 403 403",
        "PATCH": "401 | 403 403 405 | 403 403 405 | 403 403",
        "DELETE": "401 | 403 403 405 | 403 403 405 | 403 403",
    },
    "api/v1/scorecards/": {
        "GET": "401 | 200 200 200 | 200 403 200 | 403 200",
        "POST": "401 | 403 403 400 | 403 403 400 | 403 403",
        "PUT": "401 | 403 403 405 | 403 403 405 | 403 403",
        "PATCH": "401 | 403 403 405 | 403 403 405 | 403 403",
        "DELETE": "401 | 403 403 405 | 403 403 405 | 403 403",
    },
    "api/v1/scorecards/<id:pk>/": {
        "GET": "401 | 200 200 200 | 200 403 200 | 403 200",
        "POST": "401 | 403 403 405 | 403 403 405 | 403 403",
        "PUT": "401 | 403 403 405 | 403 403 405 | 403 403",
        "PATCH": "401 | 403 403 400 | 403 403 400 | 403 403",
        "DELETE": "401 | 403 403 405 | 403 403 405 | 403 403",
    },
    "api/v1/scorecards/<id:pk>/publish/": {
        # GET is the dry run; a POST without {"confirm": true} is refused before anything.
        "GET": "401 | 200 200 200 | 200 403 200 | 403 200",
        "POST": "401 | 403 403 400 | 403 403 400 | 403 403",
        "PUT": "401 | 403 403 405 | 403 403 405 | 403 403",
        "PATCH": "401 | 403 403 405 | 403 403 405 | 403 403",
        "DELETE": "401 | 403 403 405 | 403 403 405 | 403 403",
    },
    # Segment's messages: API keys only (HTTP Basic or Token), never a browser session.
    "api/v1/integrations/segment/": {
        "GET": "401 | 401 401 401 | 405 403 405 | 403 405",
        "POST": "401 | 401 401 401 | 403 400 400 | 400 400",
        "PUT": "401 | 401 401 401 | 403 405 405 | 405 405",
        "PATCH": "401 | 401 401 401 | 403 405 405 | 405 405",
        "DELETE": "401 | 401 401 401 | 403 405 405 | 405 405",
    },
    "api/v1/integrations/segment/v1/batch": {
        "GET": "401 | 401 401 401 | 405 403 405 | 403 405",
        "POST": "401 | 401 401 401 | 403 400 400 | 400 400",
        "PUT": "401 | 401 401 401 | 403 405 405 | 405 405",
        "PATCH": "401 | 401 401 401 | 403 405 405 | 405 405",
        "DELETE": "401 | 401 401 401 | 403 405 405 | 405 405",
    },
    "api/v1/outcomes/": {
        "GET": "401 | 405 405 405 | 405 403 405 | 403 405",
        "POST": "401 | 400 400 400 | 403 400 400 | 400 400",
        "PUT": "401 | 405 405 405 | 403 405 405 | 405 405",
        "PATCH": "401 | 405 405 405 | 403 405 405 | 405 405",
        "DELETE": "401 | 405 405 405 | 403 405 405 | 405 405",
    },
    "api/v1/accounts/<account_id:external_id>/scores/": {
        "GET": "401 | 404 404 200 | 200 403 200 | 403 404",
        "POST": "401 | 405 405 405 | 403 403 405 | 403 405",
        "PUT": "401 | 405 405 405 | 403 403 405 | 403 405",
        "PATCH": "401 | 405 405 405 | 403 403 405 | 403 405",
        "DELETE": "401 | 405 405 405 | 403 403 405 | 403 405",
    },
    "api/v1/scorecards/<id:pk>/backtest/": {
        "GET": "401 | 200 200 200 | 200 403 200 | 403 200",
        "POST": "401 | 405 405 405 | 403 403 405 | 403 405",
        "PUT": "401 | 405 405 405 | 403 403 405 | 403 405",
        "PATCH": "401 | 405 405 405 | 403 403 405 | 403 405",
        "DELETE": "401 | 405 405 405 | 403 403 405 | 403 405",
    },
    "api/v1/scorecards/<id:pk>/suggest-weights/": {
        "GET": "401 | 405 405 405 | 405 403 405 | 403 405",
        "POST": "401 | 403 403 200 | 403 403 200 | 403 403",
        "PUT": "401 | 405 405 405 | 403 403 405 | 403 405",
        "PATCH": "401 | 405 405 405 | 403 403 405 | 403 405",
        "DELETE": "401 | 405 405 405 | 403 403 405 | 403 405",
    },
    "api/v1/tasks/": {
        "GET": "401 | 200 200 200 | 200 403 200 | 403 200",
        "POST": "401 | 400 400 400 | 403 403 400 | 403 400",
        "PUT": "401 | 405 405 405 | 403 403 405 | 403 405",
        "PATCH": "401 | 405 405 405 | 403 403 405 | 403 405",
        "DELETE": "401 | 405 405 405 | 403 403 405 | 403 405",
    },
    # Admins only (a session, or an admin's read or write key); for anyone else: 404.
    "api/v1/audit-log/": {
        "GET": "401 | 404 404 200 | 200 403 200 | 404 404",
        "POST": "401 | 404 404 405 | 403 403 405 | 404 404",
        "PUT": "401 | 404 404 405 | 403 403 405 | 404 404",
        "PATCH": "401 | 404 404 405 | 403 403 405 | 404 404",
        "DELETE": "401 | 404 404 405 | 403 403 405 | 404 404",
    },
    "api/v1/tasks/<id:pk>/": {
        "GET": "401 | 404 404 200 | 200 403 200 | 403 404",
        "POST": "401 | 405 405 405 | 403 403 405 | 403 405",
        "PUT": "401 | 405 405 405 | 403 403 405 | 403 405",
        "PATCH": "401 | 404 404 200 | 403 403 200 | 403 404",
        "DELETE": "401 | 405 405 405 | 403 403 405 | 403 405",
    },
    # Webhooks: admins only (a session, or an admin's read or write key); for anyone else
    # the endpoints do not exist (404). The admin session's DELETE removes the object, so
    # the admin's write key that follows gets 404.
    "api/v1/webhooks/": {
        "GET": "401 | 404 404 200 | 200 403 200 | 404 404",
        "POST": "401 | 404 404 400 | 403 403 400 | 404 404",
        "PUT": "401 | 404 404 405 | 403 403 405 | 404 404",
        "PATCH": "401 | 404 404 405 | 403 403 405 | 404 404",
        "DELETE": "401 | 404 404 405 | 403 403 405 | 404 404",
    },
    "api/v1/webhooks/<id:pk>/": {
        "GET": "401 | 404 404 200 | 200 403 200 | 404 404",
        "POST": "401 | 404 404 405 | 403 403 405 | 404 404",
        "PUT": "401 | 404 404 405 | 403 403 405 | 404 404",
        "PATCH": "401 | 404 404 200 | 403 403 200 | 404 404",
        "DELETE": "401 | 404 404 204 | 403 403 404 | 404 404",
    },
    "api/v1/webhooks/<id:pk>/deliveries/": {
        "GET": "401 | 404 404 200 | 200 403 200 | 404 404",
        "POST": "401 | 404 404 405 | 403 403 405 | 404 404",
        "PUT": "401 | 404 404 405 | 403 403 405 | 404 404",
        "PATCH": "401 | 404 404 405 | 403 403 405 | 404 404",
        "DELETE": "401 | 404 404 405 | 403 403 405 | 404 404",
    },
    # REST hooks: anyone with a write key (or a session); a hook is its owner's (here the
    # other team's CSM's), so others get 404 and the admin may remove it.
    "api/v1/hooks/": {
        "GET": "401 | 405 405 405 | 405 403 405 | 403 405",
        "POST": "401 | 400 400 400 | 403 403 400 | 403 400",
        "PUT": "401 | 405 405 405 | 403 403 405 | 403 405",
        "PATCH": "401 | 405 405 405 | 403 403 405 | 403 405",
        "DELETE": "401 | 405 405 405 | 403 403 405 | 403 405",
    },
    "api/v1/hooks/<id:pk>/": {
        "GET": "401 | 405 405 405 | 405 403 405 | 403 405",
        "POST": "401 | 405 405 405 | 403 403 405 | 403 405",
        "PUT": "401 | 405 405 405 | 403 403 405 | 403 405",
        "PATCH": "401 | 405 405 405 | 403 403 405 | 403 405",
        "DELETE": "401 | 404 404 204 | 403 403 404 | 403 404",
    },
    "api/v1/hooks/samples/<str:event>/": {
        "GET": "401 | 200 200 200 | 200 403 200 | 403 200",
        "POST": "401 | 405 405 405 | 403 403 405 | 403 405",
        "PUT": "401 | 405 405 405 | 403 403 405 | 403 405",
        "PATCH": "401 | 405 405 405 | 403 403 405 | 403 405",
        "DELETE": "401 | 405 405 405 | 403 403 405 | 403 405",
    },
    "webhooks/": {"GET": "L 404 404 200", "POST": "L 404 404 400", "DELETE": "L 405 405 405"},
    "webhooks/<id:pk>/": {
        "GET": "L 404 404 200",
        "POST": "L 405 405 405",
        "DELETE": "L 405 405 405",
    },
    "webhooks/<id:pk>/toggle/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 302",
        "DELETE": "L 405 405 405",
    },
    "webhooks/<id:pk>/test/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 302",
        "DELETE": "L 405 405 405",
    },
    "webhooks/<id:pk>/delete/": {
        "GET": "L 404 404 200",
        "POST": "L 404 404 400",
        "DELETE": "L 405 405 405",
    },
    "webhooks/deliveries/<id:pk>/replay/": {
        "GET": "L 404 404 200",
        "POST": "L 404 404 400",
        "DELETE": "L 405 405 405",
    },
    "api/schema/": {
        "GET": "200 200 200 200",
        "POST": "405 405 405 405",
        "DELETE": "405 405 405 405",
    },
    "api/docs/": {"GET": "200 200 200 200", "POST": "405 405 405 405", "DELETE": "405 405 405 405"},
    "login/": {"GET": "200 302 302 302", "POST": "200 302 302 302", "DELETE": "405 302 302 302"},
    "logout/": {"GET": "405 405 405 405", "POST": "L L L L", "DELETE": "405 405 405 405"},
    "password/change/": {
        "GET": "L 200 200 200",
        "POST": "L 200 200 200",
        "DELETE": "L 405 405 405",
    },
    "password/change/done/": {
        "GET": "L 200 200 200",
        "POST": "L 405 405 405",
        "DELETE": "L 405 405 405",
    },
    "password/reset/": {
        "GET": "200 200 200 200",
        "POST": "200 200 200 200",
        "DELETE": "405 405 405 405",
    },
    "password/reset/sent/": {
        "GET": "200 200 200 200",
        "POST": "405 405 405 405",
        "DELETE": "405 405 405 405",
    },
    # A link that does not check out shows "this link does not work", whatever the method.
    "password/reset/<uidb64>/<token>/": {
        "GET": "200 200 200 200",
        "POST": "200 200 200 200",
        "DELETE": "200 200 200 200",
    },
    "password/reset/done/": {
        "GET": "200 200 200 200",
        "POST": "405 405 405 405",
        "DELETE": "405 405 405 405",
    },
    # Single sign-on is off unless OIDC_RP_CLIENT_ID is set (tests/accounts/test_sso.py).
    "sso/start/": {
        "GET": "404 404 404 404",
        "POST": "404 404 404 404",
        "DELETE": "404 404 404 404",
    },
    "sso/callback/": {
        "GET": "404 404 404 404",
        "POST": "404 404 404 404",
        "DELETE": "404 404 404 404",
    },
    "portfolio/": {"GET": "L 200 200 200", "POST": "L 405 405 405", "DELETE": "L 405 405 405"},
    "portfolio/export.csv": {
        "GET": "L 200 200 200",
        "POST": "L 405 405 405",
        "DELETE": "L 405 405 405",
    },
    # An empty POST names no view (redirect with the error); the other team's shared view
    # is a 404 to anyone outside that team, and only its owner changes it.
    "portfolio/views/": {
        "GET": "L 405 405 405",
        "POST": "L 302 302 302",
        "DELETE": "L 405 405 405",
    },
    "portfolio/views/<id:pk>/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 404",
        "DELETE": "L 405 405 405",
    },
    # Bulk actions: nothing selected sends the user back to the portfolio with the reason;
    # outreach and owner changes are for managers and admins (a CSM gets 404).
    "portfolio/bulk/tasks/": {
        "GET": "L 302 302 302",
        "POST": "L 302 302 302",
        "DELETE": "L 405 405 405",
    },
    "portfolio/bulk/outreach/": {
        "GET": "L 404 302 302",
        "POST": "L 404 302 302",
        "DELETE": "L 405 405 405",
    },
    "portfolio/bulk/owner/": {
        "GET": "L 404 302 302",
        "POST": "L 404 302 302",
        "DELETE": "L 405 405 405",
    },
    "search/": {"GET": "L 200 200 200", "POST": "L 405 405 405", "DELETE": "L 405 405 405"},
    "team/": {"GET": "L 404 200 200", "POST": "L 405 405 405", "DELETE": "L 405 405 405"},
    "today/": {"GET": "L 200 200 200", "POST": "L 405 405 405", "DELETE": "L 405 405 405"},
    "today/<account_id:external_id>/call/": {
        "GET": "L 404 404 200",
        "POST": "L 404 404 400",
        "DELETE": "L 405 405 405",
    },
    "today/<account_id:external_id>/task/": {
        "GET": "L 404 404 200",
        "POST": "L 404 404 400",
        "DELETE": "L 405 405 405",
    },
    "today/<account_id:external_id>/snooze/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 302",
        "DELETE": "L 405 405 405",
    },
    "today/<account_id:external_id>/unsnooze/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 302",
        "DELETE": "L 405 405 405",
    },
    "accounts/<account_id:external_id>/": {
        "GET": "L 404 404 200",
        "POST": "L 405 405 405",
        "DELETE": "L 405 405 405",
    },
    "accounts/<account_id:external_id>/health/": {
        "GET": "L 404 404 302",
        "POST": "L 405 405 405",
        "DELETE": "L 405 405 405",
    },
    "accounts/<account_id:external_id>/timeline/": {
        "GET": "L 404 404 302",
        "POST": "L 405 405 405",
        "DELETE": "L 405 405 405",
    },
    "accounts/<account_id:external_id>/feedback/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 400",
        "DELETE": "L 405 405 405",
    },
    "accounts/<account_id:external_id>/override/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 400",
        "DELETE": "L 405 405 405",
    },
    "accounts/<account_id:external_id>/override/revoke/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 302",
        "DELETE": "L 405 405 405",
    },
    "accounts/<account_id:external_id>/owner/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 400",
        "DELETE": "L 405 405 405",
    },
    "accounts/<account_id:external_id>/contacts/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 400",
        "DELETE": "L 405 405 405",
    },
    "accounts/<account_id:external_id>/contacts/<id:pk>/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 400",
        "DELETE": "L 405 405 405",
    },
    # POST without the confirm field: refused with the confirmation (400), nothing removed.
    "accounts/<account_id:external_id>/contacts/<id:pk>/delete/": {
        "GET": "L 404 404 200",
        "POST": "L 404 404 400",
        "DELETE": "L 405 405 405",
    },
    "imports/": {"GET": "L 404 200 200", "POST": "L 404 200 200", "DELETE": "L 405 405 405"},
    "imports/<id:pk>/": {
        "GET": "L 404 404 200",
        "POST": "L 404 404 200",
        "DELETE": "L 405 405 405",
    },
    "imports/<id:pk>/progress/": {
        "GET": "L 404 404 302",
        "POST": "L 405 405 405",
        "DELETE": "L 405 405 405",
    },
    "imports/<id:pk>/errors.csv": {
        "GET": "L 404 404 404",
        "POST": "L 405 405 405",
        "DELETE": "L 405 405 405",
    },
    "api-tokens/": {"GET": "L 404 404 200", "POST": "L 404 404 200", "DELETE": "L 405 405 405"},
    "connectors/": {"GET": "L 404 404 200", "POST": "L 405 405 405", "DELETE": "L 405 405 405"},
    "connectors/new/<slug:kind>/": {
        "GET": "L 404 404 200",
        "POST": "L 404 404 200",
        "DELETE": "L 405 405 405",
    },
    "connectors/<id:pk>/": {
        "GET": "L 404 404 200",
        "POST": "L 404 404 200",
        "DELETE": "L 405 405 405",
    },
    "connectors/<id:pk>/delete/": {
        "GET": "L 404 404 200",
        "POST": "L 404 404 400",
        "DELETE": "L 405 405 405",
    },
    "connectors/<id:pk>/sync/": {
        "GET": "L 404 404 200",
        "POST": "L 404 404 400",
        "DELETE": "L 405 405 405",
    },
    "connectors/<id:pk>/runs/<id:run_pk>/": {
        "GET": "L 404 404 200",
        "POST": "L 405 405 405",
        "DELETE": "L 405 405 405",
    },
    "api-tokens/<id:pk>/revoke/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 302",
        "DELETE": "L 405 405 405",
    },
    "scoring/": {"GET": "L 200 200 200", "POST": "L 405 405 405", "DELETE": "L 405 405 405"},
    "scoring/validation/": {
        "GET": "L 200 200 200",
        "POST": "L 405 405 405",
        "DELETE": "L 405 405 405",
    },
    "scoring/new-segment/": {
        "GET": "L 405 405 405",
        "POST": "L 403 403 302",
        "DELETE": "L 405 405 405",
    },
    "scoring/validation/refit/": {
        "GET": "L 405 405 405",
        "POST": "L 403 403 302",
        "DELETE": "L 405 405 405",
    },
    "scoring/<id:pk>/": {
        "GET": "L 200 200 200",
        "POST": "L 405 405 405",
        "DELETE": "L 405 405 405",
    },
    "scoring/<id:pk>/new-draft/": {
        "GET": "L 405 405 405",
        "POST": "L 403 403 302",
        "DELETE": "L 405 405 405",
    },
    "scoring/<id:pk>/edit/": {
        "GET": "L 200 200 200",
        "POST": "L 403 403 400",
        "DELETE": "L 405 405 405",
    },
    "scoring/<id:pk>/preview/": {
        "GET": "L 302 302 302",
        "POST": "L 200 200 200",
        "DELETE": "L 405 405 405",
    },
    "scoring/<id:pk>/publish/": {
        "GET": "L 403 403 200",
        "POST": "L 403 403 400",
        "DELETE": "L 405 405 405",
    },
    "scoring/<id:pk>/rollback/": {
        "GET": "L 403 403 302",
        "POST": "L 403 403 302",
        "DELETE": "L 405 405 405",
    },
    "scoring/<id:pk>/backfill/": {
        "GET": "L 403 403 302",
        "POST": "L 403 403 302",
        "DELETE": "L 405 405 405",
    },
    "scoring/<id:pk>/suggest/": {
        "GET": "L 405 405 405",
        "POST": "L 403 403 302",
        "DELETE": "L 405 405 405",
    },
    # Admins only: for anyone else the page does not exist.
    "audit-log/": {"GET": "L 404 404 200", "POST": "L 405 405 405", "DELETE": "L 405 405 405"},
    "scoring/quarantine/": {
        "GET": "L 404 404 200",
        "POST": "L 404 404 302",
        "DELETE": "L 405 405 405",
    },
    "scoring/product-analytics/": {
        "GET": "L 404 404 200",
        "POST": "L 404 404 302",
        "DELETE": "L 405 405 405",
    },
    "scoring/backfills/<id:pk>/": {
        "GET": "L 200 200 200",
        "POST": "L 405 405 405",
        "DELETE": "L 405 405 405",
    },
    # Without a worker (tests run tasks in-process) an admin's page runs the job stepwise.
    "scoring/backfills/<id:pk>/step/": {
        "GET": "L 405 405 405",
        "POST": "L 403 403 302",
        "DELETE": "L 405 405 405",
    },
    "accounts/<account_id:external_id>/outcomes/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 302",
        "DELETE": "L 405 405 405",
    },
    "tasks/": {"GET": "L 200 200 200", "POST": "L 405 405 405", "DELETE": "L 405 405 405"},
    "tasks/outreach/": {"GET": "L 404 200 200", "POST": "L 404 200 200", "DELETE": "L 405 405 405"},
    "tasks/<id:pk>/": {"GET": "L 404 404 200", "POST": "L 404 404 200", "DELETE": "L 405 405 405"},
    "tasks/<id:pk>/complete/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 302",
        "DELETE": "L 405 405 405",
    },
    "tasks/<id:pk>/snooze/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 302",
        "DELETE": "L 405 405 405",
    },
    "tasks/<id:pk>/cancel/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 302",
        "DELETE": "L 405 405 405",
    },
    "tasks/<id:pk>/reopen/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 302",
        "DELETE": "L 405 405 405",
    },
    "tasks/<id:pk>/reassign/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 302",
        "DELETE": "L 405 405 405",
    },
    "playbooks/": {"GET": "L 404 200 200", "POST": "L 405 405 405", "DELETE": "L 405 405 405"},
    "playbooks/new/": {"GET": "L 404 404 200", "POST": "L 404 404 200", "DELETE": "L 405 405 405"},
    "playbooks/<id:pk>/": {
        "GET": "L 404 200 200",
        "POST": "L 405 405 405",
        "DELETE": "L 405 405 405",
    },
    "playbooks/<id:pk>/edit/": {
        "GET": "L 404 404 200",
        "POST": "L 404 404 200",
        "DELETE": "L 405 405 405",
    },
    "playbooks/<id:pk>/preview/": {
        "GET": "L 404 200 200",
        "POST": "L 405 405 405",
        "DELETE": "L 405 405 405",
    },
    "playbooks/<id:pk>/toggle/": {
        "GET": "L 405 405 405",
        "POST": "L 404 404 302",
        "DELETE": "L 405 405 405",
    },
    "playbooks/<id:pk>/run/": {
        "GET": "L 404 404 200",
        "POST": "L 404 404 400",
        "DELETE": "L 405 405 405",
    },
    "accounts/<account_id:external_id>/success-plan/": {
        "GET": "L 404 404 200",
        "POST": "L 404 404 200",
        "DELETE": "L 405 405 405",
    },
    "accounts/<account_id:external_id>/tasks/": {
        "GET": "L 404 404 200",
        "POST": "L 404 404 302",
        "DELETE": "L 405 405 405",
    },
    "notifications/": {"GET": "L 200 200 200", "POST": "L 302 302 302", "DELETE": "L 405 405 405"},
    # Admins only (the connect form without a token is refused with a message: a redirect).
    "slack/": {"GET": "L 404 404 200", "POST": "L 404 404 302", "DELETE": "L 405 405 405"},
    # Campaigns are listed for everyone (scoped to their accounts); surveys are admins' only.
    "surveys/": {"GET": "L 200 200 200", "POST": "L 405 405 405", "DELETE": "L 405 405 405"},
    "surveys/new/": {"GET": "L 404 404 200", "POST": "L 404 404 400", "DELETE": "L 405 405 405"},
    # An empty POST has no confirmation: refused (400), nothing sent.
    "surveys/<id:pk>/send/": {
        "GET": "L 404 404 200",
        "POST": "L 404 404 400",
        "DELETE": "L 405 405 405",
    },
    "surveys/campaigns/<id:pk>/": {
        "GET": "L 404 404 200",
        "POST": "L 405 405 405",
        "DELETE": "L 405 405 405",
    },
    # The links in survey emails: public; a token that does not check out is a 404 page.
    "s/<token>/": {
        "GET": "404 404 404 404",
        "POST": "404 404 404 404",
        "DELETE": "405 405 405 405",
    },
    "s/<token>/unsubscribe/": {
        "GET": "404 404 404 404",
        "POST": "404 404 404 404",
        "DELETE": "405 405 405 405",
    },
}


def _expected(route: str, method: str) -> dict[str, str]:
    parts = PERMISSIONS[route][method].replace("|", " ").split()
    actors = SESSIONS + KEYS if route.startswith("api/v1/") else SESSIONS
    assert len(parts) == len(actors), f"{route} {method}: {len(parts)} outcomes"
    return dict(zip(actors, parts, strict=True))


def test_every_url_pattern_has_an_entry_in_the_permission_table() -> None:
    routes = list(all_routes())
    missing = [r for r in routes if r not in PERMISSIONS]
    assert not missing, f"add these URL patterns to PERMISSIONS: {missing}"
    assert not set(PERMISSIONS) - set(routes), "PERMISSIONS names routes that are gone"
    for route, methods in PERMISSIONS.items():
        wanted = API_METHODS if route.startswith("api/v1/") else PAGE_METHODS
        assert tuple(methods) == wanted, route


def test_every_url_method_and_actor_gets_what_the_table_says(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hundreds of requests per key: the per-key budget is not what is tested here.
    monkeypatch.setattr(PerTokenThrottle, "rate", "1000000/min", raising=False)
    wrong = []
    for route in all_routes():
        is_api = route.startswith("api/v1/")
        url = url_for(route, world.ids)
        for method in API_METHODS if is_api else PAGE_METHODS:
            for actor, expected in _expected(route, method).items():
                client, headers = world.clients[actor]
                if route == "logout/" and actor != "anonymous":
                    client = client_for(User.objects.get(username=actor))  # logs out
                response = client.generic(
                    method,
                    url,
                    b"{}" if is_api else b"",
                    content_type="application/json"
                    if is_api
                    else "application/x-www-form-urlencoded",
                    headers=headers,
                )
                got = outcome(response)
                if got != expected:
                    wrong.append(f"{method} {url} as {actor}: {got}, table says {expected}")
                if actor.endswith(":ingest") and 200 <= response.status_code < 300:
                    # An ingest key reads nothing, whatever the method: no body but a count.
                    body = response.content
                    assert not body or set(response.json()) == {"accepted"}, (url, body)
                if is_api and response.status_code >= 400 and response.status_code != 405:
                    assert set(response.json()) >= {"error", "details"}, (url, actor)
    assert not wrong, "\n".join(wrong)


def outcome(response: Any) -> str:
    code = response.status_code
    if code == 302 and "/login/" in response.get("Location", ""):
        return "L"
    return str(code)


@pytest.mark.parametrize(
    ("url", "method"),
    [
        ("/api/v1/accounts/{external_id}/", "GET"),
        ("/api/v1/accounts/{external_id}/", "PATCH"),
        ("/api/v1/accounts/{external_id}/scores/", "GET"),
        ("/api/v1/tasks/{task}/", "GET"),
        ("/api/v1/tasks/{task}/", "PATCH"),
    ],
)
@pytest.mark.parametrize("actor", ["csm:write", "csm:ingest"])
def test_outside_scope_answers_exactly_what_missing_answers(
    world: World, url: str, method: str, actor: str
) -> None:
    client, headers = world.clients[actor]

    def answer(ids: dict[str, str]) -> tuple[int, bytes]:
        response = client.generic(
            method, url.format(**ids), b"{}", content_type="application/json", headers=headers
        )
        return response.status_code, response.content

    outside = answer(world.ids)
    missing = answer({**world.ids, "external_id": "NO-SUCH-1", "task": "999999"})
    if outside[0] == 403:  # the ingest key's scope refuses the method before any lookup
        assert missing == outside
        return
    assert outside == missing
    assert outside[0] == 404


def test_a_page_outside_scope_looks_like_a_missing_one(world: World) -> None:
    client, _ = world.clients["csm"]
    outside = client.get(f"/accounts/{world.ids['external_id']}/")
    missing = client.get("/accounts/NO-SUCH-1/")
    assert outside.status_code == missing.status_code == 404

    def page(response: Any) -> str:  # the CSRF token is masked anew on every response
        return re.sub(r'(X-CSRFToken": "|value=")[^"]+', r"\1…", response.content.decode())

    assert page(outside) == page(missing)


def test_an_id_or_owner_outside_scope_says_only_that_it_cannot_be_used(
    world: World, teammate: User
) -> None:
    client, headers = world.clients["csm:write"]

    def create(body: dict[str, Any]) -> Any:
        return client.post(
            "/api/v1/accounts/",
            json.dumps({"name": "Newco", **body}),
            content_type="application/json",
            headers=headers,
        )

    taken = create({"external_id": world.ids["external_id"]})
    assert taken.status_code == 409
    assert taken.json()["details"] == [
        {
            "field": "external_id",
            "reason": f"{world.ids['external_id']!r} cannot be used; choose another id",
        }
    ]
    assert "other_csm" not in taken.content.decode() and "Beacon" not in taken.content.decode()
    exists_elsewhere = create({"external_id": "NEW-1", "owner": "other_csm"})
    does_not_exist = create({"external_id": "NEW-1", "owner": "nobody_at_all"})
    assert exists_elsewhere.status_code == does_not_exist.status_code == 409
    assert exists_elsewhere.json()["error"] == does_not_exist.json()["error"]
    assert [d["field"] for d in exists_elsewhere.json()["details"]] == ["owner"]
    assert "Beacon" not in exists_elsewhere.content.decode()
    assert not Account.objects.filter(external_id="NEW-1").exists()
