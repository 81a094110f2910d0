"""The one place jobs are wired to the capabilities that do the work."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from huey import crontab
from sqlalchemy import select

from sera.adapters.caldav import wiring as caldav
from sera.adapters.http import HttpClient
from sera.adapters.shopify.app import ShopifyNotConfiguredError, shopify_app
from sera.adapters.shopify.client import admin_client
from sera.adapters.shopify.events import PROCESS_JOB, process_event, requeue_stale_events
from sera.adapters.shopify.installs import REGISTER_WEBHOOKS_JOB, delete_uninstalled_shops, register_webhooks
from sera.adapters.shopify.tokens import refresh_expiring_tokens
from sera.adapters.twilio.client import client_for
from sera.adapters.twilio.deletion import twilio_deleter
from sera.adapters.vapi.deletion import vapi_deleter
from sera.adapters.webhooks.sender import StandardWebhooksSender, guarded_http
from sera.agent.idle import close_idle_conversations
from sera.billing.invoices import issue_due
from sera.bootstrap import Sera
from sera.calendars import busy as calendar_busy
from sera.calendars import events as calendar_events
from sera.checkouts.retention import sweep_all_checkouts
from sera.integrations import hubspot, webhooks
from sera.jobs import Jobs, make_huey
from sera.mail import service as mail
from sera.notifications import service as notifications
from sera.outbound.jobs import register_outbound, sending_http
from sera.privacy.copies import DELETE_JOB, Deleter, delete_copy, take_due
from sera.privacy.queue import check_overdue
from sera.privacy.retention import run_retention
from sera.reports.delivery import send_due_reports
from sera.reports.rollups import keep_every_shops_days
from sera.storage.models import MerchantPhoneNumber

log = logging.getLogger("sera.jobs")


def _retention_sweep(sera: Sera) -> None:
    run_retention(sera, sera.clock())


def _idle_conversations(sera: Sera) -> None:
    close_idle_conversations(sera, sera.clock())


def _privacy_deadlines(sera: Sera) -> None:
    check_overdue(sera, sera.clock())


# One wrapper per process for deletions, which never retries by itself: a failed attempt
# is tried again by the ledger, with backoff, without holding a worker.
_deletion_http: list[HttpClient] = []


def deleter(sera: Sera, merchant_id: str, provider: str) -> Deleter | None:
    """The provider's deleter for a shop's copies (its own Twilio account, else Sera's; Sera's Vapi key)."""
    if not _deletion_http:
        _deletion_http.append(HttpClient(retries=0))
    if provider == "twilio":
        return twilio_deleter(sera, merchant_id, _deletion_http[0])
    if provider == "vapi":
        return vapi_deleter(sera, _deletion_http[0])
    if provider == "hubspot":
        return hubspot.hubspot_deleter(sera, merchant_id)  # a deleted shop's last deletions only
    return None


def _delete_copy(sera: Sera, copy_id: str) -> None:
    delete_copy(sera, lambda merchant_id, provider: deleter(sera, merchant_id, provider), copy_id)


def _queue_due(sera: Sera, job: str, take: Callable[[Sera, datetime], list[str]]) -> None:
    """Queue the rows whose next attempt is due: a retry, or what a lost job left."""
    if sera.jobs is not None:
        for row_id in take(sera, sera.clock()):
            sera.jobs.enqueue(job, row_id)


def _copies_due(sera: Sera) -> None:
    _queue_due(sera, DELETE_JOB, take_due)


_webhook_senders: dict[bool, StandardWebhooksSender] = {}  # one per process (by the private-address setting)


def _deliver_webhook(sera: Sera, *delivery_ids: str) -> None:
    allow = sera.settings.webhooks_allow_private
    if allow not in _webhook_senders:
        _webhook_senders[allow] = StandardWebhooksSender(guarded_http(allow_private=allow))
    webhooks.deliver(sera, _webhook_senders[allow], *delivery_ids)


def _webhooks_due(sera: Sera) -> None:
    """What is due goes to the queue a batch per job (a backlog after an outage is claimed and
    settled in batches, not a transaction per delivery)."""
    if sera.jobs is not None:
        due = webhooks.take_due(sera, sera.clock())
        for at in range(0, len(due), webhooks.BATCH):
            sera.jobs.enqueue(webhooks.DELIVER_JOB, *due[at : at + webhooks.BATCH])


def _hubspot_drain(sera: Sera, merchant_id: str) -> None:
    drained = hubspot.drain(sera, merchant_id)
    if drained.resume_in is not None and sera.jobs is not None:  # after HubSpot's Retry-After, or at once
        sera.jobs.enqueue(hubspot.DRAIN_JOB, merchant_id, delay=drained.resume_in)


def _hubspot_due(sera: Sera) -> None:
    _queue_due(sera, hubspot.DRAIN_JOB, hubspot.take_due)


def _send_mail(sera: Sera, mail_id: str) -> None:
    if sera.mail_sender is not None:
        mail.send(sera, sera.mail_sender, mail_id)


def _mail_due(sera: Sera) -> None:
    _queue_due(sera, mail.SEND_JOB, mail.take_due)


def _text_business(sera: Sera, merchant_id: str, to: str, body: str) -> str:
    """A notification texted to someone at the shop, from the shop's own number."""
    client = client_for(sera, merchant_id, http=sending_http())
    with sera.uow(merchant_id, readonly=True) as uow:
        number = uow.session.execute(select(MerchantPhoneNumber.number).limit(1)).scalar()
    if client is None or number is None:
        raise RuntimeError("the shop has no number or Twilio account to text from")
    return client.send_sms(to=to, from_=number, body=body).sid


