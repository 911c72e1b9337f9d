from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from chs_site import search, views
from chs_site.csp import swagger_ui_policy

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="playbooks:today", permanent=False)),
    path("healthz", views.healthz, name="healthz"),
    path("search/", search.search, name="search"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("chs_site.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        # The split view serves Swagger UI's start-up script from a URL, not inline.
        swagger_ui_policy(
            SpectacularSwaggerSplitView.as_view(
                url_name="api-schema", template_name="api_docs.html"
            )
        ),
        name="api-docs",
    ),
    path("", include("accounts.urls")),
    path("", include("scoring.urls")),
    path("", include("surveys.urls")),
    path("", include("playbooks.urls")),
    path("", include("outbound.urls")),
    path("", include("connectors.urls")),
]

handler400 = "chs_site.views.bad_request"
handler404 = "chs_site.views.page_not_found"
handler500 = "chs_site.views.server_error"
