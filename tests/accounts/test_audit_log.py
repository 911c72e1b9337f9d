"""The audit log: every change to configuration and access writes one entry (actor, action,
object, field changes with secrets masked, origin), through the pages, the API, the Django
admin, the commands and the services; the page and the API are admins' only and read-only."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import Account, ApiToken, AuditEntry, ImportJob, Team, User
from accounts.services.audit import MASK, Source, audit_origin, record_audit
from accounts.services.tokens import create_api_token
from chs_site.confirm import CONFIRM_FIELD, CONFIRM_VALUE
from playbooks.models import Playbook
from scoring.models import BackfillJob, MetricDefinition, Scorecard
from scoring.services import scorecards as scorecard_services
from scoring.services.quarantine import quarantine_account
from tests.conftest import client_for
from tests.factories import PlaybookFactory

CONFIRM = {CONFIRM_FIELD: CONFIRM_VALUE}  # the field the confirmation step sends

pytestmark = pytest.mark.django_db

A = AuditEntry.Action
T = AuditEntry.ObjectType
HOOK_URL = "https://hooks.slack.example/services/T000/B000/XoXsEcReT42"


def entries(object_type: str, action: str | None = None) -> list[AuditEntry]:
    qs = AuditEntry.objects.filter(object_type=object_type)
    if action is not None:
        qs = qs.filter(action=action)
    return list(qs.order_by("id"))


def only(object_type: str, action: str) -> AuditEntry:
    found = entries(object_type, action)
    assert len(found) == 1, [(e.action, e.object_label, e.changes) for e in found]
    return found[0]


# --- scorecards, measures, metric definitions ---------------------------------------------


def test_scorecard_draft_edit_publish_and_rollback_are_recorded(
    scorecard: Scorecard, admin: User
) -> None:
    draft = scorecard_services.update_scorecard_draft(
        scorecard=scorecard, author=admin, data={"green_at": 75}
    )
    created = only(T.SCORECARD, A.CREATED)
    assert created.actor == admin and created.object_id == str(draft.pk)
    assert created.changes["green_at"] == [None, 75]
    assert created.changes["measure nps"][1].startswith("weight 2, latest over 90d")

    measures = [
        {**m, "metric": m.pop("metric_key")}
        for m in (vars(x).copy() for x in scorecard_services.measures_of(draft))
    ]
    measures[0]["weight"] = 3
    scorecard_services.update_scorecard_draft(
        scorecard=draft, author=admin, data={"measures": measures}
    )
    updated = only(T.SCORECARD, A.UPDATED)
    assert list(updated.changes) == ["measure nps"]
    old, new = updated.changes["measure nps"]
    assert old.startswith("weight 2,") and new.startswith("weight 3,")

    scorecard_services.publish_scorecard(scorecard=draft, author=admin)
    published = only(T.SCORECARD, A.PUBLISHED)
    assert published.changes["status"] == ["draft", "active"]
    assert published.changes["active version"] == [
        "Default v1 (default)",
        f"Default v{draft.version} (default)",
    ]

    scorecard.refresh_from_db()
    scorecard_services.rollback_scorecard(scorecard=scorecard, author=admin)
    rolled = only(T.SCORECARD, A.ROLLED_BACK)
    assert rolled.changes == {"content of": [None, "Default v1 (default)"]}
    assert rolled.actor_label == "admin" and rolled.source == Source.SYSTEM


def test_metric_definition_created_with_an_api_key_names_the_key(admin: User) -> None:
    issued = create_api_token(user=admin, scope="write")
    response = Client().post(
        "/api/v1/metric-definitions/",
        {"key": "seats", "name": "Seats used"},
        content_type="application/json",
        headers={"Authorization": f"Token {issued.key}", "User-Agent": "crm-sync/2.1"},
    )
    assert response.status_code == 201
    entry = only(T.METRIC, A.CREATED)
    assert entry.actor == admin and entry.api_token == issued.token
    assert entry.actor_label == f"admin (API key {issued.token.prefix}…)"
    assert entry.source == Source.API and entry.user_agent == "crm-sync/2.1"
    assert entry.ip_address == "127.0.0.1"
    assert entry.object_id == "seats" and entry.changes["name"] == [None, "Seats used"]


def test_admin_site_edit_of_a_metric_definition_is_recorded(admin_client: Client) -> None:
    metric = MetricDefinition.objects.create(key="seats", name="Seats")
    response = admin_client.post(
        f"/admin/scoring/metricdefinition/{metric.pk}/change/",
        {
            "key": "seats",
            "name": "Seats used",
            "unit": "",
            "description": "",
            "direction": "higher",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = only(T.METRIC, A.UPDATED)
    assert entry.changes == {"name": ["Seats", "Seats used"]}
    assert entry.actor_label == "admin" and entry.source == Source.WEB


# --- playbooks -------------------------------------------------------------------------------


def test_playbook_create_edit_enable_disable_and_run_are_recorded(admin_client: Client) -> None:
    data: dict[str, Any] = {
        "name": "Detractors",
        "cooldown_days": 7,
        "trigger_type": "negative_feedback",
        "metric_aggregation": "latest",
        "metric_window_days": 30,
        "threshold_direction": "below",
        "actions-TOTAL_FORMS": 1,
        "actions-INITIAL_FORMS": 0,
        "actions-MIN_NUM_FORMS": 1,
        "actions-MAX_NUM_FORMS": 1000,
        "actions-0-kind": "create_task",
        "actions-0-title_template": "Follow up with {account_name}",
        "actions-0-due_in_days": 1,
        "actions-0-priority": "high",
        "actions-0-assignee_rule": "owner",
        "actions-0-position": 0,
    }
    assert admin_client.post("/playbooks/new/", data).status_code == 302
    playbook = Playbook.objects.get(name="Detractors")
    created = only(T.PLAYBOOK, A.CREATED)
    assert created.changes["name"] == [None, "Detractors"]
    assert any(k.startswith("playbook action") for k in created.changes)

    action = playbook.actions.get()
    edit = {
        **data,
        "cooldown_days": 14,
        "actions-INITIAL_FORMS": 1,
        "actions-0-id": action.pk,
        "actions-0-playbook": playbook.pk,
    }
    response = admin_client.post(f"/playbooks/{playbook.pk}/edit/", edit)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert only(T.PLAYBOOK, A.UPDATED).changes == {"cooldown_days": [7, 14]}

    admin_client.post(f"/playbooks/{playbook.pk}/toggle/")
    admin_client.post(f"/playbooks/{playbook.pk}/toggle/")
    assert only(T.PLAYBOOK, A.ENABLED).changes == {"enabled": [False, True]}
    assert only(T.PLAYBOOK, A.DISABLED).changes == {"enabled": [True, False]}

    admin_client.post(f"/playbooks/{playbook.pk}/run/", CONFIRM)
    run = only(T.PLAYBOOK, A.RUN)
    assert run.changes == {"tasks created": [None, 0]} and run.actor_label == "admin"


# --- users, roles, teams, webhooks --------------------------------------------------------------


def test_create_user_command_records_the_command_and_masks_the_password() -> None:
    call_command(
        "create_user",
        "ana",
        "--role",
        "manager",
        "--team",
        "Delta",
        "--password",
        "Sup3r-secret-pw",
        stdout=StringIO(),
    )
    entry = only(T.USER, A.CREATED)
    assert entry.actor is None and entry.actor_label == "command create_user"
    assert entry.source == Source.COMMAND
    assert entry.changes["role"] == [None, "manager"] and entry.changes["team"] == [None, "Delta"]
    assert entry.changes["password"] == ["(empty)", MASK]


def test_role_change_in_the_admin_site_is_recorded(admin_client: Client, csm: User) -> None:
    response = admin_client.get(f"/admin/accounts/user/{csm.pk}/change/")
    form = response.context["adminform"].form
    data = {
        name: value
        for name, value in (
            (name, form[name].value()) for name in form.fields if name != "password"
        )
        if value is not None
    }
    data.update(
        {
            "role": "manager",
            "date_joined_0": csm.date_joined.date().isoformat(),
            "date_joined_1": "00:00:00",
            "groups": [],
            "user_permissions": [],
        }
    )
    data = {k: v for k, v in data.items() if v is not False and k != "date_joined"}
    response = admin_client.post(f"/admin/accounts/user/{csm.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    entry = only(T.USER, A.UPDATED)
    assert entry.changes["role"] == ["csm", "manager"]
    assert entry.object_label == "csm" and entry.actor_label == "admin"


def test_password_change_in_the_admin_site_is_recorded_without_the_password(
    admin_client: Client, csm: User
) -> None:
    response = admin_client.post(
        f"/admin/accounts/user/{csm.pk}/password/",
        {"password1": "An0ther-long-pass", "password2": "An0ther-long-pass"},
    )
    assert response.status_code == 302
    entry = only(T.USER, A.PASSWORD_CHANGED)
    assert entry.changes == {"password": ["(empty)", MASK]}
    assert "An0ther" not in json.dumps(list(AuditEntry.objects.values()), default=str)


def _team_form(name: str, hook: str, manager: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "manager": manager,
        "slack_webhook_url": hook,
        "members-TOTAL_FORMS": 0,
        "members-INITIAL_FORMS": 0,
        "members-MIN_NUM_FORMS": 0,
        "members-MAX_NUM_FORMS": 1000,
    }


def test_team_and_its_webhook_are_recorded_with_the_webhook_masked(
    admin_client: Client, manager: User
) -> None:
    response = admin_client.post("/admin/accounts/team/add/", _team_form("Delta", HOOK_URL))
    assert response.status_code == 302, response.content.decode()[:3000]
    team = Team.objects.get(name="Delta")
    created = only(T.TEAM, A.CREATED)
    assert created.changes["name"] == [None, "Delta"]
    assert created.changes["slack_webhook_url"] == ["(empty)", MASK]

    response = admin_client.post(
        f"/admin/accounts/team/{team.pk}/change/",
        _team_form("Delta", HOOK_URL + "x", manager=str(manager.pk)),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    updated = only(T.TEAM, A.UPDATED)
    assert updated.changes == {
        "manager": [None, str(manager)],
        "slack_webhook_url": [MASK, MASK],
    }
    admin_client.post(f"/admin/accounts/team/{team.pk}/delete/", {"post": "yes"})
    assert only(T.TEAM, A.DELETED).object_label == "Delta"


# --- API keys ---------------------------------------------------------------------------------


def test_api_keys_created_and_revoked_on_the_page_name_who(admin_client: Client, csm: User) -> None:
    response = admin_client.post(
        "/api-tokens/", {"user": "csm", "scope": "read", "name": "BI export"}
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(name="BI export")
    created = only(T.API_TOKEN, A.CREATED)
    assert created.actor_label == "admin" and created.object_id == str(token.pk)
    assert created.changes == {
        "user": [None, "csm"],
        "scope": [None, "read"],
        "name": [None, "BI export"],
        "prefix": [None, token.prefix],
    }
    admin_client.post(f"/api-tokens/{token.pk}/revoke/")
    revoked = only(T.API_TOKEN, A.REVOKED)
    assert revoked.actor_label == "admin" and revoked.changes["revoked_at"][0] is None


def test_create_api_token_command_is_the_actor_and_the_key_is_never_logged(csm: User) -> None:
    out = StringIO()
    call_command("create_api_token", "csm", "--scope", "write", stdout=out)
    key = out.getvalue().strip()
    entry = only(T.API_TOKEN, A.CREATED)
    assert entry.actor is None and entry.actor_label == "command create_api_token"
    assert entry.source == Source.COMMAND and entry.ip_address is None
    dump = json.dumps(list(AuditEntry.objects.values()), default=str)
    assert key not in dump and key[12:] not in dump


# --- overrides and owners ------------------------------------------------------------------------


def test_override_and_its_revocation_are_recorded(
    csm_client: Client, csm: User, account: Account
) -> None:
    expires = (timezone.localdate() + dt.timedelta(days=10)).isoformat()
    response = csm_client.post(
        f"/accounts/{account.external_id}/override/",
        {"band": "green", "reason": "Signed the renewal", "expires_at": expires},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = only(T.OVERRIDE, A.CREATED)
    assert entry.actor == csm and entry.object_label == f"{account.name} ({account.external_id})"
    assert entry.changes["band"][1] == "green"
    assert entry.changes["reason"] == [None, "Signed the renewal"]
    csm_client.post(f"/accounts/{account.external_id}/override/revoke/")
    assert only(T.OVERRIDE, A.REVOKED).actor == csm


def test_owner_change_through_the_api_is_recorded(
    admin_client: Client, account: Account, teammate: User
) -> None:
    response = admin_client.patch(
        f"/api/v1/accounts/{account.external_id}/",
        {"owner": "teammate"},
        content_type="application/json",
    )
    assert response.status_code == 200
    entry = only(T.ACCOUNT, A.OWNER_CHANGED)
    assert entry.changes == {"owner": ["csm", "teammate"]}
    assert entry.object_id == account.external_id and entry.source == Source.API


# --- imports, exports, backfills, quarantine ----------------------------------------------------


def test_an_import_records_its_start_and_finish(tmp_path: Path, media_in_tmp: None) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text("external_id,name\nNEW-1,New Co\nNEW-2,Other Co\n")
    call_command("import_csv", "accounts", str(path), stdout=StringIO())
    job = ImportJob.objects.get()
    started, finished = only(T.IMPORT, A.STARTED), only(T.IMPORT, A.FINISHED)
    assert started.object_id == finished.object_id == str(job.pk)
    assert started.actor_label == "command import_csv"
    assert started.object_label == "accounts.csv (accounts)"
    assert finished.changes["status"] == [None, "succeeded"]
    assert finished.changes["error_count"] == [None, 0]


def test_portfolio_export_is_recorded(manager_client: Client, account: Account) -> None:
    response = manager_client.get("/portfolio/export.csv?band=red")
    b"".join(response.streaming_content)  # type: ignore[attr-defined]
    entry = only(T.EXPORT, A.DOWNLOADED)
    assert entry.actor_label == "manager" and entry.object_label.startswith("portfolio-")
    assert entry.changes == {"filters": [None, "band=red"]}


def test_backfill_started_is_recorded(admin_client: Client, scorecard: Scorecard) -> None:
    response = admin_client.post(f"/scoring/{scorecard.pk}/backfill/", {"days": 2, **CONFIRM})
    assert response.status_code == 302
    job = BackfillJob.objects.get()
    entry = only(T.BACKFILL, A.STARTED)
    assert entry.object_id == str(job.pk) and entry.changes["days"] == [None, 2]
    assert entry.object_label == "Default v1 (default)"


def test_quarantine_release_is_recorded(admin_client: Client, account: Account) -> None:
    quarantine_account(account.pk, OverflowError("value too large"))
    response = admin_client.post("/scoring/quarantine/", {"account": account.pk})
    assert response.status_code == 302
    entry = only(T.QUARANTINE, A.RELEASED)
    assert entry.object_id == account.external_id and entry.actor_label == "admin"
    assert entry.changes == {"quarantined": ["OverflowError: value too large", None]}


# --- sign-ins and origin -----------------------------------------------------------------------


def test_sign_ins_and_failed_attempts_are_recorded(client: Client, csm: User) -> None:
    csm.set_password("right-password-1")
    csm.save()
    client.post("/login/", {"username": "csm", "password": "wrong-password"})
    client.post("/login/", {"username": "csm", "password": "right-password-1"})
    failed = only(T.SIGN_IN, A.SIGN_IN_FAILED)
    assert failed.object_label == "csm" and failed.actor is None and failed.changes == {}
    assert only(T.SIGN_IN, A.SIGNED_IN).actor == csm
    assert "password" not in json.dumps(list(AuditEntry.objects.values()), default=str)


def test_client_address_comes_from_the_proxy_header_only_when_configured(
    settings: Any, admin: User
) -> None:
    client = client_for(admin)
    playbook = PlaybookFactory.create()
    forwarded = {"X-Forwarded-For": "198.51.100.9, 203.0.113.5"}
    client.post(f"/playbooks/{playbook.pk}/run/", CONFIRM, headers=forwarded)
    settings.CLIENT_IP_HEADER = "X-Forwarded-For"
    client.post(f"/playbooks/{playbook.pk}/run/", CONFIRM, headers=forwarded)
    client.post(f"/playbooks/{playbook.pk}/run/", CONFIRM, headers={"X-Forwarded-For": "not-an-ip"})
    first, second, third = entries(T.PLAYBOOK, A.RUN)
    assert first.ip_address == "127.0.0.1"  # the header is not trusted by default
    assert second.ip_address == "203.0.113.5"  # the address the proxy saw
    assert third.ip_address == "127.0.0.1"


def test_secret_fields_are_masked_whoever_records_them() -> None:
    with audit_origin(Source.TASK, "chs.test"):
        entry = record_audit(
            action=A.UPDATED,
            object_type=T.OTHER,
            changes={"webhook_secret": ["s1", "s2"], "api_key": [None, "k"], "name": ["a", "b"]},
        )
    assert entry.changes == {
        "webhook_secret": [MASK, MASK],
        "api_key": ["(empty)", MASK],
        "name": ["a", "b"],
    }
    assert entry.actor_label == "task chs.test" and entry.source == Source.TASK


# --- the log is append-only -----------------------------------------------------------------------


def test_entries_cannot_be_changed_or_deleted(admin_client: Client) -> None:
    entry = record_audit(action=A.CREATED, object_type=T.OTHER, label="x")
    entry.object_label = "y"
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    # Django's admin shows the entry but offers no way to change, add or delete it.
    assert admin_client.get(f"/admin/accounts/auditentry/{entry.pk}/change/").status_code == 200
    assert (
        admin_client.post(
            f"/admin/accounts/auditentry/{entry.pk}/change/", {"object_label": "z"}
        ).status_code
        == 403
    )
    assert (
        admin_client.post(
            f"/admin/accounts/auditentry/{entry.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert admin_client.get("/admin/accounts/auditentry/add/").status_code == 403
    entry.refresh_from_db()
    assert entry.object_label == "x"
