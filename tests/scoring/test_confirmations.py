"""Publish, roll back and backfill show what they will do (the preview's own numbers) and
act only on a confirmed POST; a POST without the confirmation changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from chs_site.confirm import CONFIRM_FIELD, CONFIRM_VALUE
from playbooks.models import Task
from playbooks.selectors.playbooks import publish_effects
from playbooks.services.firing import process_score_events
from scoring import synthetic
from scoring.models import BackfillJob, Score, Scorecard
from scoring.selectors.backfill import backfill_period
from scoring.selectors.preview import clear_cache, preview_draft
from scoring.selectors.scorecards import scorecard_spec
from scoring.services.recompute import recompute_scores
from tests.api.helpers import api_for
from tests.factories import PlaybookFactory
from tests.scoring.test_scorecard_pages import editor_post

CONFIRM = {CONFIRM_FIELD: CONFIRM_VALUE}

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(true_card: Scorecard, admin: User, synth: synthetic.Synthetic) -> Scorecard:
    recompute_scores()
    # The first scores' events are consumed (as the worker would have long before anyone
    # edits a scorecard), so the publish below is the only news the playbook reacts to.
    process_score_events()
    client = Client()
    client.force_login(admin)
    client.post(reverse("scoring:new_draft", args=[true_card.pk]))
    card = Scorecard.objects.get(status=Scorecard.Status.DRAFT)
    # A stricter red line: some accounts move to red, and the red playbook reacts.
    saved = client.post(reverse("scoring:edit", args=[card.pk]), editor_post(card, red_below=60))
    assert saved.status_code == 302, saved.content.decode()[-3000:]
    PlaybookFactory.create(name="Fell into red")
    clear_cache()
    card.refresh_from_db()
    return card


def test_publish_confirmation_shows_the_previews_counts_and_changes_nothing(
    admin_client: Client, draft: Scorecard
) -> None:
    preview = preview_draft(draft=draft, spec=scorecard_spec(draft))
    tasks = sum(e.tasks for e in publish_effects(preview.changes, at=preview.at))
    assert preview.moved > 0 and tasks > 0
    page = admin_client.get(reverse("scoring:publish", args=[draft.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert f"Publish v{draft.version}?" in html
    assert f"{preview.moved} accounts move to another band" in html
    assert f"Playbooks create {tasks} tasks" in html
    draft.refresh_from_db()
    assert draft.status == Scorecard.Status.DRAFT and not Task.objects.exists()


def test_publish_confirmation_is_a_fragment_for_htmx(
    admin_client: Client, draft: Scorecard
) -> None:
    page = admin_client.get(
        reverse("scoring:publish", args=[draft.pk]), headers={"HX-Request": "true"}
    )
    html = page.content.decode()
    assert 'id="confirm-step"' in html and "<html" not in html


def test_publish_without_confirmation_is_refused_and_publishes_nothing(
    admin_client: Client, draft: Scorecard, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("scoring:publish", args=[draft.pk]))
    assert response.status_code == 400
    assert "needs an explicit confirmation" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == Scorecard.Status.DRAFT and not Task.objects.exists()


def test_confirmed_publish_creates_the_tasks_the_confirmation_announced(
    admin_client: Client, draft: Scorecard, django_capture_on_commit_callbacks: Any
) -> None:
    preview = preview_draft(draft=draft, spec=scorecard_spec(draft))
    announced = sum(e.tasks for e in publish_effects(preview.changes, at=preview.at))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("scoring:publish", args=[draft.pk]), CONFIRM)
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == Scorecard.Status.ACTIVE
    # The playbooks fire on the real score events: exactly the tasks announced.
    assert Task.objects.count() == announced > 0


def test_api_publish_dry_run_reports_the_pages_counts_and_writes_nothing(
    admin: User, draft: Scorecard
) -> None:
    preview = preview_draft(draft=draft, spec=scorecard_spec(draft))
    effects = [e for e in publish_effects(preview.changes, at=preview.at) if e.tasks]
    dry = api_for(admin, "read").get(f"/api/v1/scorecards/{draft.pk}/publish/")
    assert dry.status_code == 200, dry.content
    body = dry.json()
    assert (body["accounts"], body["moved"], body["tasks"]) == (
        preview.accounts,
        preview.moved,
        sum(e.tasks for e in effects),
    )
    assert [(p["name"], p["tasks"]) for p in body["playbooks"]] == [
        (e.name, e.tasks) for e in effects
    ]
    draft.refresh_from_db()
    assert draft.status == Scorecard.Status.DRAFT and not Task.objects.exists()


@pytest.mark.parametrize("body", [{}, {"confirm": False}])
def test_api_publish_without_confirm_is_a_400_that_says_what_would_happen(
    admin: User, draft: Scorecard, body: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    preview = preview_draft(draft=draft, spec=scorecard_spec(draft))
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(admin).post(f"/api/v1/scorecards/{draft.pk}/publish/", body)
    assert response.status_code == 400
    error = response.json()
    assert "Nothing was published" in error["error"]
    assert f"moves {preview.moved} accounts to another band" in error["error"]
    assert error["details"] == [{"field": "confirm", "reason": "Must be true to publish."}]
    draft.refresh_from_db()
    assert draft.status == Scorecard.Status.DRAFT and not Task.objects.exists()


def test_api_confirmed_publish_creates_the_tasks_the_dry_run_announced(
    admin: User, draft: Scorecard, django_capture_on_commit_callbacks: Any
) -> None:
    api = api_for(admin)
    announced = api.get(f"/api/v1/scorecards/{draft.pk}/publish/").json()["tasks"]
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/scorecards/{draft.pk}/publish/", {"confirm": True})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "active"
    assert Task.objects.count() == announced > 0


def test_the_editors_publish_saves_the_form_first_then_asks(
    admin_client: Client, draft: Scorecard
) -> None:
    response = admin_client.post(
        reverse("scoring:edit", args=[draft.pk]), editor_post(draft, red_below=55, then="publish")
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("scoring:publish", args=[draft.pk])
    draft.refresh_from_db()
    assert draft.red_below == 55 and draft.status == Scorecard.Status.DRAFT


def test_rollback_confirmation_counts_and_refusal(
    admin_client: Client,
    draft: Scorecard,
    true_card: Scorecard,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("scoring:publish", args=[draft.pk]), CONFIRM)
    true_card.refresh_from_db()
    clear_cache()
    preview = preview_draft(draft=true_card, spec=scorecard_spec(true_card))
    page = admin_client.get(reverse("scoring:rollback", args=[true_card.pk])).content.decode()
    assert f"Roll back to v{true_card.version}?" in page
    assert f"{preview.moved} accounts move to another band" in page
    refused = admin_client.post(reverse("scoring:rollback", args=[true_card.pk]))
    assert refused.status_code == 400
    assert Scorecard.objects.get(status=Scorecard.Status.ACTIVE, segment="") == draft
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client.post(reverse("scoring:rollback", args=[true_card.pk]), CONFIRM)
    assert done.status_code == 302
    assert Scorecard.objects.get(status=Scorecard.Status.ACTIVE, segment="").based_on == true_card


def test_rollback_of_the_active_version_says_why_on_the_confirmation_step(
    admin_client: Client, true_card: Scorecard
) -> None:
    page = admin_client.get(reverse("scoring:rollback", args=[true_card.pk]), follow=True)
    assert b"already the active version" in page.content


def test_backfill_confirmation_counts_the_rows_it_replaces(
    admin_client: Client, true_card: Scorecard, synth: synthetic.Synthetic
) -> None:
    recompute_scores()
    start, end = backfill_period(days=7, today=timezone.now().date())
    Score.objects.filter(account_id__in=synth.account_ids[:3]).update(
        computed_at=start + dt.timedelta(hours=1)
    )
    rows = Score.objects.filter(computed_at__gte=start, computed_at__lt=end).count()
    assert rows > 0
    page = admin_client.get(reverse("scoring:backfill", args=[true_card.pk]), {"days": 7})
    html = page.content.decode()
    assert page.status_code == 200
    assert f"for {len(synth.account_ids)} accounts" in html
    assert f"{rows} stored history row" in html
    assert 'name="days" value="7"' in html
    refused = admin_client.post(reverse("scoring:backfill", args=[true_card.pk]), {"days": 7})
    assert refused.status_code == 400 and not BackfillJob.objects.exists()
    started = admin_client.post(
        reverse("scoring:backfill", args=[true_card.pk]), {"days": 7, **CONFIRM}
    )
    assert started.status_code == 302 and BackfillJob.objects.get().days == 7


def test_backfill_confirmation_with_bad_days_says_so(
    admin_client: Client, true_card: Scorecard
) -> None:
    page = admin_client.get(
        reverse("scoring:backfill", args=[true_card.pk]), {"days": 0}, follow=True
    )
    assert b"Backfill:" in page.content and not BackfillJob.objects.exists()


@pytest.mark.parametrize("who", ["manager_client", "csm_client"])
def test_only_admins_see_confirmations(
    request: pytest.FixtureRequest, who: str, draft: Scorecard, true_card: Scorecard
) -> None:
    client: Client = request.getfixturevalue(who)
    assert client.get(reverse("scoring:publish", args=[draft.pk])).status_code == 403
    assert client.get(reverse("scoring:rollback", args=[true_card.pk])).status_code == 403
    assert (
        client.get(reverse("scoring:backfill", args=[true_card.pk]), {"days": 3}).status_code == 403
    )
