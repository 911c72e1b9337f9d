from __future__ import annotations

from django.urls import path

import chs_site.converters  # noqa: F401  (registers <id:…>)
from connectors import views

app_name = "connectors"

urlpatterns = [
    path("connectors/", views.connector_list, name="connectors"),
    path("connectors/new/<slug:kind>/", views.connector_new, name="connector_new"),
    path("connectors/<id:pk>/", views.connector_edit, name="connector_edit"),
    path("connectors/<id:pk>/delete/", views.connector_delete, name="connector_delete"),
    path("connectors/<id:pk>/sync/", views.connector_sync, name="connector_sync"),
    path("connectors/<id:pk>/runs/<id:run_pk>/", views.run_detail, name="run_detail"),
]
