"""The API's pagination: DRF's page numbers, with a blank ``?page=`` refused like any page
that does not exist (404) instead of read as the first page; the schema says the page is
an integer, and the server holds to that."""

from __future__ import annotations

from typing import Any

from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.request import Request


class PageNumberPagination(pagination.PageNumberPagination):
    def get_page_number(self, request: Request, paginator: Any) -> Any:
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and not raw.strip():
            raise NotFound("Invalid page: give a page number, or leave ?page= out.")
        return super().get_page_number(request, paginator)
