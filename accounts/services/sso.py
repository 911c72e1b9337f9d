"""People who sign in through single sign-on: created on their first sign-in, with the role
the identity provider's claim maps to, and kept at that role on each sign-in after."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction

from accounts.models import Role, User
from chs_site.errors import ApplicationError

# Least privilege first: a claim with several mapped values gives the highest of them.
ROLE_RANK = {Role.CSM: 0, Role.MANAGER: 1, Role.ADMIN: 2}
USERNAME_MAX_LENGTH = 150


def role_from_claims(
    claims: Mapping[str, object], *, claim: str, mapping: Mapping[str, str]
) -> str | None:
    """The role ``claim`` maps to through ``mapping``: for a list (a ``groups`` claim) the
    most privileged role any of its values maps to; a CSM when no value maps to a role; None
    when the provider sent no such claim."""
    raw = claims.get(claim)
    if raw is None:
        return None
    values = raw if isinstance(raw, list | tuple) else [raw]
    roles = [mapping[v] for v in values if isinstance(v, str) and mapping.get(v) in ROLE_RANK]
    return max(roles, key=lambda role: ROLE_RANK[Role(role)], default=Role.CSM)


def _free_username(wanted: str) -> str:
    base = wanted.strip()[:USERNAME_MAX_LENGTH] or "user"
    candidate, n = base, 1
    while User.objects.filter(username=candidate).exists():
        n += 1
        suffix = f"-{n}"
        candidate = base[: USERNAME_MAX_LENGTH - len(suffix)] + suffix
    return candidate


def _check_email(claims: Mapping[str, object]) -> str:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise ApplicationError(
            "Your identity provider sent no email address; CHS needs one to know who you are. "
            "Ask your IT team to release the email claim to CHS."
        )
    if claims.get("email_verified") is False:
        raise ApplicationError(
            "Your identity provider says your email address is not verified; verify it there, "
            "then sign in again."
        )
    return email.strip()


@transaction.atomic
def create_sso_user(
    *, claims: Mapping[str, object], role_claim: str, role_map: Mapping[str, str]
) -> User:
    """A user for a first single sign-on: username and email from the email claim, names from
    the profile claims, no usable password (they sign in through the provider)."""
    email = _check_email(claims)
    role = role_from_claims(claims, claim=role_claim, mapping=role_map) or Role.CSM
    user = User(
        username=_free_username(email),
        email=email,
        first_name=str(claims.get("given_name") or "")[:150],
        last_name=str(claims.get("family_name") or "")[:150],
        role=role,
        is_staff=role == Role.ADMIN,
        is_superuser=role == Role.ADMIN,
    )
    user.set_unusable_password()
    user.save()
    return user


@transaction.atomic
def update_sso_user(
    *, user: User, claims: Mapping[str, object], role_claim: str, role_map: Mapping[str, str]
) -> User:
    """On each single sign-on after the first: the role follows the provider's claim when it
    sends one (a person moved out of the admins' group loses admin); without the claim the
    role set in CHS stays."""
    _check_email(claims)
    role = role_from_claims(claims, claim=role_claim, mapping=role_map)
    if role is None:
        return user
    is_admin = role == Role.ADMIN
    if (user.role, user.is_staff, user.is_superuser) != (role, is_admin, is_admin):
        user.role = role
        user.is_staff = user.is_superuser = is_admin
        user.save(update_fields=["role", "is_staff", "is_superuser"])
    return user
