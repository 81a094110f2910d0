"""Text messages of a conversation: bodies sealed, segments counted for usage."""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import select

from sera.privacy.copies import holds_copies, note_copy
from sera.storage.database import UnitOfWork
from sera.storage.models import Message, new_id

GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€")


def sms_segments(text: str) -> int:
    """How many SMS segments a carrier bills for this text (GSM-7 or UCS-2 encoding)."""
    if not text:
        return 1
    if all(c in GSM7 or c in GSM7_EXTENDED for c in text):
        units = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        return 1 if units <= 160 else math.ceil(units / 153)
    units = sum(2 if ord(c) > 0xFFFF else 1 for c in text)  # UTF-16 code units
    return 1 if units <= 70 else math.ceil(units / 67)


def record_message(
    uow: UnitOfWork,
    *,
    direction: str,
    provider: str,
    provider_message_id: str | None,
    body: str,
    status: str,
    customer_id: str | None,
    call_id: str | None,
    now: datetime,
    segments: int | None = None,
) -> Message:
    if uow.merchant_id is None:
        raise RuntimeError("messages need a merchant-scoped unit of work")
    message = Message(
        id=new_id("msg"),
        merchant_id=uow.merchant_id,
        customer_id=customer_id,
        call_id=call_id,
        direction=direction,
        provider=provider,
        provider_message_id=provider_message_id,
        status=status,
        segments=segments if segments is not None else sms_segments(body),
        created_at=now,
    )
    uow.vault.seal(message, body=body)
    uow.session.add(message)
    uow.session.flush()
    if provider_message_id and holds_copies(provider, "message"):
        note_copy(
            uow,
            provider=provider,
            kind="message",
            provider_id=provider_message_id,
            customer_id=customer_id,
            record_id=message.id,
        )
    return message


def find_message(uow: UnitOfWork, *, provider: str, provider_message_id: str) -> Message | None:
    """A message by the provider's id for it; None when it is not ours."""
    return uow.session.execute(
        select(Message).where(Message.provider == provider, Message.provider_message_id == provider_message_id)
    ).scalar_one_or_none()


def update_message_status(uow: UnitOfWork, *, provider: str, provider_message_id: str, status: str) -> bool:
    """A provider's delivery report; False when the message is not ours (nothing changes)."""
    message = find_message(uow, provider=provider, provider_message_id=provider_message_id)
    if message is None:
        return False
    message.status = status
    return True
