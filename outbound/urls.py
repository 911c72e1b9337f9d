from __future__ import annotations

from django.urls import path

import chs_site.converters  # noqa: F401  (registers <id:…>)
from outbound import views

app_name = "outbound"

urlpatterns = [
    path("webhooks/", views.webhooks, name="webhooks"),
    path("webhooks/<id:pk>/", views.endpoint, name="endpoint"),
    path("webhooks/<id:pk>/toggle/", views.endpoint_toggle, name="endpoint_toggle"),
    path("webhooks/<id:pk>/test/", views.endpoint_test, name="endpoint_test"),
    path("webhooks/<id:pk>/delete/", views.endpoint_delete, name="endpoint_delete"),
    path("webhooks/deliveries/<id:pk>/replay/", views.delivery_replay, name="delivery_replay"),
]
