"""Shared fixtures: a real database (SQLite, or PostgreSQL when SERA_TEST_DATABASE_URL is
set), a controllable clock, and the personas every access rule is tested with:

- the owner of Northside Cycles (the demo shop) with an admin API key,
- a teammate at Northside with a viewer key,
- an outsider: the owner of another shop (Southside Skates) with its own admin key.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from sera.bootstrap import Sera, bootstrap
from sera.config import Settings, new_key_text
from sera.storage import migrate
from sera.storage.database import make_engine
from sera.storage.models import Base
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, TwilioServer

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PACKAGED_DEMO = ROOT / "src" / "sera" / "merchants" / "demo-shop.yaml"
DEMO_SHOP = SHARED / "examples" / "demo-shop.yaml" if (SHARED / "examples").exists() else PACKAGED_DEMO
SCENARIOS = SHARED / "scenarios"
OUTSIDER_SHOP = ROOT / "tests" / "fixtures" / "outsider-shop.yaml"
NORTHSIDE = "northside-cycles.myshopify.com"
SOUTHSIDE = "southside-skates.myshopify.com"
PG_URL = os.environ.get("SERA_TEST_DATABASE_URL")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first: a worker that picks up a two-minute kill test at the end of the run
    keeps the run going while the other workers sit idle. (A stable sort: the same order in
    every worker, as pytest-xdist requires.)

    On PostgreSQL and Redis, only the tests that reach one of them run: a test that touches
    neither (the language rules, the agent over its own SQLite) proved itself in the SQLite
    suite, and running it again proves nothing new."""
    if PG_URL or os.environ.get("SERA_TEST_REDIS_URL"):
        skipped = [item for item in items if not _reaches_a_backend(item)]
        if skipped:
            config.hook.pytest_deselected(items=skipped)
            items[:] = [item for item in items if _reaches_a_backend(item)]
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _reaches_a_backend(item: pytest.Item) -> bool:
    """The test gets the database fixture, or its module reads the backends' URLs itself."""
    module = getattr(item, "module", None)
    reads_urls = module is not None and ("PG_URL" in vars(module) or "REDIS_URL" in vars(module))
    return "database_template" in getattr(item, "fixturenames", ()) or reads_urls


class FakeClock:
    """The time as the tests say it is."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database, made once per run: a SQLite file to copy, or a PostgreSQL db."""
    if PG_URL:
        url = make_url(PG_URL)
        name = f"sera_test_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        test_url = url.set(database=name).render_as_string(hide_password=False)
        engine = make_engine(test_url)
        migrate.upgrade(engine)
        engine.dispose()
        yield test_url
        _postgres_engine(test_url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        return
    path = tmp_path_factory.mktemp("template") / "sera.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    yield str(path)


@functools.cache
def _postgres_engine(url: str) -> Engine:
    return make_engine(url)


def _empty_postgres(url: str) -> None:
    """Every table emptied, children first, and the audit sequence restarted: a test's rows are
    few, and DELETE is about four times quicker than TRUNCATE, which pays per table (measured);
    sent as one batch, 2 ms instead of 8."""
    with _postgres_engine(url).begin() as conn:
        conn.exec_driver_sql(_EMPTYING)


_EMPTYING = "; ".join(  # one round trip instead of one a table
    [f'DELETE FROM "{table.name}"' for table in reversed(Base.metadata.sorted_tables)]
    + ["SELECT setval(pg_get_serial_sequence('audit_entries', 'seq'), 1, false)"]
)


@pytest.fixture
def settings(database_template: str, tmp_path: Path) -> Settings:
    if PG_URL:
        _empty_postgres(database_template)
        database_url = database_template
    else:
        shutil.copy(database_template, tmp_path / "sera.db")
        database_url = f"sqlite:///{tmp_path / 'sera.db'}"
    return Settings(
        env="test",
        database_url=database_url,
        keystore_url=f"sqlite:///{tmp_path / 'keys.db'}",
        master_key=new_key_text(),
        secret_key="test-secret-" + uuid.uuid4().hex,
        public_url="https://sera.test",
        mail_dir=tmp_path / "mail",
        password_hash_memory_kib=1024,  # every test makes members: argon2id's full cost is for the bench
        hubspot_api_url="http://127.0.0.1:9",  # never the real HubSpot: tests that use it start a fake
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 27, 16, 0, tzinfo=UTC))  # Friday 10:00 in Chicago


@pytest.fixture
def sera(settings: Settings, clock: FakeClock) -> Iterator[Sera]:
    instance = bootstrap(settings, clock=clock)
    instance.keystore.create_schema()
    yield instance
    instance.close()


@dataclass
class Personas:
    northside_id: str
    southside_id: str
    owner_key: str  # Northside admin
    teammate_key: str  # Northside viewer
    outsider_key: str  # Southside admin


@pytest.fixture
def personas(sera: Sera) -> Personas:
    from sera.access.api_keys import create_api_key
    from sera.merchants.service import import_shop
    from sera.merchants.shop_file import load_shop_file

    northside = import_shop(sera, load_shop_file(DEMO_SHOP), actor="test").merchant_id
    southside = import_shop(sera, load_shop_file(OUTSIDER_SHOP), actor="test").merchant_id
    return Personas(
        northside_id=northside,
        southside_id=southside,
        owner_key=create_api_key(sera, northside, role="admin", actor="test"),
        teammate_key=create_api_key(sera, northside, role="viewer", actor="test"),
        outsider_key=create_api_key(sera, southside, role="admin", actor="test"),
    )


@pytest.fixture
def fake_twilio() -> Iterator[TwilioServer]:
    """Twilio's REST API as a local server that knows Sera's own test account."""
    with TwilioServer() as fake:
        fake.add_account(ACCOUNT_SID, AUTH_TOKEN)
        yield fake


REDIS_URL = os.environ.get("SERA_TEST_REDIS_URL")
JOB_BACKENDS = ["sqlite", "redis"] if REDIS_URL else ["sqlite"]
KILL_BACKENDS = ["redis"] if REDIS_URL else ["sqlite"]
"""The kill tests run once per queue: SQLite's in the SQLite suite, Redis's in the PostgreSQL and Redis one."""


@pytest.fixture(params=JOB_BACKENDS)
def jobs(request: pytest.FixtureRequest, sera: Sera, tmp_path: Path) -> Iterator[Any]:
    """Sera's job queue on each backend this machine has: SQLite always, Redis when configured."""
    from sera.jobs.wiring import build_jobs

    name = f"sera-test-{uuid.uuid4().hex[:8]}"
    if request.param == "redis":
        sera.settings = sera.settings.model_copy(update={"redis_url": REDIS_URL})
    else:
        sera.settings = sera.settings.model_copy(update={"jobs_path": tmp_path / "jobs.db", "redis_url": None})
    built = build_jobs(sera, name=name)
    yield built
    built.stop_embedded()
    built.huey.flush()


# -- the web app in a real browser ---------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(sera: Sera, personas: Personas) -> Iterator[str]:
    """The app on a free local port, in a thread, sharing the test's Sera (and its clock)."""
    from sera.web.app import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(sera), host="127.0.0.1", port=port, log_config=None, access_log=False)
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the web app did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page(server: str) -> Iterator[Page]:
    """A page in Debian's Chromium. In CI a missing browser fails the test instead of skipping it:
    ``scripts/install-system-deps`` must have installed it."""
    if not CHROMIUM.exists():
        message = f"Debian's Chromium is not installed at {CHROMIUM} (`make test` installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()
