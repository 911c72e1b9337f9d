"""The stored churn-risk model: fitted once (task), read per account without refitting."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from sklearn.metrics import roc_auc_score

from accounts.models import Account, User
from scoring import synthetic, validation
from scoring.models import ChurnModel, Outcome, Scorecard
from scoring.tasks import fit_churn_model

pytestmark = pytest.mark.django_db


def test_fitted_model_ranks_weak_accounts_riskier_and_names_drivers(
    synth: synthetic.Synthetic, true_card: Scorecard, mixed_card: Scorecard
) -> None:
    # The model uses the active default scorecard's measures (the true rule here).
    model = validation.fit_churn_model()
    assert model.n_outcomes == 240 and model.auc is not None and model.auc >= 0.85
    churned = dict(Outcome.objects.values_list("account_id", "kind"))
    risks = []
    for account in Account.objects.filter(id__in=synth.account_ids):
        risk = validation.churn_risk_for(account=account, model=model)
        assert risk is not None and 0 <= risk.probability <= 1
        risks.append((risk.probability, account))
    # Risk now separates the accounts that churned from those that stayed (levels are stable).
    auc = roc_auc_score(
        [churned[a.pk] == Outcome.Kind.CHURNED for _, a in risks], [p for p, _ in risks]
    )
    assert auc >= 0.85
    high = max(risks, key=lambda r: r[0])[1]
    top = validation.churn_risk_for(account=high, model=model)
    assert top is not None and top.drivers
    assert top.drivers[0]["metric"] in synthetic.SIGNAL and top.drivers[0]["raises_risk"]
    assert set(top.as_dict()) >= {"probability", "model_version", "fitted_at", "drivers"}


def test_refit_task_skips_when_nothing_new_and_says_too_few_plainly(
    synth: synthetic.Synthetic, true_card: Scorecard
) -> None:
    fit_churn_model.delay()  # eager in tests: runs the task body
    assert ChurnModel.objects.count() == 1
    assert validation.refit_churn_model(only_if_new_outcomes=True) == (
        "No new outcomes since the last fit."
    )
    assert ChurnModel.objects.count() == 1
    Outcome.objects.filter(kind=Outcome.Kind.CHURNED).delete()
    assert "Too few outcomes" in validation.refit_churn_model()


def test_admin_refits_from_the_validation_page(
    admin_client: Client,
    synth: synthetic.Synthetic,
    true_card: Scorecard,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("scoring:refit"), follow=True)
    assert b"Refitting the churn model" in response.content
    assert ChurnModel.objects.count() == 1
    page = admin_client.get(reverse("scoring:validation"))
    assert b"Model #" in page.content


def test_csm_records_an_outcome_on_their_account_and_not_on_another_book(
    csm_client: Client,
    account: Account,
    other_account: Account,
    csm: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    body = {"kind": "churned", "occurred_at": "2026-01-15", "arr_change": "-12000", "note": "lost"}
    with django_capture_on_commit_callbacks(execute=True):
        ok = csm_client.post(reverse("scoring:record_outcome", args=[account.external_id]), body)
    assert ok.status_code == 302
    outcome = Outcome.objects.get(account=account)
    assert (outcome.kind, str(outcome.arr_change), outcome.recorded_by) == (
        "churned",
        "-12000.00",
        csm,
    )
    assert account.activities.filter(kind="outcome").exists()  # on the timeline
    other = csm_client.post(
        reverse("scoring:record_outcome", args=[other_account.external_id]), body
    )
    assert other.status_code == 404
    bad = csm_client.post(
        reverse("scoring:record_outcome", args=[account.external_id]),
        {"kind": "vanished", "occurred_at": "someday"},
        HTTP_HX_REQUEST="true",
    )
    assert bad.status_code == 400
    assert b"Select a valid choice" in bad.content and b"Enter a valid date" in bad.content


def test_account_page_and_api_show_churn_risk_as_a_second_labelled_signal(
    csm_client: Client,
    csm: User,
    synth: synthetic.Synthetic,
    true_card: Scorecard,
    django_assert_max_num_queries: Any,
) -> None:
    from scoring.services.recompute import recompute_scores
    from tests.api.helpers import api_for

    account = Account.objects.get(pk=synth.account_ids[0])
    api = api_for(csm, "read")
    assert api.get(f"/api/v1/accounts/{account.external_id}/").json()["churn_risk"] is None
    page = csm_client.get(f"/accounts/{account.external_id}/")
    assert b"No churn model yet" in page.content
    assert b"Record outcome" in page.content

    recompute_scores(account_ids=[account.pk])
    model = validation.fit_churn_model()
    expected = validation.churn_risk_for(account=account, model=model, at=timezone.now())
    assert expected is not None
    with django_assert_max_num_queries(40):
        page = csm_client.get(f"/accounts/{account.external_id}/")
    body = page.content.decode()
    assert "Second signal" in body and f"{expected.percent}%" in body
    assert f"model #{model.pk}" in body
    detail = api.get(f"/api/v1/accounts/{account.external_id}/").json()
    risk = detail["churn_risk"]
    assert risk["signal"] == "churn-risk model"
    assert risk["model_version"] == model.pk
    assert risk["probability"] == pytest.approx(expected.probability, abs=1e-3)
    assert risk["drivers"] and {"metric", "raises_risk"} <= set(risk["drivers"][0])
    assert detail["health"]["computed_score"] is not None  # the score stays beside it
