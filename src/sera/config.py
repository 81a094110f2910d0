"""Sera's configuration: environment variables prefixed ``SERA_``.

Values come from the process environment first, then from the env file
(``SERA_ENV_FILE``, default ``var/sera.env``) that ``sera demo`` writes with 0600
permissions. In production Sera refuses to start with a missing or weak secret.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_VAR_DIR = Path("var")


class Environment(StrEnum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"
    TEST = "test"


class LogFormat(StrEnum):
    JSON = "json"  # one JSON object a line, for log shippers
    TEXT = "text"  # time, level, logger, message, key=value: for a person at a terminal


SMTP_SCHEMES = ("smtp", "smtp+starttls", "smtps")


class ConfigError(Exception):
    """A setting is missing or unsafe; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SERA_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    database_url: str = Field(default=f"sqlite:///{DEFAULT_VAR_DIR}/sera.db")
    keystore_url: str = Field(default=f"sqlite:///{DEFAULT_VAR_DIR}/keys.db")
    public_url: str = "http://127.0.0.1:8000"
    # One base64 key (32 bytes) or a comma-separated keyring: the first wraps new keys,
    # all of them unwrap (so the old master keeps working until `sera keys rotate` ends).
    master_key: SecretStr | None = None
    # Signs dashboard sessions and secret calendar-feed URLs.
    secret_key: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    # Unset: text for `sera demo` (a person reads it), json for every other command.
    log_format: LogFormat | None = None
    demo_shop_file: Path | None = None
    # Twilio: the account used when a merchant has not connected their own.
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_api_base: str = "https://api.twilio.com"
    # Vapi: the server-URL secret (X-Vapi-Secret) and the REST API key.
    vapi_secret: SecretStr | None = None
    vapi_api_key: SecretStr | None = None
    vapi_api_base: str = "https://api.vapi.ai"
    vapi_model_provider: str = "openai"
    vapi_model: str = "gpt-4o-mini"
    vapi_voice_provider: str = "11labs"
    vapi_voice_id: str = "burt"
    # Jobs: Redis for several worker processes; otherwise a SQLite queue run inside `sera serve`.
    redis_url: str | None = None
    jobs_path: Path = DEFAULT_VAR_DIR / "jobs.db"
    embedded_workers: int = 2  # job threads inside `sera serve` when there is no Redis
    # A conversation quiet this long is over, per channel: the idle sweep (every 5 minutes)
    # closes its record, and a caller who writes again starts a new conversation. Voice: a
    # call whose end Twilio or Vapi never reported.
    web_idle_minutes: int = Field(default=30, ge=1)
    sms_idle_minutes: int = Field(default=24 * 60, ge=1)
    voice_idle_minutes: int = Field(default=120, ge=1)
    # Which shop answers a number, and its providers' webhook secrets, are cached this long;
    # a change made in another process (a CLI import) reaches webhooks within it.
    lookup_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # argon2id's memory per password hash (RFC 9106's second option: 64 MiB). Lower it only for
    # a test suite that makes many members: verifying reads the cost from each stored hash.
    password_hash_memory_kib: int = Field(default=65536, ge=1024)
    # Shopify app: the client credentials from the Partner Dashboard, the scopes asked for at
    # install (comma-separated), the Admin API version, and where Admin API calls go: empty
    # means each shop's own https://{shop}; a base URL (a test fake, a proxy) is used as
    # {base}/{shop}/admin/..., so one base serves many shops.
    shopify_api_key: str | None = None
    shopify_api_secret: SecretStr | None = None
    shopify_scopes: str = "read_orders,read_customers,read_products"
    shopify_api_version: str = "2025-10"
    shopify_admin_base: str = ""
    # An uninstalled shop's data is deleted this long after the uninstall (a reinstall before
    # then keeps it). Kept under 48 so the sweep finishes inside Shopify's 48-hour promise.
    shopify_uninstall_grace_hours: int = Field(default=24, ge=0, le=47)
    # `sera backup restore` refuses a key-store backup older than this: it may hold the keys
    # of customers erased since, and would make their data readable again in data backups.
    key_backup_max_age_hours: int = Field(default=48, ge=1, le=48)
    # Webhook endpoints may be private, loopback or link-local addresses (and plain http
    # outside production): for tests and development only.
    webhooks_allow_private: bool = False
    # Staff calendars (CalDAV) may be at private or loopback addresses, and plain http: for
    # tests, development, and a calendar server on the shop's own network.
    calendars_allow_private: bool = False
    # How long confirming a booking waits on a staff calendar's live check before going by the
    # cached busy times; background reads and writes wait longer.
    calendar_live_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    calendar_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    # HubSpot's API (CRM v3, account info): a local fake's address in tests.
    hubspot_api_url: str = "https://api.hubapi.com"
    # A worker deleting a copy at a provider holds it this long; one that dies holding it
    # leaves it to the next attempt after that (longer than any one provider request).
    deletion_claim_seconds: int = Field(default=120, ge=1, le=3600)
    # The agent's brain: `offline` (embedded, no network) or `llm`, any server that speaks
    # OpenAI's chat completions ({llm_base_url}/chat/completions). A shop's file may choose
    # its own (agent.brain, agent.llm). A turn the model cannot answer within
    # llm_first_token_seconds (or answers with garbage twice) is answered by the offline brain.
    brain: Literal["offline", "llm"] = "offline"
    # How Twilio calls talk: `relay` (ConversationRelay: streamed, interruptible) or `gather`
    # (one <Gather> per turn); a shop file's agent.voice_mode overrides it.
    voice_mode: Literal["relay", "gather"] = "relay"
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    llm_first_token_seconds: float = Field(default=2.5, gt=0, le=30)
    llm_max_tool_calls: int = Field(default=6, ge=1, le=20)  # per caller turn
    # Email to the business: smtp://host:25 (a local relay), smtp+starttls://user:pass@host:587
    # or smtps://user:pass@host:465. Unset: each message is written to the Maildir mail_dir.
    smtp_url: SecretStr | None = None
    smtp_ca_file: Path | None = None  # a private CA that signs the mail server's certificate
    smtp_timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    mail_from: str = "Sera <sera@localhost>"
    mail_dir: Path = DEFAULT_VAR_DIR / "mail"
    # The deployment's price list (plans, prices, the invoices' issuer): a YAML file, read and
    # checked at start-up. Unset: no plans, no invoices.
    pricing_file: Path | None = None

    @field_validator("smtp_url", mode="before")
    @classmethod
    def _smtp_scheme(cls, value: object) -> object:
        if isinstance(value, str) and value.strip() == "":
            return None
        if isinstance(value, str) and urlsplit(value).scheme not in SMTP_SCHEMES:
            raise ValueError(f"must start with one of {', '.join(s + '://' for s in SMTP_SCHEMES)}")
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _old_log_format_name(cls, value: object) -> object:
        """``console`` was the text format's first name; ``SERA_LOG_FORMAT=`` (empty) means unset."""
        if isinstance(value, str):
            value = value.strip().lower()
            return {"console": LogFormat.TEXT.value, "": None}.get(value, value)
        return value

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    def idle_timeout(self, channel: str) -> timedelta:
        """How long a conversation on ``channel`` (web, sms, voice) may stay quiet before it is over."""
        minutes = {"web": self.web_idle_minutes, "sms": self.sms_idle_minutes, "voice": self.voice_idle_minutes}
        return timedelta(minutes=minutes[channel])

    def master_keys(self) -> list[bytes]:
        """The decoded master keyring, primary first."""
        if self.master_key is None:
            raise ConfigError("SERA_MASTER_KEY is not set")
        return [decode_key(part, "SERA_MASTER_KEY") for part in self.master_key.get_secret_value().split(",")]


