"""What a brain and its tools know during one turn: the shop, the caller, the state."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from sera.agent.language.numbers import spoken_lengths
from sera.booking.service import ShopSchedule, load_schedule
from sera.customers.phones import region_of_locale
from sera.storage.database import UnitOfWork
from sera.storage.models import Merchant, Service

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    aliases: tuple[str, ...]
    duration_min: int
    price_cents: int | None
    description: str | None
    capacity: int = 1  # places per time: a class or workshop is full, not taken


@dataclass(frozen=True)
class ShopProfile:
    merchant_id: str
    domain: str
    name: str
    zone: ZoneInfo
    currency: str
    region: str  # for phone numbers said without a country code ("020 7946 0421")
    locale: str  # BCP 47, as the shop file gives it ("en-US"): the language calls are spoken in
    handoff_number: str | None
    address: str | None
    website: str | None
    agent: dict[str, Any]
    workflows: list[dict[str, Any]]
    services: list[ServiceInfo]
    schedule: ShopSchedule

    @property
    def agent_name(self) -> str:
        return str(self.agent.get("name") or "the assistant")

    def service_options(self) -> dict[str, list[str]]:
        return {s.name: [s.name, *s.aliases] for s in self.services}

    @functools.cached_property
    def service_lengths(self) -> dict[str, list[str]]:
        """Services named by their length (``length_names``)."""
        return length_names(self.services)

    def staff_options(self) -> dict[str, list[str]]:
        return {s.name: [s.name] for s in self.schedule.staff if s.name}

    def service(self, name: str) -> ServiceInfo | None:
        return next((s for s in self.services if s.name == name), None)

    def opening_hours(self, day: date) -> list[tuple[time, time]]:
        """The shop's opening ranges on a local date (empty when closed)."""
        if day in self.schedule.calendar.closures:
            return []
        return [(r.start, r.end) for r in self.schedule.calendar.hours.get(day.weekday(), [])]

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        return any(start <= local.time() < end for start, end in self.opening_hours(local.date()))


_profiles: dict[str, tuple[datetime, ShopProfile]] = {}
_profiles_lock = threading.Lock()


def load_shop(uow: UnitOfWork, version: datetime | None = None) -> ShopProfile:
    """The shop as the agent sees it, cached per shop version.

    Invariant: every change to a shop's services, staff, hours, closures or settings
    bumps ``Merchant.updated_at`` (the import does), which invalidates this cache.
    ``version``: the shop's ``updated_at`` when the caller has just read it in this
    unit of work (as the agent's turn does, in the query that loads the conversation).
    """
    if version is None:
        version = uow.merchant_version()
    with _profiles_lock:
        cached = _profiles.get(str(uow.merchant_id))
    if cached is not None and cached[0] == version:
        return cached[1]
    merchant = uow.session.execute(select(Merchant).where(Merchant.id == uow.merchant_id)).scalar_one()
    profile = _build_profile(uow, merchant)
    with _profiles_lock:
        _profiles[merchant.id] = (merchant.updated_at, profile)
    return profile


def length_names(services: list[ServiceInfo]) -> dict[str, list[str]]:
    """The services a caller can name by their length before the last word of their name, because
    another service shares that word but not that length ("one of your hour and a half lessons" for
    a 90-minute "Extended lesson" beside a 60-minute "In-car lesson"). Only a whole name of these
    names a service: "half" alone is no "hour and a half lesson"."""
    names: dict[str, list[str]] = {}
    for service in services:
        kind = service.name.split()[-1].lower()
        same_kind = [s for s in services if s.name.split()[-1].lower() == kind]
        if len(same_kind) > 1 and [s.duration_min for s in same_kind].count(service.duration_min) == 1:
            names[service.name] = [f"{length} {kind}" for length in spoken_lengths(service.duration_min)]
    return names


def _build_profile(uow: UnitOfWork, merchant: Merchant) -> ShopProfile:
    services = [
        ServiceInfo(s.name, tuple(s.aliases), s.duration_min, s.price_cents, s.description, s.capacity)
        for s in uow.session.execute(select(Service).order_by(Service.position)).scalars()
    ]
    settings = merchant.settings or {}
    return ShopProfile(
        merchant_id=merchant.id,
        domain=merchant.domain,
        name=merchant.name,
        zone=ZoneInfo(merchant.timezone),
        currency=merchant.currency,
        region=region_of_locale(merchant.locale),
        locale=merchant.locale,
        handoff_number=merchant.handoff_number,
        address=merchant.address,
        website=merchant.website,
        agent=settings.get("agent", {}),
        workflows=settings.get("workflows", []),
        services=services,
        schedule=load_schedule(uow),
    )


@dataclass
class Caller:
    phone: str | None
    customer_id: str | None = None
    name: str | None = None

    @property
    def first_name(self) -> str | None:
        return self.name.split()[0] if self.name else None


@dataclass
class TurnContext:
    uow: UnitOfWork
    shop: ShopProfile
    caller: Caller
    channel: str  # voice | sms | web
    now: datetime
    state: dict[str, Any] = field(default_factory=dict)
    call_id: str | None = None

    @property
    def local_now(self) -> datetime:
        return self.now.astimezone(self.shop.zone)
