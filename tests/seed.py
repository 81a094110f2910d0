"""Seeded activity for tests, created through the capabilities' own service functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sera.bootstrap import Sera
from sera.calls.service import TranscriptLine, end_call, save_transcript, start_call
from sera.customers.service import find_or_create_customer
from sera.privacy.service import record_privacy_request
from sera.support.service import create_ticket

# Personal data that must never appear in plaintext in storage or logs.
CALLER_NAME = "Bartholomew Quigley"
CALLER_PHONE = "+13125550177"
CALLER_EMAIL = "bart.quigley@example.com"
TRANSCRIPT_PHRASE = "my gravel bike makes a clicking noise near the bottom bracket"
TICKET_PHRASE = "cracked carbon seatpost clamp"


@dataclass(frozen=True)
class Seeded:
    customer_id: str
    call_id: str
    ticket_id: str
    privacy_request_id: str


def seed_activity(sera: Sera, merchant_id: str) -> Seeded:
    now = sera.clock()
    with sera.uow(merchant_id) as uow:
        customer = find_or_create_customer(uow, name=CALLER_NAME, phone=CALLER_PHONE, email=CALLER_EMAIL)
        call = start_call(
            uow,
            channel="voice",
            direction="inbound",
            provider="twilio",
            from_number=CALLER_PHONE,
            to_number="+13125550100",
            started_at=now - timedelta(minutes=3),
            customer_id=customer.id,
            provider_call_id="CA" + "0" * 32,
        )
        save_transcript(
            uow,
            call,
            [
                TranscriptLine("agent", "Thanks for calling Northside Cycles, this is Sam."),
                TranscriptLine("caller", f"hi it's {CALLER_NAME} {TRANSCRIPT_PHRASE}"),
            ],
        )
        end_call(uow, call, ended_at=now, outcome="ticket")
        ticket = create_ticket(
            uow,
            subject="Repair question",
            description=f"{CALLER_NAME} reports a {TICKET_PHRASE}",
            tags=["repair"],
            customer_id=customer.id,
            now=now,
            call_id=call.id,
        )
        request = record_privacy_request(
            uow,
            request_type="access",
            customer_id=customer.id,
            source="agent",
            now=now,
            actor="test",
        )
        uow.commit()
        return Seeded(customer.id, call.id, ticket.id, request.id)
