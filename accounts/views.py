from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render

from accounts import selectors
from accounts.forms import PortfolioFilterForm
from chs_site.http import AuthedRequest

PAGE_SIZE = 50


@login_required
def portfolio(request: AuthedRequest) -> HttpResponse:
    user = request.user
    scope = selectors.visible_accounts(user)
    segments = sorted(s for s in scope.order_by().values_list("segment", flat=True).distinct() if s)
    form = PortfolioFilterForm(request.GET or None, user=user, segments=segments)
    filters = form.cleaned_data if form.is_valid() else {}
    accounts = selectors.portfolio_accounts(
        user,
        search=filters.get("q", ""),
        segment=filters.get("segment", ""),
        owner=filters.get("owner", ""),
    ).order_by("name", "pk")
    page = Paginator(accounts, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "show_owner": not user.is_csm,
        "total_in_scope": scope.count(),
    }
    template = "accounts/portfolio.html#table" if request.htmx else "accounts/portfolio.html"
    return render(request, template, context)


@login_required
def account_detail(request: AuthedRequest, external_id: str) -> HttpResponse:
    account = selectors.get_account_for_user(request.user, external_id)
    return render(
        request,
        "accounts/account_detail.html",
        {"account": account, "contacts": list(account.contacts.all())},
    )
