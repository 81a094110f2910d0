"""Email to the business through a real SMTP server (plain, STARTTLS with a login, implicit
TLS), or the Maildir by default: sent once, retried while the server is down or answers
4xx, failed on 5xx, never carrying an injected header, never sent once its customer is erased."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from sera.adapters.smtp.sender import SmtpSender
from sera.bootstrap import Sera
from sera.customers.service import find_or_create_customer
from sera.mail.service import Attachment, MailError, queue_mail, send_pending
from sera.privacy.erasure import redact_customer
from sera.storage.models import MailMessage
from tests.conftest import FakeClock, Personas
from tests.smtp_server import DroppingServer, SmtpServer, certificate


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.stop()


def use_smtp(sera: Sera, url: str, ca_file: Path | None = None) -> None:
    sera.settings = sera.settings.model_copy(update={"smtp_url": SecretStr(url), "smtp_ca_file": ca_file})


def queue(sera: Sera, merchant_id: str, key: str = "hello:1", customer_id: str | None = None, **context: object) -> str:
    with sera.uow(merchant_id) as uow:
        mail_id = queue_mail(
            uow,
            key=key,
            to=["owner@northside.example"],
            template="notification",
            context={"event": "ticket_created", "title": "A ticket was created", "shop_name": "Northside Cycles"}
            | {"ticket_id": "tkt_1", "subject": "Bent wheel", "description": "It wobbles."}
            | context,
            customer_id=customer_id,
            now=sera.clock(),
        )
        uow.commit()
    assert mail_id is not None
    return mail_id


def status(sera: Sera, mail_id: str) -> MailMessage:
    with sera.uow() as uow:
        row = uow.session.get(MailMessage, mail_id)
        assert row is not None
        return row


def test_a_mail_goes_to_the_smtp_server_once_with_text_and_html(
    sera: Sera, personas: Personas, smtp: SmtpServer
) -> None:
    use_smtp(sera, smtp.url)
    mail_id = queue(sera, personas.northside_id)
    assert send_pending(sera) == 1
    assert send_pending(sera) == 0  # sent is sent
    [got] = smtp.received
    message = got.message
    assert got.recipients == ["owner@northside.example"] and got.sender == "sera@localhost"
    assert message["Subject"] == "New ticket: Bent wheel · Northside Cycles"
    assert message["Message-ID"] == f"<{mail_id}@sera.mail>" and message["Auto-Submitted"] == "auto-generated"
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }
    assert "It wobbles." in parts["text/plain"] and "It wobbles." in parts["text/html"]
    row = status(sera, mail_id)
    assert row.status == "sent" and row.message is None and row.sent_at == sera.clock()  # the body is not kept


def test_the_same_key_is_one_mail(sera: Sera, personas: Personas, smtp: SmtpServer) -> None:
    use_smtp(sera, smtp.url)
    queue(sera, personas.northside_id, key="ticket:tkt_1")
    with sera.uow(personas.northside_id) as uow:
        again = queue_mail(
            uow, key="ticket:tkt_1", to=["x@northside.example"], template="notification", context={}, now=sera.clock()
        )
    assert again is None
    assert send_pending(sera) == 1 and len(smtp.received) == 1


def test_starttls_with_a_login_and_implicit_tls(sera: Sera, personas: Personas, tmp_path: Path) -> None:
    certs = certificate(tmp_path)
    for mode in ("starttls", "tls"):
        server = SmtpServer(mode, certs)
        try:
            use_smtp(sera, server.url, ca_file=certs[0])
            queue(sera, personas.northside_id, key=f"tls:{mode}")
            assert send_pending(sera) == 1, mode
            assert len(server.received) == 1
        finally:
            server.stop()


def test_a_server_whose_certificate_is_not_trusted_delays_the_mail(
    sera: Sera, personas: Personas, tmp_path: Path
) -> None:
    server = SmtpServer("tls", certificate(tmp_path))
    try:
        use_smtp(sera, server.url)  # no CA file: the self-signed certificate is refused
        mail_id = queue(sera, personas.northside_id)
        assert send_pending(sera) == 0
        row = status(sera, mail_id)
        assert row.status == "pending" and "SSL" in (row.last_error or "")
    finally:
        server.stop()


def test_a_server_that_is_down_delays_mail_and_loses_none(
    sera: Sera, personas: Personas, clock: FakeClock, smtp: SmtpServer
) -> None:
    down = DroppingServer()
    down.stop()  # nothing listens there now
    use_smtp(sera, down.url)
    mail_id = queue(sera, personas.northside_id)
    assert send_pending(sera) == 0
    first = status(sera, mail_id)
    assert (
        first.status == "pending" and first.attempts == 1 and first.next_attempt_at == clock.now + timedelta(seconds=30)
    )
    assert send_pending(sera) == 0 and status(sera, mail_id).attempts == 1  # not due again yet
    clock.advance(seconds=31)
    use_smtp(sera, smtp.url)  # the server is back
    assert send_pending(sera) == 1 and len(smtp.received) == 1


@pytest.mark.parametrize("server", ["dropping", "4xx"])
def test_a_dropped_line_or_a_4xx_is_retried_with_backoff(
    sera: Sera, personas: Personas, clock: FakeClock, smtp: SmtpServer, server: str
) -> None:
    flaky = DroppingServer() if server == "dropping" else None
    use_smtp(sera, flaky.url if flaky else smtp.url)
    smtp.handler.answers = ["451 4.3.0 try again later", "452 4.3.1 full"] if not flaky else []
    mail_id = queue(sera, personas.northside_id)
    waits = []
    for _ in range(2):
        assert send_pending(sera) == 0
        row = status(sera, mail_id)
        assert row.status == "pending"
        assert row.next_attempt_at is not None
        waits.append(row.next_attempt_at - clock.now)
        clock.advance(seconds=waits[-1].total_seconds())
    assert waits == [timedelta(seconds=30), timedelta(seconds=60)]
    assert status(sera, mail_id).last_error
    if flaky:
        flaky.stop()
        use_smtp(sera, smtp.url)
    assert send_pending(sera) == 1 and len(smtp.received) == 1


def test_a_5xx_refusal_marks_the_mail_failed_and_shown(sera: Sera, personas: Personas, smtp: SmtpServer) -> None:
    use_smtp(sera, smtp.url)
    smtp.handler.answers = ["554 5.7.1 <owner@northside.example>: rejected as spam"]
    mail_id = queue(sera, personas.northside_id)
    assert send_pending(sera) == 0
    row = status(sera, mail_id)
    assert row.status == "failed" and row.message is None and "554" in (row.last_error or "")
    assert "owner@northside.example" not in (row.last_error or "")  # the server's words, without the address
    assert send_pending(sera) == 0 and smtp.received == []


def test_mail_is_given_up_after_three_days_of_a_server_that_is_down(
    sera: Sera, personas: Personas, clock: FakeClock
) -> None:
    down = DroppingServer()
    down.stop()
    use_smtp(sera, down.url)
    mail_id = queue(sera, personas.northside_id)
    for _ in range(100):
        send_pending(sera)
        row = status(sera, mail_id)
        if row.status != "pending":
            break
        clock.advance(hours=1)
    assert row.status == "failed" and clock.now - row.created_at >= timedelta(days=3)


def test_without_smtp_mail_is_written_to_the_maildir(sera: Sera, personas: Personas) -> None:
    queue(sera, personas.northside_id, description="Spokes loose.")
    assert send_pending(sera) == 1
    box = mailbox.Maildir(sera.settings.mail_dir)
    [message] = list(box)
    assert "Spokes loose." in message.as_string()
    assert (sera.settings.mail_dir.stat().st_mode & 0o777) == 0o700


def test_a_customer_name_cannot_inject_a_header(sera: Sera, personas: Personas, smtp: SmtpServer) -> None:
    use_smtp(sera, smtp.url)
    queue(sera, personas.northside_id, subject="Bent wheel\r\nBcc: thief@evil.example\r\n\r\nhi")
    assert send_pending(sera) == 1
    [got] = smtp.received
    assert got.recipients == ["owner@northside.example"]
    assert got.message["Bcc"] is None and "\n" not in str(got.message["Subject"])


@pytest.mark.parametrize(
    "address", ["not-an-address", "a@b", "x@example.com\r\nBcc: y@evil.example", "<x@example.com>", "x..y@ex.com", ""]
)
def test_an_invalid_address_is_refused_before_anything_is_stored(sera: Sera, personas: Personas, address: str) -> None:
    with sera.uow(personas.northside_id) as uow, pytest.raises(MailError):
        queue_mail(uow, key="bad", to=[address], template="notification", context={}, now=sera.clock())


def test_an_erased_customers_unsent_mail_is_never_sent(sera: Sera, personas: Personas, smtp: SmtpServer) -> None:
    use_smtp(sera, smtp.url)
    with sera.uow(personas.northside_id) as uow:
        customer = find_or_create_customer(uow, name="Priya Raman", phone="+13125550142", source="test")
        uow.commit()
    mail_id = queue(sera, personas.northside_id, customer_id=customer.id, description="Priya Raman called.")
    redact_customer(sera, personas.northside_id, customer.id, actor="test")
    assert send_pending(sera) == 0 and smtp.received == []
    assert status(sera, mail_id).status == "erased"


def test_an_attachment_travels(sera: Sera, personas: Personas, smtp: SmtpServer) -> None:
    use_smtp(sera, smtp.url)
    with sera.uow(personas.northside_id) as uow:
        queue_mail(
            uow,
            key="attach",
            to=["owner@northside.example"],
            template="notification",
            context={"event": "weekly_report", "title": "The weekly report", "shop_name": "Northside"},
            attachments=[Attachment("report.pdf", "application/pdf", b"%PDF-1.7 test")],
            now=sera.clock(),
        )
        uow.commit()
    send_pending(sera)
    [part] = [p for p in smtp.received[0].message.walk() if p.get_filename()]
    assert part.get_filename() == "report.pdf" and part.get_payload(decode=True) == b"%PDF-1.7 test"


def test_the_sender_refuses_a_url_it_cannot_use() -> None:
    with pytest.raises(ValueError, match="smtp://"):
        SmtpSender("http://mail.example")


def test_mail_rows_hold_no_plaintext(sera: Sera, personas: Personas) -> None:
    queue(sera, personas.northside_id, description="Secret words of a caller")
    with sera.uow() as uow:
        [row] = uow.session.execute(select(MailMessage)).scalars()
        assert row.message is not None and b"Secret words" not in row.message
