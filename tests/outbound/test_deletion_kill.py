"""The kill test for deletion at providers: a customer with 300 texts at Twilio is erased,
and two real worker processes (as ``sera worker`` runs them) delete the copies while each is
SIGKILLed a random 0.2 to 1.6 s (seeded) after it is ready, and restarted, until none is
pending. The paced fake Twilio takes a few milliseconds before deleting and again before
answering, so kills land between "claimed" and "asked", during the request, and between
"Twilio deleted it" and "the ledger knows". Then: every text of hers is gone from Twilio,
deleted there once (a retry after a kill finds it gone: 404), every ledger row is settled
and audited once, and another customer's 50 texts are untouched.

The claim a dead worker leaves runs out after ``SERA_DELETION_CLAIM_SECONDS`` (2 here); the
test process plays the periodic dispatcher every second instead of every minute.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from sera.bootstrap import Sera
from sera.calls.messages import record_message
from sera.customers.service import find_or_create_customer
from sera.jobs import Jobs
from sera.jobs.wiring import _copies_due, build_jobs
from sera.privacy.copies import pending_copies
from sera.privacy.erasure import redact_customer
from sera.storage.models import AuditEntry, ProviderCopy
from tests.adapters.twilio.conftest import ACCOUNT_SID, AUTH_TOKEN, SHOP
from tests.conftest import KILL_BACKENDS, REDIS_URL, ROOT, Personas
from tests.outbound.paced_twilio import Pace, PacedTwilioServer
from tests.outbound.test_kill import LIFETIME, SEED, THREADS, WORKER, Worker, kill_until
from tests.outbound.worker import worker_env

HERS, THEIRS = 300, 50
CLAIM = 2


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """The workers live on the wall clock; so does this test."""
    return lambda: datetime.now(UTC)


@pytest.fixture
def fake_twilio() -> Iterator[PacedTwilioServer]:
    rng = random.Random(SEED)
    with PacedTwilioServer(Pace(before=lambda: rng.uniform(0, 0.02), after=lambda: rng.uniform(0, 0.05))) as fake:
        fake.add_account(ACCOUNT_SID, AUTH_TOKEN)
        yield fake


@pytest.fixture(params=KILL_BACKENDS)
def queue(request: pytest.FixtureRequest, sera: Sera, personas: Personas) -> Iterator[Jobs]:
    if request.param == "redis":
        sera.settings = sera.settings.model_copy(update={"redis_url": REDIS_URL})
    sera.settings = sera.settings.model_copy(update={"deletion_claim_seconds": CLAIM})
    jobs = build_jobs(sera, name=f"sera-kill-{uuid.uuid4().hex[:8]}")
    yield jobs
    jobs.huey.flush()


def texts_at_twilio(sera: Sera, shop: str, fake: PacedTwilioServer, phone: str, count: int) -> tuple[str, set[str]]:
    """A customer who texted the shop ``count`` times; returns their id and the texts' sids."""
    sids = set()
    with sera.uow(shop) as uow:
        customer_id = find_or_create_customer(uow, name=f"Texter {phone[-4:]}", phone=phone).id
        for n in range(count):
            sid = fake.received_text(ACCOUNT_SID, sender=phone, to=SHOP, body=f"text number {n}")
            record_message(
                uow,
                direction="inbound",
                provider="twilio",
                provider_message_id=sid,
                body=f"text number {n}",
                status="received",
                customer_id=customer_id,
                call_id=None,
                now=sera.clock(),
            )
            sids.add(sid)
        uow.commit()
    return customer_id, sids


@pytest.mark.slow
def test_no_deletion_is_lost_or_done_twice_when_workers_are_killed(
    sera: Sera, personas: Personas, queue: Jobs, fake_twilio: PacedTwilioServer, tmp_path: Path
) -> None:
    shop = personas.northside_id
    harriet, hers = texts_at_twilio(sera, shop, fake_twilio, "+13125550170", HERS)
    _, theirs = texts_at_twilio(sera, shop, fake_twilio, "+13125550171", THEIRS)
    sera.settings = sera.settings.model_copy(
        update={
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_api_base": fake_twilio.url,
        }
    )
    env = worker_env(sera.settings, tmp_path, SERA_DELETION_CLAIM_SECONDS=str(CLAIM))
    redact_customer(sera, shop, harriet, actor="test")  # orders the deletions and queues them
    assert len(pending_copies(sera)) == HERS

    rng = random.Random(SEED)
    log = (tmp_path / "workers.log").open("w")

    def spawn() -> Worker:
        ready = tmp_path / f"ready-{uuid.uuid4().hex[:8]}"
        command = [sys.executable, str(WORKER), queue.huey.name, str(THREADS), str(ready)]
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        return Worker(process, ready, rng.uniform(*LIFETIME))

    started = time.monotonic()
    try:
        kills = kill_until(lambda: not pending_copies(sera), lambda: _copies_due(sera), spawn)
    finally:
        log.close()
    elapsed = time.monotonic() - started

    deletes = Counter(
        r.path.rsplit("/", 1)[-1].removesuffix(".json") for r in fake_twilio.state.received if r.method == "DELETE"
    )
    with sera.uow(readonly=True) as uow:
        results = Counter(
            uow.session.execute(select(ProviderCopy.result).where(ProviderCopy.merchant_id == shop)).scalars()
        )
        audited = Counter(
            uow.session.execute(
                select(AuditEntry.target_id).where(AuditEntry.action == "provider_copy.deleted")
            ).scalars()
        )
        statuses = Counter(uow.session.execute(select(ProviderCopy.status)).scalars())
        attempts = int(uow.session.execute(select(func.sum(ProviderCopy.attempts))).scalar_one())
    print(
        f"\n{HERS} deletions, {kills} kills, {sum(deletes.values())} DELETE requests, {attempts} attempts, "
        f"results {dict(results)}, {elapsed:.1f} s"
    )
    assert kills >= 5, "the workers were hardly killed: the test proved nothing"
    assert sorted(sid for _, sid in fake_twilio.state.deleted) == sorted(hers), "lost, or deleted twice"
    assert all(fake_twilio.state.holds(sid) for sid in theirs)
    assert set(deletes) == hers  # nothing of anyone else was even asked for
    assert statuses == {"deleted": HERS, "kept": THEIRS}
    assert results[None] == THEIRS and results["deleted"] + results["gone"] == HERS
    assert len(audited) == HERS and set(audited.values()) == {1}, "an outcome audited twice"
