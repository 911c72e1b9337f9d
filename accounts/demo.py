"""Demo company: 1 admin, 3 managers, 12 CSMs in 3 teams, ~600 accounts with contacts.

Deterministic (fixed seed) and idempotent: everything is keyed (usernames, team names,
external ids), and a second run creates only what is missing, which is nothing.
Dates are relative to ``today`` so the demo always looks current.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from accounts.models import Account, Contact, LifecycleStage, Role, Team, User, owner_sort_name

DEMO_PASSWORD = "chs-demo"
DEMO_SEED = 20261122
N_ACCOUNTS = 600
TEAMS = ("Atlas", "Beacon", "Compass")

_FIRST = [
    "Ada",
    "Alex",
    "Amara",
    "Ben",
    "Carla",
    "Chen",
    "Dana",
    "Diego",
    "Elena",
    "Emil",
    "Fatima",
    "Felix",
    "Grace",
    "Hana",
    "Ines",
    "Ivan",
    "Jonas",
    "Julia",
    "Kai",
    "Keiko",
    "Lena",
    "Leo",
    "Maya",
    "Marco",
    "Nadia",
    "Noah",
    "Olivia",
    "Omar",
    "Priya",
    "Paul",
    "Rosa",
    "Ravi",
    "Sara",
    "Sven",
    "Tara",
    "Tomás",
    "Uma",
    "Victor",
    "Wen",
    "Yusuf",
    "Zoe",
    "Liam",
    "Mila",
    "Arjun",
    "Chloe",
    "Nils",
    "Ingrid",
    "Mateo",
]
_LAST = [
    "Andersen",
    "Bauer",
    "Carter",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Martin",
    "Nakamura",
    "Novak",
    "Olsen",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Vargas",
    "Weber",
    "Young",
    "Zimmermann",
    "Silva",
    "Moreau",
    "Kim",
    "Patel",
    "Lindqvist",
    "Horvat",
    "Costa",
    "Murphy",
    "Brennan",
    "Okafor",
    "Haddad",
]
_NAME_A = [
    "Blue",
    "North",
    "Silver",
    "Apex",
    "Bright",
    "Cedar",
    "Clear",
    "Cobalt",
    "Crest",
    "Delta",
    "Ember",
    "Evergreen",
    "Falcon",
    "Granite",
    "Harbor",
    "Helix",
    "Horizon",
    "Iron",
    "Juniper",
    "Keystone",
    "Lantern",
    "Lumen",
    "Maple",
    "Meridian",
    "Nimbus",
    "Nova",
    "Oak",
    "Orbit",
    "Pine",
    "Prairie",
    "Quartz",
    "Redwood",
    "Ridge",
    "River",
    "Sage",
    "Sierra",
    "Sonic",
    "Spruce",
    "Summit",
    "Terra",
    "Tidal",
    "Trail",
    "Vertex",
    "Willow",
    "Zenith",
    "Atlas",
    "Beacon",
    "Cascade",
    "Copper",
    "Fjord",
]
_NAME_B = [
    "Logistics",
    "Analytics",
    "Health",
    "Labs",
    "Foods",
    "Robotics",
    "Energy",
    "Media",
    "Capital",
    "Systems",
    "Freight",
    "Dental",
    "Learning",
    "Retail",
    "Insurance",
    "Bio",
    "Motors",
    "Software",
    "Travel",
    "Security",
    "Apparel",
    "Pharma",
    "Legal",
    "Hospitality",
    "Telecom",
    "Farms",
    "Studios",
    "Networks",
    "Payments",
    "Clinics",
]
_NAME_SUFFIX = ("Inc", "GmbH", "Ltd", "AB", "Group", "Co", "SA", "BV", "LLC", "Oy")
_TITLES = (
    "VP Operations",
    "Head of Customer Experience",
    "CTO",
    "IT Manager",
    "COO",
    "Director of Sales Ops",
    "Product Owner",
    "Finance Director",
    "Team Lead",
    "CEO",
)

# (segment, share, ARR range, accounts per name) — a believable SaaS mix.
_SEGMENTS = (
    ("SMB", 0.55, (4_000, 40_000)),
    ("Mid-Market", 0.30, (40_000, 220_000)),
    ("Enterprise", 0.15, (220_000, 1_500_000)),
)
_STAGES = (
    (LifecycleStage.ONBOARDING, 0.12),
    (LifecycleStage.ADOPTION, 0.48),
    (LifecycleStage.EXPANSION, 0.22),
    (LifecycleStage.RENEWAL, 0.18),
)


@dataclass(frozen=True)
class DemoAccount:
    external_id: str
    name: str
    domain: str
    segment: str
    owner: str
    arr: Decimal
    renewal_date: dt.date
    lifecycle_stage: str
    contacts: tuple[tuple[str, str, str, bool], ...]  # name, email, title, primary


def demo_usernames() -> dict[str, list[str]]:
    return {
        "admin": ["admin"],
        "managers": [f"manager{i}" for i in range(1, 4)],
        "csms": [f"csm{i}" for i in range(1, 13)],
    }


def plan_accounts(today: dt.date, n: int = N_ACCOUNTS) -> list[DemoAccount]:
    rng = random.Random(DEMO_SEED)
    csms = demo_usernames()["csms"]
    names: set[str] = set()
    plan = []
    for i in range(1, n + 1):
        while True:
            base = f"{rng.choice(_NAME_A)} {rng.choice(_NAME_B)}"
            if base not in names:
                names.add(base)
                break
        name = f"{base} {rng.choice(_NAME_SUFFIX)}"
        domain = base.lower().replace(" ", "") + rng.choice((".com", ".io", ".co", ".eu", ".net"))
        segment, arr_range = _pick_segment(rng)
        low, high = arr_range
        # ARR is log-uniform inside the segment's range: many small, few large.
        arr = Decimal(round(low * (high / low) ** rng.random(), -2))
        renewal = today + dt.timedelta(days=rng.randint(5, 365))
        stage = _pick(rng, _STAGES)
        if (renewal - today).days <= 90 and stage != LifecycleStage.ONBOARDING:
            stage = LifecycleStage.RENEWAL
        contacts = []
        for c in range(rng.randint(1, 4)):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            email = f"{first.lower()}.{last.lower()}@{domain}".replace("á", "a")
            contacts.append((f"{first} {last}", email, rng.choice(_TITLES), c == 0))
        plan.append(
            DemoAccount(
                external_id=f"ACC-{i:05d}",
                name=name,
                domain=domain,
                segment=segment,
                owner=csms[(i - 1) % len(csms)],
                arr=arr,
                renewal_date=renewal,
                lifecycle_stage=stage,
                contacts=tuple(contacts),
            )
        )
    return plan


def _pick_segment(rng: random.Random) -> tuple[str, tuple[int, int]]:
    roll, acc = rng.random(), 0.0
    for segment, share, arr_range in _SEGMENTS:
        acc += share
        if roll < acc:
            return segment, arr_range
    return _SEGMENTS[-1][0], _SEGMENTS[-1][2]


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    roll, acc = rng.random(), 0.0
    for value, share in weighted:
        acc += share
        if roll < acc:
            return value
    return weighted[-1][0]


@transaction.atomic
def seed_people_and_accounts(*, today: dt.date) -> dict[str, int]:
    """Create the demo people and accounts that do not exist yet. Returns counts created."""
    created = {"users": 0, "teams": 0, "accounts": 0, "contacts": 0}
    names = demo_usernames()

    def ensure_user(username: str, role: str, first: str, last: str) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(
                username=username,
                role=role,
                first_name=first,
                last_name=last,
                email=f"{username}@chs.example",
                is_staff=role == Role.ADMIN,
                is_superuser=role == Role.ADMIN,
            )
            user.set_password(DEMO_PASSWORD)
            user.save()
            created["users"] += 1
        return user

    rng = random.Random(DEMO_SEED + 1)
    ensure_user("admin", Role.ADMIN, "Alice", "Admin")
    for t, team_name in enumerate(TEAMS):
        manager = ensure_user(
            names["managers"][t], Role.MANAGER, rng.choice(_FIRST), rng.choice(_LAST)
        )
        team = Team.objects.filter(name=team_name).first()
        if team is None:
            team = Team.objects.create(name=team_name, manager=manager)
            created["teams"] += 1
        for username in names["csms"][t * 4 : (t + 1) * 4]:
            csm = ensure_user(username, Role.CSM, rng.choice(_FIRST), rng.choice(_LAST))
            if csm.team_id is None:
                csm.team = team
                csm.save(update_fields=["team"])

    owners = {u.username: u for u in User.objects.filter(username__in=names["csms"])}
    plan = plan_accounts(today)
    existing = set(
        Account.objects.filter(external_id__in=[a.external_id for a in plan]).values_list(
            "external_id", flat=True
        )
    )
    new = [a for a in plan if a.external_id not in existing]
    Account.objects.bulk_create(
        [
            Account(
                external_id=a.external_id,
                name=a.name,
                domain=a.domain,
                segment=a.segment,
                owner=owners[a.owner],
                owner_sort_name=owner_sort_name(owners[a.owner]),
                arr=a.arr,
                renewal_date=a.renewal_date,
                lifecycle_stage=a.lifecycle_stage,
            )
            for a in new
        ],
        batch_size=500,
    )
    created["accounts"] = len(new)
    ids = dict(
        Account.objects.filter(external_id__in=[a.external_id for a in new]).values_list(
            "external_id", "id"
        )
    )
    contacts = [
        Contact(account_id=ids[a.external_id], name=n, email=e, title=t, is_primary=p)
        for a in new
        for (n, e, t, p) in a.contacts
    ]
    Contact.objects.bulk_create(contacts, batch_size=1000)
    created["contacts"] = len(contacts)
    return created


def seed(*, today: dt.date) -> dict[str, int]:
    return seed_people_and_accounts(today=today)