def decode_key(text: str, name: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{name} is not valid base64") from exc
    if len(raw) != 32:
        raise ConfigError(f"{name} must decode to 32 bytes (got {len(raw)})")
    return raw


def new_key_text() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def check_secrets(settings: Settings) -> None:
    """Refuse to run production with a missing or weak secret, naming it."""
    if not settings.is_production:
        return
    if settings.master_key is None:
        raise ConfigError("SERA_MASTER_KEY is required in production")
    for key in settings.master_keys():
        if len(set(key)) < 16:
            raise ConfigError("SERA_MASTER_KEY is weak: use `sera keys generate`")
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if len(secret) < 32 or len(set(secret)) < 10:
        raise ConfigError("SERA_SECRET_KEY is missing or weak: at least 32 random characters")
    if not settings.public_url.startswith("https://"):
        raise ConfigError("SERA_PUBLIC_URL must be an https:// URL in production")


def env_file_path() -> Path:
    return Path(os.environ.get("SERA_ENV_FILE", str(DEFAULT_VAR_DIR / "sera.env")))


def ensure_local_secrets(path: Path) -> None:
    """Create the development env file with fresh secrets (0600) if it is missing."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    content = (
        "# Generated by Sera for local use. Keep this file secret; losing it loses the data.\n"
        f"SERA_MASTER_KEY={new_key_text()}\n"
        f"SERA_SECRET_KEY={secrets.token_urlsafe(48)}\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def load_settings(*, generate_secrets: bool = False) -> Settings:
    """Read settings; outside production, optionally generate local secrets first."""
    path = env_file_path()
    env = os.environ.get("SERA_ENV", Environment.DEVELOPMENT.value)
    if generate_secrets and env != Environment.PRODUCTION.value:
        ensure_local_secrets(path)
    try:
        settings = Settings(_env_file=path if path.exists() else None)
    except ValidationError as exc:
        problems = "; ".join(f"SERA_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise ConfigError(problems) from None
    check_secrets(settings)
    return settings
