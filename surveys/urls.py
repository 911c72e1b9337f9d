from __future__ import annotations

from django.urls import path

import chs_site.converters  # noqa: F401  (registers <id:…>)
from surveys import views

app_name = "surveys"

urlpatterns = [
    path("surveys/", views.survey_list, name="surveys"),
    path("surveys/new/", views.survey_new, name="survey_new"),
    path("surveys/<id:pk>/send/", views.survey_send, name="survey_send"),
    path("surveys/campaigns/<id:pk>/", views.campaign_detail, name="campaign_detail"),
    # The links in survey emails: public, authorised by the signed token alone.
    path("s/<token>/", views.answer, name="answer"),
    path("s/<token>/unsubscribe/", views.unsubscribe_view, name="unsubscribe"),
]
