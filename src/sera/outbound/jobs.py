"""Outbound on the job queue, and Twilio wired to the outbound sending port.

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

from sera.adapters.http import HttpClient, PermanentError
from sera.adapters.twilio.client import TwilioClient, client_for, twilio_error_code
from sera.adapters.twilio.sms import status_url
from sera.bootstrap import Sera
from sera.jobs import Jobs
from sera.outbound.dispatch import Dispatched, dispatch
from sera.outbound.locks import action_locks, throttle
from sera.outbound.service import Outbox, Outcome, ProviderMessage, RecipientOptedOutError, SmsSender, send_actions
from sera.outbound.settings import OutboundSettings

SEND_JOB = "outbound.send"
DISPATCH_JOB = "outbound.dispatch"
SELF_SCHEDULE = timedelta(minutes=5)  # longer waits go back to the dispatcher (it runs every minute)
TWILIO_OPTED_OUT = 21610


class TwilioSms:
    """Twilio's Messages API as the outbound port: one attempt per send, delivery reports to Sera."""

    provider = "twilio"

    def __init__(self, client: TwilioClient, status_callback: str) -> None:
        self._client = client
        self._status_callback = status_callback

    def send(self, *, to: str, from_: str, body: str) -> str:
        try:
            return self._client.send_sms(to=to, from_=from_, body=body, status_callback=self._status_callback).sid
        except PermanentError as exc:
            if twilio_error_code(exc) == TWILIO_OPTED_OUT:
                raise RecipientOptedOutError(str(exc), exc.status, exc.body) from None
            raise

    def recent(self, *, to: str, from_: str, limit: int) -> list[ProviderMessage]:
        return [
            ProviderMessage(m.sid, m.body, m.direction.startswith("outbound"))
            for m in self._client.list_messages(to=to, from_=from_, limit=limit)
        ]


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


def twilio_sender(sera: Sera, merchant_id: str) -> SmsSender | None:
    client = client_for(sera, merchant_id, http=sending_http())
    return None if client is None else TwilioSms(client, status_url(sera, merchant_id))


def outbox_for(sera: Sera, settings: OutboundSettings | None = None, *, queue_name: str = "sera") -> Outbox:
    return Outbox(
        sera=sera,
        sender_for=lambda merchant_id: twilio_sender(sera, merchant_id),
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
