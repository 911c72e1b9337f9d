"""Reads that need permission. Every page, API endpoint and query that touches accounts
goes through ``visible_accounts`` (DESIGN.md's role table lives here and only here)."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.models import Account, ApiToken, ImportJob, Role, Team, User


def visible_accounts(user: User) -> QuerySet[Account]:
    """Accounts ``user`` may see: a CSM their own book, a manager their teams' books
    (and any account they own themselves), an admin everything."""
    if not user.is_authenticated or not user.is_active:
        return Account.objects.none()
    if user.is_admin:
        return Account.objects.all()
    if user.role == Role.MANAGER:
        return Account.objects.filter(Q(owner__team__manager=user) | Q(owner=user))
    return Account.objects.filter(owner=user)


def get_account_for_user(user: User, external_id: str) -> Account:
    """The account, or 404 when it does not exist *or* is outside the user's scope
    (an outsider cannot tell the two apart)."""
    if "\x00" in external_id:  # no such id can exist; PostgreSQL refuses NUL in text
        raise Http404("No such account.")
    try:
        return visible_accounts(user).select_related("owner").get(external_id=external_id)
    except Account.DoesNotExist:
        raise Http404("No such account.") from None


def visible_users(user: User) -> QuerySet[User]:
    """People ``user`` may see and assign work to: self for a CSM, the team for a manager,
    everyone for an admin."""
    if user.is_admin:
        return User.objects.filter(is_active=True)
    if user.role == Role.MANAGER:
        return User.objects.filter(Q(team__manager=user) | Q(pk=user.pk), is_active=True)
    return User.objects.filter(pk=user.pk)


def managed_teams(user: User) -> QuerySet[Team]:
    if user.is_admin:
        return Team.objects.all()
    if user.role == Role.MANAGER:
        return Team.objects.filter(manager=user)
    return Team.objects.none()


def can_manage_account(user: User, account: Account) -> bool:
    """Assign/reassign tasks and owners: managers within their team, admins anywhere."""
    if user.is_admin:
        return True
    return user.role == Role.MANAGER and visible_accounts(user).filter(pk=account.pk).exists()


def portfolio_accounts(
    user: User, *, search: str = "", segment: str = "", owner: str = ""
) -> QuerySet[Account]:
    qs = visible_accounts(user).select_related("owner")
    if search:
        qs = qs.filter(
            Q(name__icontains=search)
            | Q(external_id__icontains=search)
            | Q(domain__icontains=search)
        )
    if segment:
        qs = qs.filter(segment=segment)
    if owner:
        qs = qs.filter(owner__username=owner)
    return qs


def api_token_for_key(key: str) -> ApiToken | None:
    """The token whose key this is (revoked ones too, so the caller can say so)."""
    from accounts.services import hash_api_key

    return ApiToken.objects.select_related("user").filter(key_hash=hash_api_key(key)).first()


def visible_import_jobs(user: User) -> QuerySet[ImportJob]:
    """Admins see every import; managers the ones they ran; CSMs none."""
    if user.is_admin:
        return ImportJob.objects.all()
    if user.role == Role.MANAGER:
        return ImportJob.objects.filter(created_by=user)
    return ImportJob.objects.none()


def can_import(user: User) -> bool:
    return user.is_authenticated and (user.is_admin or user.role == Role.MANAGER)
