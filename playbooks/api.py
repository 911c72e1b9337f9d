"""REST endpoints of this app (mounted under /api/v1/ by chs_site/api_urls.py)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
