"""Outbound on the job queue, and the providers wired to the outbound sending ports
(texts through Twilio; calls through Twilio or Vapi, per shop).

- ``outbound.dispatch`` (every minute): plans what each shop's settings call for and
  queues each send for its due time (Huey's scheduler fires it within a second or so),
  and queues again what a lost job or a dead worker left behind.
- ``outbound.send`` (a merchant id and up to 25 action ids): carries out those intended
  messages. What it is told to look at again soon (a deferral, a claim still settling, a
  message another worker holds) it schedules itself; anything later is the dispatcher's.

There is no usage roll-up job: usage is counted as it happens (the send that goes out
records its segments in the same transaction).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from huey import crontab

from sera.adapters.http import HttpClient
from sera.adapters.twilio.client import client_for
from sera.adapters.twilio.outbound import TwilioCalls, TwilioSms
from sera.adapters.twilio.sms import status_url
from sera.adapters.vapi.outbound import vapi_caller
from sera.bootstrap import Sera
from sera.jobs import Jobs
from sera.outbound.dispatch import Dispatched, dispatch
from sera.outbound.locks import action_locks, throttle
from sera.outbound.service import Outbox, Outcome, Senders, send_actions
from sera.outbound.settings import OutboundSettings, ShopOutbound

SEND_JOB = "outbound.send"
DISPATCH_JOB = "outbound.dispatch"
SELF_SCHEDULE = timedelta(minutes=5)  # longer waits go back to the dispatcher (it runs every minute)


_sending_http: HttpClient | None = None
_sending_http_lock = threading.Lock()


def sending_http() -> HttpClient:
    """One wrapper per process that never retries by itself: a retried create after a timeout
    could send the text twice, so the engine reconciles instead."""
    global _sending_http
    with _sending_http_lock:
        if _sending_http is None:
            _sending_http = HttpClient(retries=0)
        return _sending_http


def senders(sera: Sera, merchant_id: str, shop: ShopOutbound) -> Senders:
    """The shop's senders: texts through Twilio; calls through Twilio or Vapi, as its
    ``outbound.call_provider`` says."""
    client = client_for(sera, merchant_id, http=sending_http())
    sms = None if client is None else TwilioSms(client, status_url(sera, merchant_id))
    if shop.call_provider == "vapi":
        return Senders(sms=sms, call=vapi_caller(sera, merchant_id, http=sending_http()))
    return Senders(sms=sms, call=None if client is None else TwilioCalls(client, sera.settings.public_url, merchant_id))


def outbox_for(sera: Sera, settings: OutboundSettings | None = None, *, queue_name: str = "sera") -> Outbox:
    return Outbox(
        sera=sera,
        senders_for=lambda merchant_id, shop: senders(sera, merchant_id, shop),
        locks=action_locks(sera),
        throttle=throttle(sera, queue_name),
        policy=(settings or OutboundSettings.load()).policy(),
    )


def register_outbound(jobs: Jobs) -> None:
    box: list[Outbox] = []  # built on first use, in the process that runs the jobs

    def outbox(sera: Sera) -> Outbox:
        if not box:
            box.append(outbox_for(sera, queue_name=jobs.huey.name))
        return box[0]

    def send(sera: Sera, merchant_id: str, *action_ids: str) -> None:
        outcomes = send_actions(outbox(sera), merchant_id, action_ids)
        for delay, again in follow_ups(outcomes, sera.clock()).items():
            enqueue_send(jobs, merchant_id, again, delay)

    jobs.register(SEND_JOB, send, retries=5, retry_delay=10)
    jobs.periodic(DISPATCH_JOB, crontab(), lambda sera: dispatch_now(jobs))


def dispatch_now(jobs: Jobs) -> Dispatched:
    """What the periodic job does: plan, and queue every send for its due time."""

    def enqueue(merchant_id: str, action_ids: list[str], delay: float) -> None:
        enqueue_send(jobs, merchant_id, action_ids, delay)

    return dispatch(jobs.sera, enqueue, jobs.sera.clock())


def enqueue_send(jobs: Jobs, merchant_id: str, action_ids: list[str], delay: float = 0.0) -> None:
    jobs.enqueue(SEND_JOB, merchant_id, *action_ids, delay=delay if delay > 0 else None)


def follow_ups(outcomes: dict[str, Outcome], now: datetime) -> dict[float, list[str]]:
    """The actions to look at again soon, by delay in seconds (a deferral, a claim still settling);
    longer waits and finished actions are left to the dispatcher or done with."""
    again: dict[float, list[str]] = {}
    for action_id, outcome in outcomes.items():
        if outcome.due_at is None or outcome.status not in ("scheduled", "sending", "busy"):
            continue
        wait = outcome.due_at - now
        if wait <= SELF_SCHEDULE:
            again.setdefault(max(0.0, wait.total_seconds()), []).append(action_id)
    return again
