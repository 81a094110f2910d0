"""A real SMTP server for the tests and benchmarks (aiosmtpd), in plain, STARTTLS (with a
login) and implicit-TLS flavours, that can be told to answer 4xx or 5xx to the next
messages, and a server that drops the line after its greeting."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "sera", "mail-secret"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> Message:
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)  # the next DATA answers, e.g. "451 4.3.0 try later"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd names it)
        if self.answers:
            return self.answers.pop(0)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 OK"


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (the client trusts it as its CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok)


class SmtpServer:
    """``mode``: ``plain`` (smtp://), ``starttls`` (smtp+starttls://, login required) or ``tls`` (smtps://)."""

    def __init__(self, mode: str = "plain", certs: tuple[Path, Path] | None = None) -> None:
        self.handler = Handler()
        self.mode = mode
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": _free_port()}
        if mode != "plain":
            assert certs is not None
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(certs[0]), str(certs[1]))
            if mode == "starttls":
                kwargs |= {
                    "tls_context": context,
                    "require_starttls": True,
                    "authenticator": _login,
                    "auth_required": True,
                }
            else:
                kwargs |= {"ssl_context": context, "authenticator": _login, "auth_require_tls": False}
        self.controller = Controller(self.handler, **kwargs)
        self.controller.start()
        self.port = kwargs["port"]

    @property
    def url(self) -> str:
        if self.mode == "starttls":
            return f"smtp+starttls://{USER}:{PASSWORD}@localhost:{self.port}"
        if self.mode == "tls":
            return f"smtps://{USER}:{PASSWORD}@localhost:{self.port}"
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def stop(self) -> None:
        self.controller.stop()


class DroppingServer:
    """Greets, reads one command, and hangs up: a server that drops the line."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.url = f"smtp://127.0.0.1:{self.port}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"220 flaky.test ESMTP\r\n")
                conn.recv(1024)

    def stop(self) -> None:
        self.sock.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
