"""Scorecard editor, preview, publish, rollback and validation pages, for each role."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import Account, User
from chs_site.confirm import CONFIRM_FIELD, CONFIRM_VALUE
from chs_site.formatting import number
from scoring import synthetic
from scoring.forms import editor_forms
from scoring.models import Score, Scorecard
from scoring.selectors.history import latest_scores
from scoring.selectors.scorecards import scorecard_spec
from scoring.services.recompute import recompute_scores
from tests.factories import AccountFactory

CONFIRM = {CONFIRM_FIELD: CONFIRM_VALUE}  # the field the confirmation step sends

pytestmark = pytest.mark.django_db


def editor_post(card: Scorecard, **changes: Any) -> dict[str, Any]:
    """The editor form as a browser would post it (existing measures + the empty row)."""
    _, formset, _ = editor_forms(card)
    n = len(formset.forms)
    data: dict[str, Any] = {
        "name": card.name,
        "red_below": card.red_below,
        "green_at": card.green_at,
        "missing_data": card.missing_data,
        "m-TOTAL_FORMS": n,
        "m-INITIAL_FORMS": n - 1,
        "m-MIN_NUM_FORMS": 0,
        "m-MAX_NUM_FORMS": 30,
    }
    for i, form in enumerate(formset.forms[:-1]):
        for key, value in form.initial.items():
            data[f"m-{i}-{key}"] = value
    data.update({f"m-{n - 1}-aggregation": "latest", f"m-{n - 1}-window_days": 30})
    data.update(changes)
    return data


@pytest.fixture
def draft(true_card: Scorecard, admin: User) -> Scorecard:
    recompute_scores()
    client = Client()
    client.force_login(admin)
    response = client.post(reverse("scoring:new_draft", args=[true_card.pk]))
    assert response.status_code == 302
    return Scorecard.objects.get(status=Scorecard.Status.DRAFT)


@pytest.mark.parametrize("who", ["admin_client", "manager_client", "csm_client"])
def test_every_role_reads_scorecards_and_validation(
    request: pytest.FixtureRequest,
    who: str,
    draft: Scorecard,
    true_card: Scorecard,
    django_assert_max_num_queries: Any,
) -> None:
    client: Client = request.getfixturevalue(who)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("scoring:scorecards")).status_code == 200
    with django_assert_max_num_queries(12):
        page = client.get(reverse("scoring:detail", args=[true_card.pk]))
    assert page.status_code == 200
    # On PostgreSQL the backtest's window stats at every cut-off take three queries; the
    # SQLite fallback reads them per cut-off day (the synthetic outcomes span 60 days).
    heavy = 30 if connection.vendor == "postgresql" else 160
    with django_assert_max_num_queries(heavy):
        page = client.get(reverse("scoring:edit", args=[draft.pk]))
    assert page.status_code == 200
    assert b"would change band" in page.content
    with django_assert_max_num_queries(heavy):
        page = client.get(reverse("scoring:validation"), {"scorecard": true_card.pk})
    assert page.status_code == 200
    assert b"<svg" in page.content and b"ROC AUC" in page.content
    assert (b"Create a draft with these weights" in page.content) == (who == "admin_client")


@pytest.mark.parametrize("who", ["manager_client", "csm_client"])
def test_only_admins_change_scorecards(
    request: pytest.FixtureRequest, who: str, draft: Scorecard, true_card: Scorecard
) -> None:
    client: Client = request.getfixturevalue(who)
    assert (
        client.post(reverse("scoring:edit", args=[draft.pk]), editor_post(draft)).status_code == 403
    )
    assert client.post(reverse("scoring:publish", args=[draft.pk])).status_code == 403
    assert client.post(reverse("scoring:new_draft", args=[true_card.pk])).status_code == 403
    assert client.post(reverse("scoring:rollback", args=[true_card.pk])).status_code == 403
    assert (
        client.post(
            reverse("scoring:backfill", args=[true_card.pk]), {"days": 5, **CONFIRM}
        ).status_code
        == 403
    )
    assert client.post(reverse("scoring:suggest", args=[true_card.pk])).status_code == 403
    assert client.post(reverse("scoring:refit")).status_code == 403
    draft.refresh_from_db()
    assert draft.status == Scorecard.Status.DRAFT


def test_unknown_scorecard_is_404(admin_client: Client) -> None:
    assert admin_client.get(reverse("scoring:detail", args=[999999])).status_code == 404


def test_live_preview_reflects_unsaved_changes_and_saves_nothing(
    admin_client: Client, draft: Scorecard
) -> None:
    url = reverse("scoring:preview", args=[draft.pk])
    same = admin_client.post(url, editor_post(draft), HTTP_HX_REQUEST="true")
    assert same.status_code == 200
    assert b'id="preview-moved">0<' in same.content
    # Demanding thresholds: most accounts would turn red.
    harsh = admin_client.post(
        url, editor_post(draft, red_below=90, green_at=95), HTTP_HX_REQUEST="true"
    )
    assert harsh.status_code == 200
    assert b'id="preview-moved">0<' not in harsh.content
    assert b"<html" not in harsh.content  # a fragment
    draft.refresh_from_db()
    assert draft.red_below == 40  # nothing saved


def test_preview_of_invalid_values_says_what_to_fix(admin_client: Client, draft: Scorecard) -> None:
    response = admin_client.post(
        reverse("scoring:preview", args=[draft.pk]),
        editor_post(draft, **{"m-0-weight": -1}),
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert b"Fix the highlighted values" in response.content


def test_preview_lists_only_accounts_in_the_viewers_scope(
    csm_client: Client, other_csm_client: Client, draft: Scorecard
) -> None:
    url = reverse("scoring:preview", args=[draft.pk])
    body = editor_post(draft, red_below=90, green_at=95)
    mine = csm_client.post(url, body, HTTP_HX_REQUEST="true")
    theirs = other_csm_client.post(url, body, HTTP_HX_REQUEST="true")
    assert b"Synthetic" in mine.content
    assert b"Synthetic" not in theirs.content  # counts only; no names from another book
    assert b"None of them is in your scope" in theirs.content


def test_admin_saves_a_draft_and_bad_input_is_named(admin_client: Client, draft: Scorecard) -> None:
    url = reverse("scoring:edit", args=[draft.pk])
    bad = admin_client.post(url, editor_post(draft, red_below=80, green_at=60))
    assert bad.status_code == 400
    assert b"Green must start at or above where red ends" in bad.content
    ok = admin_client.post(url, editor_post(draft, **{"m-0-weight": 5}))
    assert ok.status_code == 302
    assert draft.measures.order_by("position").first().weight == 5  # type: ignore[union-attr]


def test_editor_shows_each_weights_share_of_the_score(
    admin_client: Client, draft: Scorecard
) -> None:
    weights = [m.weight for m in draft.measures.order_by("position")]
    html = admin_client.get(reverse("scoring:edit", args=[draft.pk])).content.decode()
    for i, weight in enumerate(weights):
        share = number(100 * weight / sum(weights))
        assert f'for="id_m-{i}-weight" data-weight-share>{share}% of the score</output>' in html
    # A refused save shows the shares of what was typed; a removed row has none.
    url = reverse("scoring:edit", args=[draft.pk])
    typed = editor_post(draft, **{"m-0-weight": 3, "m-1-weight": 1, "red_below": 90})
    html = admin_client.post(url, typed).content.decode()
    assert 'for="id_m-0-weight" data-weight-share>75% of the score' in html
    assert 'for="id_m-1-weight" data-weight-share>25% of the score' in html
    html = admin_client.post(url, {**typed, "m-1-DELETE": "on"}).content.decode()
    assert 'for="id_m-0-weight" data-weight-share>100% of the score' in html
    assert 'for="id_m-1-weight" data-weight-share></output>' in html


def test_publish_rescores_exactly_the_matched_segment_and_keeps_history(
    admin_client: Client,
    admin: User,
    draft: Scorecard,
    true_card: Scorecard,
    synth: synthetic.Synthetic,
    other_account: Account,
    django_capture_on_commit_callbacks: Any,
) -> None:
    other_account.segment = "Enterprise"
    other_account.save(update_fields=["segment"])
    synthetic.make_scorecard(
        metrics=synth.metrics, keys=synthetic.SIGNAL, segment="Enterprise", name="Ent"
    )
    recompute_scores()
    admin_client.post(reverse("scoring:edit", args=[draft.pk]), editor_post(draft, red_below=60))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("scoring:publish", args=[draft.pk]), CONFIRM)
    assert response.status_code == 302
    draft.refresh_from_db()
    true_card.refresh_from_db()
    assert (draft.status, true_card.status) == ("active", "retired")
    assert draft.published_by == admin and draft.published_at is not None
    assert "Red below: 40 → 60." in draft.change_summary
    newest = {s.account_id: s.scorecard_id for s in Score.objects.order_by("computed_at")}
    assert all(newest[a] == draft.pk for a in synth.account_ids)
    assert newest[other_account.pk] != draft.pk  # the Enterprise account was not touched


def test_rollback_restores_the_earlier_version_and_its_scores(
    admin_client: Client,
    draft: Scorecard,
    true_card: Scorecard,
    synth: synthetic.Synthetic,
    django_capture_on_commit_callbacks: Any,
) -> None:
    recompute_scores()
    before = dict(
        Account.objects.filter(id__in=synth.account_ids).values_list("id", "computed_score")
    )
    admin_client.post(
        reverse("scoring:edit", args=[draft.pk]), editor_post(draft, **{"m-0-weight": 9})
    )
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("scoring:publish", args=[draft.pk]), CONFIRM)
    changed = dict(
        Account.objects.filter(id__in=synth.account_ids).values_list("id", "computed_score")
    )
    assert changed != before
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("scoring:rollback", args=[true_card.pk]), CONFIRM)
    assert response.status_code == 302
    restored = Scorecard.objects.get(status=Scorecard.Status.ACTIVE, segment="")
    assert restored.version == 3 and restored.based_on == true_card
    assert restored.change_summary[0] == "Rolled back to version 1."
    after = dict(
        Account.objects.filter(id__in=synth.account_ids).values_list("id", "computed_score")
    )
    assert after == before
    newest = latest_scores(account_ids=synth.account_ids)
    assert {s.scorecard_id for s in newest.values()} == {restored.pk}
    # History keeps every version with who and when.
    page = admin_client.get(reverse("scoring:detail", args=[restored.pk]))
    assert b"Rolled back to version 1." in page.content and b"v2" in page.content


def test_rolling_back_the_active_version_is_refused(
    admin_client: Client, true_card: Scorecard
) -> None:
    response = admin_client.post(
        reverse("scoring:rollback", args=[true_card.pk]), CONFIRM, follow=True
    )
    assert b"already the active version" in response.content


def test_preview_scores_exactly_the_segment_the_draft_matches(
    admin: User, draft: Scorecard, synth: synthetic.Synthetic, other_account: Account
) -> None:
    from scoring.selectors.preview import preview_draft

    other_account.segment = "Enterprise"
    other_account.save(update_fields=["segment"])
    everyone = preview_draft(draft=draft, spec=scorecard_spec(draft))
    assert everyone.accounts == len(synth.account_ids) + 1  # the default scores both
    ent = synthetic.make_scorecard(
        metrics=synth.metrics, keys=synthetic.SIGNAL, segment="Enterprise", name="Ent"
    )
    default_only = preview_draft(draft=draft, spec=scorecard_spec(draft))
    assert default_only.accounts == len(synth.account_ids)
    ent_preview = preview_draft(draft=ent, spec=scorecard_spec(ent))
    assert ent_preview.accounts == 1


def test_admin_starts_a_segment_scorecard_and_duplicates_are_refused(
    admin_client: Client, csm_client: Client, true_card: Scorecard
) -> None:
    url = reverse("scoring:new_segment")
    AccountFactory.create(segment="Enterprise")
    page = admin_client.get(reverse("scoring:scorecards")).content.decode()
    assert '<option value="Enterprise"></option>' in page  # suggested: it has no scorecard
    assert csm_client.post(url, {"segment": "Enterprise"}).status_code == 403
    response = admin_client.post(url, {"segment": "Enterprise"})
    assert response.status_code == 302
    draft = Scorecard.objects.get(segment="Enterprise")
    assert (draft.status, draft.based_on) == ("draft", true_card)
    assert draft.measures.count() == true_card.measures.count()
    again = admin_client.post(url, {"segment": "Enterprise"}, follow=True)
    assert b"already has a scorecard" in again.content
    assert '<option value="Enterprise">' not in again.content.decode()
