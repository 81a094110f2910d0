"""`sera demo` on an empty folder: migrates, loads the demo shop, serves, prints what to try."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from sera import cli
from sera.access.api_keys import InvalidApiKeyError, authenticate, create_api_key, list_api_keys
from sera.bootstrap import Sera
from sera.storage.models import AuditEntry
from tests.conftest import PG_URL


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_demo(folder: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERA_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "sera", "demo", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    pytest.fail("sera demo did not start within 60 s")


@pytest.mark.slow  # the embedded job workers wait on timers, which never run out under libfaketime
@pytest.mark.skipif(bool(PG_URL), reason="the demo is the embedded SQLite setup")
def test_a_message_left_on_try_in_the_demo_is_an_email_in_var_mail(tmp_path: Path) -> None:
    port = _free_port()
    process = _start_demo(tmp_path, port)
    try:
        base = f"http://127.0.0.1:{port}"
        started = httpx.post(f"{base}/try/conversations", json={"caller_phone": "+13125550133"}, timeout=10).json()
        for line in ["can I leave a message for Dana", "tell her the saddle fits", "Ines Ortiz", "yes"]:
            said = f"{base}/try/conversations/{started['conversation_id']}/messages"
            httpx.post(said, json={"text": line}, timeout=10).raise_for_status()
        mail = tmp_path / "var" / "mail" / "new"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _mail_naming(mail, "Ines Ortiz"):
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    [text] = _mail_naming(mail, "Ines Ortiz")  # one email (the demo's own conversations sent theirs)
    assert "+13125550133" in text and "saddle fits" in text


def _mail_naming(folder: Path, name: str) -> list[str]:
    texts = [path.read_text() for path in folder.iterdir()] if folder.exists() else []
    return [text for text in texts if name in text]


@pytest.mark.skipif(bool(PG_URL), reason="the demo is the embedded SQLite setup")
def test_demo_serves_the_demo_shop_from_an_empty_folder(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERA_")}
    process = _start_demo(tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    try:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert f"{base}/docs" in output and "Maildir var/mail" in output
    key = re.search(r"Demo API key \(the only valid demo key\): (\S+)", output)
    assert key is not None
    assert (tmp_path / "var" / "sera.env").stat().st_mode & 0o077 == 0
    assert (tmp_path / "var" / "sera.db").stat().st_mode & 0o077 == 0

    # a second start reuses the same data and secrets, and the printed key works
    process = subprocess.Popen(
        [sys.executable, "-m", "sera", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        response = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(
                    f"{base}/api/v1/customers",
                    headers={"Authorization": f"Bearer {key.group(1)}"},
                    timeout=2,
                )
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert response is not None and response.status_code == 200
        assert "Priya Shah" in {c["name"] for c in response.json()["data"]}
        _dashboard_shows_the_demo(base, output)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _dashboard_shows_the_demo(base: str, output: str) -> None:
    """The printed login opens the dashboard, where the demo's first conversations are."""
    login = re.search(r"Dashboard:\s+(\S+)\s+\(log in as (\S+), password (\S+)\)", output)
    assert login is not None and login.group(1) == f"{base}/dashboard/"
    answer = httpx.post(
        f"{base}/dashboard/login", data={"email": login.group(2), "password": login.group(3)}, timeout=10
    )
    assert answer.status_code == 303, answer.text
    cookie = answer.headers["set-cookie"].split(";")[0]  # Secure: httpx keeps it for https only
    pages = {path: httpx.get(f"{base}/dashboard{path}", headers={"Cookie": cookie}, timeout=10) for path in
             ("/", "/calls", "/appointments", "/tickets", "/customers")}  # fmt: skip
    assert all(page.status_code == 200 for page in pages.values())
    assert "Today at Northside Cycles" in pages["/"].text
    assert pages["/calls"].text.count('href="/dashboard/calls/call_') >= 5  # the demo's conversations
    weeks = [  # the demo books "Tuesday at 10am": this week's or next week's Tuesday
        httpx.get(f"{base}/dashboard/appointments?view=week&date={day}", headers={"Cookie": cookie}, timeout=10).text
        for day in (date.today(), date.today() + timedelta(days=7))
    ]
    assert any("Tune-up" in week for week in weeks)
    assert "Message for the team" in pages["/tickets"].text
    assert "Priya Shah" in pages["/customers"].text


def test_running_the_demo_set_up_again_leaves_only_the_newest_demo_key_valid(sera: Sera) -> None:
    first = cli.set_up_demo(sera)
    other = create_api_key(sera, first.merchant_id, role="viewer", label="reporting", actor="test")
    second = cli.set_up_demo(sera)

    assert second.merchant_id == first.merchant_id
    assert (first.revoked_keys, second.revoked_keys) == (0, 1)
    assert authenticate(sera, second.api_key).merchant_id == second.merchant_id
    with pytest.raises(InvalidApiKeyError) as rejected:
        authenticate(sera, first.api_key)
    assert rejected.value.reason == "revoked"
    assert authenticate(sera, other).role == "viewer"  # a key with another label is left alone
    demo_keys = [key for key in list_api_keys(sera, second.merchant_id) if key.label == cli.DEMO_KEY_LABEL]
    assert len(demo_keys) == 2
    assert len([key for key in demo_keys if key.revoked_at is None]) == 1

    with sera.uow(readonly=True) as uow:
        revoked = uow.session.execute(
            select(AuditEntry.target_id).where(
                AuditEntry.chain == second.merchant_id, AuditEntry.action == "api_key.revoked"
            )
        ).all()
    first_prefix = first.api_key.split("_")[1]
    assert [row.target_id for row in revoked] == [key.id for key in demo_keys if key.prefix == first_prefix]


@pytest.fixture
def cli_in_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The CLI run in an empty folder without SERA_ variables; serving is skipped (the Sera it
    would serve is collected), and the logging set-up is put back afterwards."""
    for name in list(os.environ):
        if name.startswith("SERA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    served: list[Any] = []
    monkeypatch.setattr(cli, "_serve", lambda sera, host, port: served.append(sera))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield served
    for sera in served:
        sera.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def _log_line(message: str, *args: object) -> str:
    """A record formatted as the configured root handler writes it."""
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, message, args, None)
    return logging.getLogger().handlers[0].format(record)


def test_the_demo_logs_text_and_serve_logs_json_by_default(cli_in_empty_folder: list[Any]) -> None:
    runner = CliRunner()
    result = runner.invoke(cli.main, ["demo", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert "Start here:   http://127.0.0.1:8123/\n" in result.output
    assert "/redoc" in result.output
    line = _log_line("Uvicorn running on %s://%s:%d", "http", "127.0.0.1", 8123)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO    uvicorn\.error: Uvicorn running on http://127\.0\.0\.1:8123",
        line,
    ), line

    assert runner.invoke(cli.main, ["serve"]).exit_code == 0
    assert json.loads(_log_line("Started server process [%d]", 12345))["event"] == "Started server process [12345]"
    assert len(cli_in_empty_folder) == 2


def test_sera_log_format_overrides_the_demos_default(
    cli_in_empty_folder: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERA_LOG_FORMAT", "json")
    assert CliRunner().invoke(cli.main, ["demo"]).exit_code == 0
    assert json.loads(_log_line("Application startup complete."))["level"] == "info"

    monkeypatch.setenv("SERA_LOG_FORMAT", "xml")
    result = CliRunner().invoke(cli.main, ["demo"])
    assert result.exit_code != 0
    assert "SERA_LOG_FORMAT" in result.output
