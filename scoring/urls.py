from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

import chs_site.converters  # noqa: F401  (registers <account_id:…>)
from scoring import views

app_name = "scoring"

urlpatterns: list[URLPattern | URLResolver] = [
    path("scoring/", views.scorecard_list, name="scorecards"),
    path("scoring/validation/", views.validation_page, name="validation"),
    path("scoring/new-segment/", views.scorecard_new_segment, name="new_segment"),
    path("scoring/validation/refit/", views.churn_model_refit, name="refit"),
    path("scoring/<id:pk>/", views.scorecard_detail, name="detail"),
    path("scoring/<id:pk>/new-draft/", views.scorecard_new_draft, name="new_draft"),
    path("scoring/<id:pk>/edit/", views.scorecard_edit, name="edit"),
    path("scoring/<id:pk>/preview/", views.scorecard_preview, name="preview"),
    path("scoring/<id:pk>/publish/", views.scorecard_publish, name="publish"),
    path("scoring/<id:pk>/rollback/", views.scorecard_rollback, name="rollback"),
    path("scoring/<id:pk>/backfill/", views.scorecard_backfill, name="backfill"),
    path("scoring/<id:pk>/suggest/", views.scorecard_suggest, name="suggest"),
    path("scoring/quarantine/", views.quarantine_page, name="quarantine"),
    path("scoring/product-analytics/", views.product_analytics, name="product_analytics"),
    path("scoring/backfills/<id:pk>/", views.backfill_job, name="backfill_job"),
    path("scoring/backfills/<id:pk>/step/", views.backfill_step, name="backfill_step"),
    path(
        "accounts/<account_id:external_id>/outcomes/", views.record_outcome, name="record_outcome"
    ),
]
