from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

import chs_site.converters  # noqa: F401  (registers <account_id:…>)
from accounts import audit_views, portfolio_views, signin, sso, views

app_name = "accounts"

urlpatterns = [
    path("login/", signin.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/change/", signin.password_change, name="password_change"),
    path("password/change/done/", signin.password_change_done, name="password_change_done"),
    path("password/reset/", signin.password_reset, name="password_reset"),
    path("password/reset/sent/", signin.password_reset_sent, name="password_reset_sent"),
    path(
        "password/reset/<uidb64>/<token>/",
        signin.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path("password/reset/done/", signin.password_reset_complete, name="password_reset_complete"),
    path("sso/start/", sso.sso_start, name="sso_start"),
    path("sso/callback/", sso.sso_callback, name="sso_callback"),
    path("portfolio/", views.portfolio, name="portfolio"),
    path("portfolio/export.csv", views.portfolio_export, name="portfolio_export"),
    path("portfolio/views/", portfolio_views.save_view, name="save_view"),
    path("portfolio/views/<id:pk>/", portfolio_views.change_view, name="change_view"),
    *(
        path(
            f"portfolio/bulk/{slug}/",
            portfolio_views.bulk_action,
            {"slug": slug},
            name=f"portfolio_bulk_{slug}",
        )
        for slug in portfolio_views.BULK_ACTIONS
    ),
    path("team/", views.team_dashboard, name="team_dashboard"),
    path("accounts/<account_id:external_id>/", views.account_detail, name="account_detail"),
    path("accounts/<account_id:external_id>/health/", views.account_health, name="account_health"),
    path(
        "accounts/<account_id:external_id>/timeline/",
        views.account_timeline,
        name="account_timeline",
    ),
    path("accounts/<account_id:external_id>/feedback/", views.log_feedback, name="log_feedback"),
    path(
        "accounts/<account_id:external_id>/override/", views.override_score, name="override_score"
    ),
    path(
        "accounts/<account_id:external_id>/override/revoke/",
        views.revoke_override,
        name="revoke_override",
    ),
    path("accounts/<account_id:external_id>/owner/", views.change_owner, name="change_owner"),
    path("accounts/<account_id:external_id>/contacts/", views.add_contact, name="add_contact"),
    path(
        "accounts/<account_id:external_id>/contacts/<id:pk>/",
        views.edit_contact,
        name="edit_contact",
    ),
    path(
        "accounts/<account_id:external_id>/contacts/<id:pk>/delete/",
        views.delete_contact,
        name="delete_contact",
    ),
    path("imports/", views.imports, name="imports"),
    path("imports/<id:pk>/", views.import_detail, name="import_detail"),
    path("imports/<id:pk>/progress/", views.import_progress, name="import_progress"),
    path("imports/<id:pk>/errors.csv", views.import_errors_csv, name="import_errors_csv"),
    path("api-tokens/", views.api_tokens, name="api_tokens"),
    path("api-tokens/<id:pk>/revoke/", views.revoke_api_token, name="revoke_api_token"),
    path("audit-log/", audit_views.audit_log, name="audit_log"),
]