def _send_notification_text(sera: Sera, notification_id: str) -> None:
    notifications.send_text(sera, lambda m, to, body: _text_business(sera, m, to, body), notification_id)


def _notification_texts_due(sera: Sera) -> None:
    _queue_due(sera, notifications.SMS_JOB, notifications.take_due)


def _weekly_reports(sera: Sera) -> None:
    send_due_reports(sera, sera.clock())


def _shopify_event(sera: Sera, merchant_id: str, event_id: str) -> None:
    process_event(sera, merchant_id, event_id)


def _shopify_register_webhooks(sera: Sera, merchant_id: str) -> None:
    try:
        app = shopify_app(sera.settings)
    except ShopifyNotConfiguredError:
        log.warning("shopify app not configured: webhooks not registered", extra={"merchant": merchant_id})
        return
    register_webhooks(sera, admin_client(app), merchant_id)


def _shopify_tokens(sera: Sera) -> None:
    try:
        app = shopify_app(sera.settings)
    except ShopifyNotConfiguredError:
        return
    refresh_expiring_tokens(sera, admin_client(app))


def _shopify_pending_events(sera: Sera) -> None:
    requeue_stale_events(sera, sera.clock())


def _shops_pending_deletion(sera: Sera) -> None:
    """Uninstalled shops past their grace period are deleted (Shopify's 48-hour promise)."""
    delete_uninstalled_shops(sera, sera.clock())


def _monthly_invoices(sera: Sera) -> None:
    """Last month's invoices, each shop's once its own month is over (hourly on the 1st and 2nd)."""
    issue_due(sera, sera.clock())


def _checkout_retention(sera: Sera) -> None:
    sweep_all_checkouts(sera, sera.clock())


def _analytics_days(sera: Sera) -> None:
    keep_every_shops_days(sera)


def _refresh_calendar(sera: Sera, calendar_id: str) -> None:
    calendar_busy.refresh(sera, caldav.opener, calendar_id)


def _refresh_calendars(sera: Sera) -> None:
    if sera.jobs is not None:
        for calendar_id in calendar_busy.calendar_ids(sera):
            sera.jobs.enqueue(calendar_busy.REFRESH_JOB, calendar_id)


