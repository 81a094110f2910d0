"""The one place jobs are wired to the capabilities that do the work."""

from __future__ import annotations

import logging

from huey import crontab

from sera.adapters.shopify.app import ShopifyNotConfiguredError, shopify_app
from sera.adapters.shopify.client import admin_client
from sera.adapters.shopify.events import PROCESS_JOB, process_event, requeue_stale_events
from sera.adapters.shopify.installs import REGISTER_WEBHOOKS_JOB, delete_uninstalled_shops, register_webhooks
from sera.adapters.shopify.tokens import refresh_expiring_tokens
from sera.agent.idle import close_idle_conversations
from sera.bootstrap import Sera
from sera.checkouts.retention import sweep_all_checkouts
from sera.jobs import Jobs, make_huey
from sera.outbound.jobs import register_outbound
from sera.privacy.queue import check_overdue
from sera.privacy.retention import run_retention

log = logging.getLogger("sera.jobs")


def _retention_sweep(sera: Sera) -> None:
    run_retention(sera, sera.clock())


def _idle_conversations(sera: Sera) -> None:
    close_idle_conversations(sera, sera.clock())


def _privacy_deadlines(sera: Sera) -> None:
    check_overdue(sera, sera.clock())


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


def _checkout_retention(sera: Sera) -> None:
    sweep_all_checkouts(sera, sera.clock())


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
    register_outbound(jobs)
    sera.jobs = jobs
    return jobs
