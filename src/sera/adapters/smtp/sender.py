"""Hands a built message to an SMTP server, or writes it to a Maildir.

An SMTP answer decides what happens next (``sera.mail``): 4xx, a refused or dropped
connection, a timeout, a TLS or login failure are retried (a fixed server or password
delivers the mail later); a 5xx refusal of the message or of every recipient is final.
"""

from __future__ import annotations

import contextlib
import mailbox
import os
import smtplib
import ssl
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sera.mail.service import MailDeferredError, MailRejectedError
from sera.observability import redact

PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class SmtpSender:
    """One connection per worker thread, kept open between messages (a NOOP checks one that
    sat idle); a connection that fails is dropped and the next message opens a new one."""

    IDLE_CHECK_S = 5.0

    def __init__(self, url: str, *, timeout: float = 20.0, ca_file: Path | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in PORTS or not parts.hostname:
            raise ValueError("an SMTP URL is smtp://, smtp+starttls:// or smtps:// with a host")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or PORTS[parts.scheme]
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else ""
        self.timeout = timeout
        self.tls = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self._local = threading.local()

    def send(self, message: bytes, sender: str, recipients: list[str]) -> None:
        try:
            client = self._client()
            client.sendmail(sender, recipients, message)  # some recipients refused: the rest have it
            self._local.used = time.monotonic()
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            kind = MailRejectedError if all(code >= 500 for code in codes) else MailDeferredError
            self._reset()
            raise kind(f"recipients refused ({', '.join(map(str, sorted(set(codes))))})") from None
        except (smtplib.SMTPConnectError, smtplib.SMTPAuthenticationError, smtplib.SMTPHeloError) as exc:
            self._drop()
            raise MailDeferredError(f"{type(exc).__name__} {exc.smtp_code}") from None
        except smtplib.SMTPResponseException as exc:
            kind = MailRejectedError if exc.smtp_code >= 500 else MailDeferredError
            self._reset()
            raise kind(f"answered {exc.smtp_code} {_words(exc.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as exc:  # dropped, refused, timed out, TLS
            self._drop()
            raise MailDeferredError(f"{type(exc).__name__}: {exc}"[:200]) from None

    def _client(self) -> smtplib.SMTP:
        client: smtplib.SMTP | None = getattr(self._local, "client", None)
        if client is not None and time.monotonic() - self._local.used > self.IDLE_CHECK_S:
            try:
                if client.noop()[0] != 250:
                    raise smtplib.SMTPServerDisconnected("noop refused")
            except (smtplib.SMTPException, OSError):
                self._drop()
                client = None
        if client is None:
            client = self._connect()
            self._local.client, self._local.used = client, time.monotonic()
        return client

    def _connect(self) -> smtplib.SMTP:
        if self.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.tls)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            client.ehlo()
            if self.scheme == "smtp+starttls":
                client.starttls(context=self.tls)
                client.ehlo()
            if self.user:
                client.login(self.user, self.password)
        except BaseException:
            client.close()
            raise
        return client

    def _reset(self) -> None:
        """After a refused message the connection stays usable once the transaction is reset."""
        client = getattr(self._local, "client", None)
        try:
            if client is not None:
                client.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            with contextlib.suppress(OSError):
                client.close()


def _words(error: bytes | str) -> str:
    """The server's answer as kept in the mail's row: a refusal often names the recipient."""
    text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
    return redact(" ".join(text.split()))[:150]


class MaildirSender:
    """The embedded default: each message a file in a Maildir (readable by any mail client)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, message: bytes, sender: str, recipients: list[str]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            box = mailbox.Maildir(self.path, create=True)
            for folder in ("tmp", "new", "cur"):  # a folder made by hand may lack them
                (self.path / folder).mkdir(mode=0o700, exist_ok=True)
            os.chmod(self.path, 0o700)  # it holds what the business is told, callers' messages included
            box.add(message)
        except OSError as exc:
            raise MailDeferredError(f"maildir: {exc}") from None