def _write_calendar_event(sera: Sera, link_id: str) -> None:
    calendar_events.write(sera, caldav.opener, link_id)


def _calendar_events_due(sera: Sera) -> None:
    _queue_due(sera, calendar_events.WRITE_JOB, calendar_events.take_due)


def build_jobs(sera: Sera, *, name: str = "sera") -> Jobs:
    jobs = Jobs(sera, make_huey(sera.settings, name=name))
    jobs.periodic("retention.sweep", crontab(minute="15", hour="3"), _retention_sweep)
    jobs.periodic("privacy.deadlines", crontab(minute="*/10"), _privacy_deadlines)
    jobs.periodic("conversations.idle", crontab(minute="*/5"), _idle_conversations)
    jobs.register(PROCESS_JOB, _shopify_event)
    jobs.register(REGISTER_WEBHOOKS_JOB, _shopify_register_webhooks, retries=8, retry_delay=30)
    jobs.periodic("shopify.pending_events", crontab(minute="*/5"), _shopify_pending_events)
    jobs.periodic("shopify.tokens", crontab(minute="30", hour="4"), _shopify_tokens)
    jobs.periodic("shops.pending_deletion", crontab(minute="*/10"), _shops_pending_deletion)
    jobs.periodic("checkouts.retention", crontab(minute="45", hour="3"), _checkout_retention)
    jobs.periodic("analytics.days", crontab(minute="20"), _analytics_days)  # hourly: days end at each shop's midnight
    jobs.periodic("invoices.monthly", crontab(minute="7", day="1,2"), _monthly_invoices)
    jobs.periodic("reports.weekly", crontab(minute="5"), _weekly_reports)  # each shop on its own day and hour
    jobs.register(DELETE_JOB, _delete_copy, retries=0)  # a failed attempt is rescheduled by its row
    jobs.periodic("privacy.copies_due", crontab(minute="*"), _copies_due)
    jobs.register(webhooks.DELIVER_JOB, _deliver_webhook, retries=0)  # a failed attempt is rescheduled by its row
    jobs.periodic("webhooks.due", crontab(minute="*"), _webhooks_due)
    webhooks.HANDED_OVER.to(lambda delivery_id: jobs.enqueue(webhooks.DELIVER_JOB, delivery_id))
    jobs.register(hubspot.DRAIN_JOB, _hubspot_drain, retries=0)  # a paused queue is queued again by the drain
    jobs.periodic("hubspot.due", crontab(minute="*"), _hubspot_due)
    hubspot.HANDED_OVER.to(lambda merchant_id: jobs.enqueue(hubspot.DRAIN_JOB, merchant_id))
    jobs.register(mail.SEND_JOB, _send_mail, retries=0)  # a failed attempt is rescheduled by its row
    jobs.periodic("mail.due", crontab(minute="*"), _mail_due)
    mail.HANDED_OVER.to(lambda mail_id: jobs.enqueue(mail.SEND_JOB, mail_id))
    jobs.register(notifications.SMS_JOB, _send_notification_text, retries=0)  # rescheduled by its row
    jobs.periodic("notifications.due", crontab(minute="*"), _notification_texts_due)
    notifications.HANDED_OVER.to(lambda row_id: jobs.enqueue(notifications.SMS_JOB, row_id))
    jobs.register(calendar_busy.REFRESH_JOB, _refresh_calendar, retries=0)  # the next sweep reads it again
    jobs.periodic("calendars.refresh_all", crontab(minute="*/5"), _refresh_calendars)
    jobs.register(calendar_events.WRITE_JOB, _write_calendar_event, retries=0)  # rescheduled by its row
    jobs.periodic("calendars.events_due", crontab(minute="*"), _calendar_events_due)
    calendar_events.HANDED_OVER.to(lambda link_id: jobs.enqueue(calendar_events.WRITE_JOB, link_id))
    register_outbound(jobs)
    sera.jobs = jobs
    return jobs
