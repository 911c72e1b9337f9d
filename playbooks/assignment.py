"""Who gets a playbook's task, and the values its templates fill in. Reads only (the
round-robin turn is advanced on the in-memory action; ``services.fire`` saves it under lock)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count

from accounts.models import Account, Role, User
from chs_site.formatting import absolute, money
from playbooks.models import ACTIVE_STATUSES, PlaybookAction, Task
from playbooks.triggers import Match


@dataclass
class Staff:
    """Who is who for assignment, loaded once per firing batch."""

    accounts: dict[int, Account]
    team_members: dict[int, list[User]]
    open_counts: dict[int, int]
    users: dict[int, User]


def load_staff(account_ids: Iterable[int]) -> Staff:
    accounts = {
        a.pk: a
        for a in Account.objects.filter(pk__in=list(account_ids)).select_related(
            "owner__team__manager"
        )
    }
    team_ids = {a.owner.team_id for a in accounts.values() if a.owner and a.owner.team_id}
    members: dict[int, list[User]] = defaultdict(list)
    users: dict[int, User] = {}
    for user in User.objects.filter(team_id__in=team_ids, role=Role.CSM, is_active=True).order_by(
        "pk"
    ):
        assert user.team_id is not None
        members[user.team_id].append(user)
        users[user.pk] = user
    counts = dict(
        Task.objects.filter(assignee_id__in=list(users), status__in=ACTIVE_STATUSES)
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
        .order_by()
    )
    return Staff(accounts, members, {pk: counts.get(pk, 0) for pk in users}, users)


def assignee_for(action: PlaybookAction, account: Account, staff: Staff) -> User | None:
    owner = account.owner
    rule = action.assignee_rule
    if rule == PlaybookAction.AssigneeRule.NAMED_USER and action.assignee_user:
        return action.assignee_user
    if rule == PlaybookAction.AssigneeRule.OWNER_MANAGER:
        if owner and owner.team and owner.team.manager:
            return owner.team.manager
        return owner
    if rule in (PlaybookAction.AssigneeRule.ROUND_ROBIN, PlaybookAction.AssigneeRule.FEWEST_OPEN):
        team_id = owner.team_id if owner else None
        members = staff.team_members.get(team_id or -1, [])
        if not members:
            return owner
        if rule == PlaybookAction.AssigneeRule.FEWEST_OPEN:
            chosen = min(members, key=lambda u: (staff.open_counts.get(u.pk, 0), u.pk))
        else:
            last = action.round_robin_state.get(str(team_id))
            ids = [u.pk for u in members]
            later = [u for u in members if last is None or u.pk > last]
            chosen = later[0] if later else members[0]
            action.round_robin_state[str(team_id)] = chosen.pk
            assert ids  # members is not empty
        staff.open_counts[chosen.pk] = staff.open_counts.get(chosen.pk, 0) + 1
        return chosen
    return owner


def template_values(account: Account, match: Match, today: dt.date) -> dict[str, Any]:
    values = dict(match.values)
    renewal = account.renewal_date
    values.update(
        account_name=account.name,
        external_id=account.external_id,
        segment=account.segment,
        arr=money(account.arr),
        renewal_date=absolute(renewal),
        days_to_renewal=(renewal - today).days if renewal else "",
        owner=account.owner.display_name if account.owner else "nobody",
    )
    values.setdefault("band", account.health_band)
    values.setdefault("score", account.health_score)
    return values
