"""Who may see and do what: the role table of DESIGN.md, in one place.

A CSM sees their own book, a manager their team's books, an admin everything. Outside a
user's scope is a 404 (``get_account_for_user``): an outsider cannot tell "not yours"
from "does not exist"."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.models import Account, Contact, ImportJob, Role, User
from chs_site.errors import Conflict


def visible_accounts(user: User) -> QuerySet[Account]:
    """Accounts ``user`` may see: a CSM their own book, a manager their teams' books
    (and any account they own themselves), an admin everything."""
    if not user.is_authenticated or not user.is_active:
        return Account.objects.none()
    if user.is_admin:
        return Account.objects.all()
    if user.role == Role.MANAGER:
        # owner IN (literal ids of the team's people, one tiny query): PostgreSQL then knows
        # how many accounts match from its statistics and reads a sorted first page from an
        # index, where a join or subquery made it fetch and sort the whole team's book.
        team = list(
            User.objects.filter(Q(team__manager=user) | Q(pk=user.pk)).values_list("pk", flat=True)
        )
        return Account.objects.filter(owner_id__in=team)
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


def get_contact_for_user(user: User, external_id: str, pk: int) -> Contact:
    """A contact of an account in the user's scope, or 404 (also for another account's
    contact under this account's URL)."""
    account = get_account_for_user(user, external_id)
    try:
        contact = account.contacts.get(pk=pk)
    except Contact.DoesNotExist:
        raise Http404("No such contact.") from None
    contact.account = account
    return contact


def visible_users(user: User) -> QuerySet[User]:
    """People ``user`` may see and assign work to: self for a CSM, the team for a manager,
    everyone for an admin."""
    if user.is_admin:
        return User.objects.filter(is_active=True)
    if user.role == Role.MANAGER:
        return User.objects.filter(Q(team__manager=user) | Q(pk=user.pk), is_active=True)
    return User.objects.filter(pk=user.pk)


def assignable_owner(user: User, username: str) -> User:
    """The user named ``username`` if ``user`` may make them an account's owner, else a
    conflict that says only that the name cannot be used: the same words whether the
    person does not exist or works in another team, and no owner, team or book named."""
    owner = visible_users(user).filter(username=username).first()
    if owner is None:
        raise Conflict(
            "The owner cannot be used.",
            errors=[
                {
                    "field": "owner",
                    "reason": f"{username!r} is not someone you may assign accounts to",
                }
            ],
        )
    return owner


def can_reassign_work(user: User) -> bool:
    """Assign and reassign tasks and accounts at all (within their scope): managers and
    admins."""
    return user.is_admin or user.role == Role.MANAGER


def can_manage_account(user: User, account: Account) -> bool:
    """Assign/reassign tasks and owners: managers within their team, admins anywhere."""
    if user.is_admin:
        return True
    return user.role == Role.MANAGER and visible_accounts(user).filter(pk=account.pk).exists()


def owner_choices(user: User, account: Account) -> QuerySet[User]:
    """Who ``user`` may hand ``account`` to: CSMs and managers in the user's scope."""
    return (
        visible_users(user)
        .filter(role__in=[Role.CSM, Role.MANAGER])
        .exclude(pk=account.owner_id or 0)
        .order_by("first_name", "last_name", "username")
    )


def visible_import_jobs(user: User) -> QuerySet[ImportJob]:
    """Admins see every import; managers the ones they ran; CSMs none."""
    if user.is_admin:
        return ImportJob.objects.all()
    if user.role == Role.MANAGER:
        return ImportJob.objects.filter(created_by=user)
    return ImportJob.objects.none()


def can_import(user: User) -> bool:
    return user.is_authenticated and (user.is_admin or user.role == Role.MANAGER)
