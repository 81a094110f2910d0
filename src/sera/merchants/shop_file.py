"""The shop configuration file (contract: shared/spec/shop-config.md).

Parsing keeps the line of every key, so an error names the field and its line.
Unknown keys, wrong types and bad values are errors; nothing is half-read.
"""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sera.customers.phones import InvalidPhoneError, normalize_phone, region_of_locale
from sera.storage.text import text_problem

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")


class ShopFileError(ValueError):
    """The file cannot be imported; ``problems`` lists each one with field and line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


# -- field types ---------------------------------------------------------------------------------


def _phone(value: str, info: ValidationInfo) -> str:
    region = (info.context or {}).get("region", "US")
    try:
        return normalize_phone(value, region)
    except InvalidPhoneError as exc:
        raise ValueError(f"{value!r} is not a valid phone number") from exc


def _time_range(value: str) -> str:
    match = _RANGE.match(value)
    if not match or value[:5] >= value[6:]:
        raise ValueError(f"{value!r} is not an opening range like 10:00-18:00")
    return value


def _hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError(f"{value!r} is not a time like 21:00")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone") from exc
    return value


NUMBERS_REQUIRED = "at least one number is required: the E.164 numbers the agent answers, like +13125550100"


def _some_numbers(numbers: list[str]) -> list[str]:
    """The spec makes ``shop.phone_numbers`` required: calls and texts are routed by them."""
    if not numbers:
        raise ValueError(NUMBERS_REQUIRED)
    return numbers


def _text_id(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an email address")
    return value.strip().lower()


Phone = Annotated[str, AfterValidator(_phone)]
Email = Annotated[str, AfterValidator(_email)]
TimeRangeText = Annotated[str, AfterValidator(_time_range)]
HHMM = Annotated[str, AfterValidator(_hhmm)]
LaxDate = Annotated[date, Strict(False)]
Money = Annotated[float, Field(ge=0)]
NonEmpty = Annotated[str, Field(min_length=1, max_length=500)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Hours(_Model):
    mon: list[TimeRangeText] | None = None
    tue: list[TimeRangeText] | None = None
    wed: list[TimeRangeText] | None = None
    thu: list[TimeRangeText] | None = None
    fri: list[TimeRangeText] | None = None
    sat: list[TimeRangeText] | None = None
    sun: list[TimeRangeText] | None = None

    def by_weekday(self) -> dict[int, list[tuple[time, time]]]:
        """Weekday (0 = Monday) to opening ranges; a missing day is closed."""
        result: dict[int, list[tuple[time, time]]] = {}
        for index, day in enumerate(WEEKDAYS):
            ranges = getattr(self, day) or []
            if ranges:
                result[index] = [_parse_range(r) for r in ranges]
        return result


def _parse_range(text: str) -> tuple[time, time]:
    start, end = text.split("-")
    end_time = time(23, 59, 59) if end == "24:00" else time.fromisoformat(end)
    return time.fromisoformat(start), end_time


class ShopInfo(_Model):
    domain: Annotated[str, Field(min_length=3, max_length=255)]
    name: NonEmpty
    timezone: Annotated[str, AfterValidator(_timezone)]
    locale: str = "en-US"
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    phone_numbers: Annotated[list[Phone], AfterValidator(_some_numbers)]
    handoff_number: Phone | None = None
    email: Email | None = None
    address: str | None = None
    website: str | None = None

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not _DOMAIN.match(value):
            raise ValueError(f"{value!r} is not a domain name (lowercase, like shop.myshopify.com)")
        return value


class LlmSettings(_Model):
    """The shop's own OpenAI-compatible endpoint; what is not given comes from SERA_LLM_*."""

    base_url: str | None = None  # requests go to {base_url}/chat/completions
    model: str | None = None
    api_key: str | None = None  # sealed under the shop's key on import; never exported

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL, like https://api.openai.com/v1")
        return value


class AgentSettings(_Model):
    brain: Literal["offline", "llm"] | None = None  # unset: the server's SERA_BRAIN
    voice_mode: Literal["relay", "gather"] | None = None  # Twilio calls; unset: the server's SERA_VOICE_MODE
    vapi_mode: Literal["tools", "model"] | None = None  # Vapi calls: its model with Sera's tools, or Sera as the model
    llm: LlmSettings | None = None
    name: str | None = None
    greeting: str | None = None
    greeting_known_caller: str | None = None
    greeting_sms: str | None = None  # a text thread's first reply ({customer_first_name} allowed)
    record_calls: bool = True


