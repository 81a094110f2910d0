"""The one place that wires settings and adapters into a running Sera.

Tests, the demo and benchmarks build their Sera here, swapping a provider (a cipher,
a clock) without touching the capabilities. Every entry point (the web app, the
commands, the job workers) gets the same ports: a shop installed from Shopify reads its
orders from Shopify whichever process answers it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sera.billing.pricing import PriceList, load_pricing
from sera.clock import Clock, system_clock
from sera.config import Settings
from sera.crypto.envelope import FieldCipher, MasterKeyring
from sera.crypto.keystore import KeyStore
from sera.crypto.vault import Vault
from sera.observability import register_secret
from sera.storage import migrate
from sera.storage.cache import TtlCache
from sera.storage.database import Database, UnitOfWork, make_engine, restrict_sqlite_file
from sera.team import session_store
from sera.team.passwords import use_memory

if TYPE_CHECKING:
    from sera.agent.context import TurnContext
    from sera.agent.ports import ChatModel
    from sera.integrations.hubspot import HubspotFactory
    from sera.jobs import Jobs
    from sera.mail.service import Sender as MailSender


@dataclass
class Sera:
    settings: Settings
    db: Database
    keystore: KeyStore
    vault: Vault
    clock: Clock = field(default=system_clock)  # the one clock: every timestamp comes from it
    jobs: Jobs | None = None  # attached by sera.jobs.wiring.build_jobs
    lookups: TtlCache = field(default_factory=lambda: TtlCache(0))  # number -> shop, webhook secrets
    chat_models: Callable[[TurnContext], ChatModel | None] | None = None  # a shop's LLM (sera.adapters.openai)
    pricing: PriceList = field(default_factory=PriceList)  # plans and prices (SERA_PRICING_FILE)
    mail_sender: MailSender | None = None  # SMTP, or the Maildir (sera.adapters.smtp)
    hubspot: HubspotFactory | None = None  # a token -> its HubSpot account (sera.adapters.hubspot)

    def uow(self, merchant_id: str | None = None, *, readonly: bool = False) -> UnitOfWork:
        return UnitOfWork(self.db, merchant_id, readonly=readonly, vault=self.vault)

    def migrate(self) -> None:
        migrate.upgrade(self.db.engine)
        self.keystore.create_schema()
        for engine in (self.db.engine, self.keystore.engine):
            restrict_sqlite_file(engine)

    def close(self) -> None:
        self.db.dispose()
        self.keystore.engine.dispose()


def bootstrap(settings: Settings, *, cipher: FieldCipher | None = None, clock: Clock | None = None) -> Sera:
    keyring = MasterKeyring(tuple(settings.master_keys()))
    if settings.master_key is not None:
        for part in settings.master_key.get_secret_value().split(","):
            register_secret(part.strip())
    for secret in (settings.secret_key, settings.llm_api_key, settings.smtp_url):
        if secret is not None:
            register_secret(secret.get_secret_value())
    clock = clock or system_clock
    use_memory(settings.password_hash_memory_kib)
    keystore = KeyStore(make_engine(settings.keystore_url), keyring, clock)
    sera = Sera(
        settings=settings,
        db=Database(make_engine(settings.database_url), clock),
        keystore=keystore,
        vault=Vault(keystore, cipher),
        clock=clock,
        lookups=TtlCache(settings.lookup_cache_seconds),
        pricing=load_pricing(settings.pricing_file),  # a bad file stops start-up, naming the line
    )
    if settings.redis_url:  # dashboard sessions where every web process sees them, without a write each
        sera.db.services[session_store.SERVICE] = session_store.RedisSessions(settings.redis_url)
    _connect_ports(sera)
    return sera


def _connect_ports(sera: Sera) -> None:
    """The providers the capabilities read through (a source declines shops not connected to it)."""
    from sera.adapters.caldav import wiring as caldav
    from sera.adapters.hubspot import wiring as hubspot
    from sera.adapters.openai import wiring as openai  # imported here: the adapters import Sera
    from sera.adapters.shopify import wiring as shopify
    from sera.adapters.smtp import wiring as smtp

    shopify.connect(sera)
    openai.connect(sera)
    smtp.connect(sera)
    caldav.connect(sera)  # staff calendars, checked live before a booking is confirmed
    hubspot.connect(sera)
