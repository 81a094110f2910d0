"""Connects the mail port: SMTP when ``SERA_SMTP_URL`` is set, otherwise the Maildir."""

from __future__ import annotations

import threading

from sera.adapters.smtp.sender import MaildirSender, SmtpSender
from sera.bootstrap import Sera
from sera.mail.service import Sender


class _Current:
    """The sender the settings name now (tests and the CLI change settings on a running Sera),
    kept while they stay the same: its connections and TLS context are reused."""

    def __init__(self, sera: Sera) -> None:
        self._sera = sera
        self._lock = threading.Lock()
        self._kept: tuple[tuple[object, ...], Sender] | None = None

    def _sender(self) -> Sender:
        settings = self._sera.settings
        url = settings.smtp_url.get_secret_value() if settings.smtp_url else None
        ident = (url, settings.smtp_ca_file, settings.smtp_timeout_seconds, settings.mail_dir)
        with self._lock:
            if self._kept is None or self._kept[0] != ident:
                sender: Sender = (
                    MaildirSender(settings.mail_dir)
                    if url is None
                    else SmtpSender(url, timeout=settings.smtp_timeout_seconds, ca_file=settings.smtp_ca_file)
                )
                self._kept = (ident, sender)
            return self._kept[1]

    def send(self, message: bytes, sender: str, recipients: list[str]) -> None:
        self._sender().send(message, sender, recipients)


def connect(sera: Sera) -> None:
    sera.mail_sender = _Current(sera)