class StaffEntry(_Model):
    name: NonEmpty
    services: list[str] | None = None
    hours: Hours | None = None


class ServiceEntry(_Model):
    name: NonEmpty
    duration_min: Annotated[int, Field(gt=0, le=24 * 60)]
    price: Money | None = None
    buffer_min: Annotated[int, Field(ge=0, le=24 * 60)] = 0
    capacity: Annotated[int, Field(ge=1, le=100)] = 1
    description: str | None = None
    aliases: list[str] = []


class FaqEntry(_Model):
    q: NonEmpty
    a: Annotated[str, Field(min_length=1)]


class ProductEntry(_Model):
    title: NonEmpty
    sku: str | None = None
    price: Money | None = None
    in_stock: bool = True
    description: str | None = None


class OrderCustomer(_Model):
    name: NonEmpty
    phone: Phone | None = None
    email: Email | None = None


class Tracking(_Model):
    carrier: str
    number: Annotated[str, BeforeValidator(_text_id)]
    eta: LaxDate | None = None


class OrderItem(_Model):
    title: NonEmpty
    quantity: Annotated[int, Field(ge=1)] = 1
    price: Money | None = None


OrderStatus = Literal["unfulfilled", "processing", "shipped", "delivered", "cancelled", "refunded"]


class OrderEntry(_Model):
    number: Annotated[str, BeforeValidator(_text_id), Field(min_length=1, max_length=40)]
    created: LaxDate
    customer: OrderCustomer
    status: OrderStatus
    tracking: Tracking | None = None
    items: list[OrderItem] = []
    total: Money | None = None


SlotType = Literal["text", "name", "phone", "email", "date", "time", "number", "yes_no", "choice"]


class WorkflowSlot(_Model):
    slot: Annotated[str, Field(pattern=_SLUG.pattern)]
    type: SlotType
    ask: NonEmpty
    options: list[str] | None = None

    @model_validator(mode="after")
    def _choice_needs_options(self) -> WorkflowSlot:
        if self.type == "choice" and not self.options:
            raise ValueError(f"slot {self.slot!r} of type choice needs options")
        return self


class CreateTicketAction(_Model):
    subject: NonEmpty
    tags: list[str] = []


class WorkflowAction(_Model):
    create_ticket: CreateTicketAction


class Workflow(_Model):
    name: Annotated[str, Field(pattern=_SLUG.pattern)]
    triggers: Annotated[list[NonEmpty], Field(min_length=1)]
    say_start: str | None = None
    collect: list[WorkflowSlot] = []
    action: WorkflowAction
    say_done: str | None = None


Channel = Literal["sms", "call"]


class AbandonedCheckout(_Model):
    enabled: bool = False
    channel: Channel = "sms"
    delay_min: Annotated[int, Field(ge=5, le=7 * 24 * 60)] = 60
    max_attempts: Annotated[int, Field(ge=1, le=5)] = 1


class Reminders(_Model):
    enabled: bool = False
    channel: Channel = "sms"
    hours_before: Annotated[int, Field(ge=1, le=24 * 14)] = 24


class Confirmations(_Model):
    enabled: bool = False
    channel: Literal["sms"] = "sms"


class QuietHours(_Model):
    start: HHMM = "21:00"
    end: HHMM = "08:00"


class Outbound(_Model):
    abandoned_checkout: AbandonedCheckout = AbandonedCheckout()
    appointment_reminders: Reminders = Reminders()
    booking_confirmations: Confirmations = Confirmations()
    quiet_hours: QuietHours = QuietHours()
    call_provider: Literal["twilio", "vapi"] = "twilio"  # who places calls (channel: call)


class Retention(_Model):
    """Days per data class; audit logs can never be kept less than two years."""

    recordings_transcripts: Annotated[int, Field(ge=1, le=3650)] = 730
    call_logs: Annotated[int, Field(ge=1, le=3650)] = 365
    abandoned_checkouts: Annotated[int, Field(ge=1, le=3650)] = 90
    audit_logs: Annotated[int, Field(ge=730, le=3650)] = 730


