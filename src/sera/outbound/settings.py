"""What a shop asked for (its ``outbound`` settings, as in the shop file) and the
process-wide sending policy (``SERA_OUTBOUND_*``).

The policy is about the deployment, not a shop's choice: how fast a long code may send
(Twilio: about one message a second), a guard against a runaway campaign, and how long a
provider needs to finish a request whose sender died. It lives in the environment so
every worker process agrees on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from sera.config import env_file_path
from sera.outbound.rules import QuietHours


class OutboundSettings(BaseSettings):
    """``SERA_OUTBOUND_RATE_LIMITS`` (default on), ``SERA_OUTBOUND_SMS_PER_SECOND`` per sending
    number (default 1), ``SERA_OUTBOUND_CALLS_PER_SECOND`` per calling number (default 1:
    Twilio's default calls-per-second), ``SERA_OUTBOUND_DAILY_CAP`` sends per shop per local day (0: none),
    ``SERA_OUTBOUND_SETTLE_SECONDS``: how long after a dead worker claimed a send its provider
    request is surely finished, so the provider's message list tells the truth (default 15)."""

    model_config = SettingsConfigDict(env_prefix="SERA_OUTBOUND_", extra="ignore")

    rate_limits: bool = True
    sms_per_second: float = 1.0
    calls_per_second: float = 1.0
    daily_cap: int = 500
    settle_seconds: float = Field(default=15.0, ge=1.0)

    @classmethod
    def load(cls) -> OutboundSettings:
        path = env_file_path()
        return cls(_env_file=path if path.exists() else None)

    def policy(self) -> SendPolicy:
        def interval(per_second: float) -> timedelta | None:
            return timedelta(seconds=1 / per_second) if self.rate_limits and per_second > 0 else None

        return SendPolicy(
            sms_interval=interval(self.sms_per_second),
            call_interval=interval(self.calls_per_second),
            daily_cap=self.daily_cap or None,
            settle=timedelta(seconds=self.settle_seconds),
        )


@dataclass(frozen=True)
class SendPolicy:
    sms_interval: timedelta | None = timedelta(seconds=1)  # per sending number; None: no rate limit
    call_interval: timedelta | None = timedelta(seconds=1)  # per calling number
    daily_cap: int | None = 500  # per shop per local day; None: no cap
    settle: timedelta = timedelta(seconds=15)  # a dead worker's claim is reconciled once this old


@dataclass(frozen=True)
class Recovery:
    enabled: bool
    channel: str
    delay: timedelta
    max_attempts: int


@dataclass(frozen=True)
class Reminders:
    enabled: bool
    channel: str
    before: timedelta


@dataclass(frozen=True)
class ShopOutbound:
    """A shop's ``outbound`` settings; everything is off unless the shop enabled it."""

    recovery: Recovery
    reminders: Reminders
    confirmations: bool
    quiet_hours: QuietHours
    call_provider: str = "twilio"  # who places the shop's calls: twilio | vapi

    @classmethod
    def parse(cls, settings: dict[str, Any] | None) -> ShopOutbound:
        outbound = (settings or {}).get("outbound") or {}
        recovery = outbound.get("abandoned_checkout") or {}
        reminders = outbound.get("appointment_reminders") or {}
        confirmations = outbound.get("booking_confirmations") or {}
        return cls(
            recovery=Recovery(
                enabled=bool(recovery.get("enabled")),
                channel=str(recovery.get("channel", "sms")),
                delay=timedelta(minutes=int(recovery.get("delay_min", 60))),
                max_attempts=int(recovery.get("max_attempts", 1)),
            ),
            reminders=Reminders(
                enabled=bool(reminders.get("enabled")),
                channel=str(reminders.get("channel", "sms")),
                before=timedelta(hours=int(reminders.get("hours_before", 24))),
            ),
            confirmations=bool(confirmations.get("enabled")),
            quiet_hours=QuietHours.parse(outbound.get("quiet_hours")),
            call_provider=str(outbound.get("call_provider") or "twilio"),
        )

    @property
    def anything_enabled(self) -> bool:
        return self.recovery.enabled or self.reminders.enabled or self.confirmations