class ShopFile(_Model):
    shop: ShopInfo
    agent: AgentSettings = AgentSettings()
    hours: Hours = Hours()
    closures: list[LaxDate] = []
    staff: list[StaffEntry] = []
    services: list[ServiceEntry] = []
    faq: list[FaqEntry] = []
    policies: dict[str, str] = {}
    products: list[ProductEntry] = []
    orders: list[OrderEntry] = []
    workflows: list[Workflow] = []
    outbound: Outbound = Outbound()
    retention: Retention = Retention()

    @model_validator(mode="after")
    def _references(self) -> ShopFile:
        _unique("services", [s.name for s in self.services])
        _unique("staff", [s.name for s in self.staff])
        _unique("orders", [o.number for o in self.orders])
        _unique("workflows", [w.name for w in self.workflows])
        _unique("faq", [f.q for f in self.faq])  # a question has one answer
        known = {s.name for s in self.services}
        for person in self.staff:
            for service in person.services or []:
                if service not in known:
                    raise ValueError(f"staff {person.name!r} names unknown service {service!r}")
        return self


def _unique(what: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what}: {name!r} appears twice")
        seen.add(name)


# -- YAML with line numbers ------------------------------------------------------------------------

Path_ = tuple[str | int, ...]


def _build(node: yaml.Node, loader: yaml.SafeLoader, path: Path_, lines: dict[Path_, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            if not isinstance(key, str):
                raise ShopFileError("", [f"line {key_node.start_mark.line + 1}: key {key!r} is not text"])
            if key in result:
                raise ShopFileError("", [f"line {key_node.start_mark.line + 1}: key {key!r} appears twice"])
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _build(value_node, loader, (*path, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, loader, (*path, i), lines) for i, item in enumerate(node.value)]
    field = ".".join(str(p) for p in path)
    try:
        value = loader.construct_object(node)
    except (ValueError, yaml.YAMLError):
        raise ShopFileError("", [f"line {lines[path]}: {field}: {node.value!r} is not a valid value"]) from None
    problem = text_problem(value) if isinstance(value, str) else None
    if problem:  # a double-quoted escape ("\0", "\ud800") can make text nothing can store
        raise ShopFileError("", [f"line {lines[path]}: {field}: the text {problem}"])
    return value


_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: eight times faster


def _compose(text: str) -> tuple[Any, dict[Path_, int]]:
    """The file's data and the line of each value; a file libyaml refuses is read again by the
    pure-Python parser, whose messages name what is wrong where (and which some escapes pass)."""
    try:
        return _compose_with(_FAST_LOADER, text)
    except yaml.YAMLError:
        return _compose_with(yaml.SafeLoader, text)


def _compose_with(loader_class: type[yaml.SafeLoader], text: str) -> tuple[Any, dict[Path_, int]]:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        lines: dict[Path_, int] = {}
        data = _build(node, loader, (), lines) if node is not None else None
        return data, lines
    finally:
        loader.dispose()


def _describe(error: dict[str, Any], lines: dict[Path_, int]) -> str:
    loc: Path_ = tuple(error["loc"])
    field = ".".join(str(p) for p in loc) or "(file)"
    line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), None)
    where = f"line {line}: " if line else ""
    if error["type"] == "extra_forbidden":
        parent = ".".join(str(p) for p in loc[:-1]) or "top level"
        return f"{where}unknown key '{loc[-1]}' (in {parent})"
    if error["type"] == "missing":
        return f"{where}{field} is required"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}{field}: {message}"


def parse_shop_text(text: str, source: str = "<shop file>") -> ShopFile:
    try:
        data, lines = _compose(text)
    except ShopFileError as exc:
        raise ShopFileError(source, exc.problems) from None
    except yaml.YAMLError as exc:
        raise ShopFileError(source, [f"not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise ShopFileError(source, ["the file must be a mapping with a 'shop' key"])
    shop = data.get("shop")
    locale = shop.get("locale", "en-US") if isinstance(shop, dict) else "en-US"
    region = region_of_locale(locale if isinstance(locale, str) else "en-US")
    try:
        return ShopFile.model_validate(data, context={"region": region})
    except ValidationError as exc:
        problems = [_describe(dict(error), lines) for error in exc.errors()]
        raise ShopFileError(source, problems) from None


def load_shop_file(path: Path) -> ShopFile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ShopFileError(str(path), [f"cannot read file: {exc.__class__.__name__}"]) from None
    return parse_shop_text(text, str(path))
