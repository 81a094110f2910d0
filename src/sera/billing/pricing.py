"""The deployment's price list: a YAML file named by ``SERA_PRICING_FILE``.

Invariants:
- Every amount is a ``Decimal`` made from the text of the value (``Decimal(str(x))``), never
  a float: ``0.1`` in the file is exactly one tenth on the invoice.
- The file is read and checked once, when Sera starts; a bad file stops it with a message that
  names the file, the line and the field. A missing variable means no plans (no invoices).
- Currencies are ISO 4217 codes from a fixed list, with their minor units: amounts are rounded
  to them (half up), line by line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from sera.config import ConfigError

# ISO 4217 codes a deployment may bill in, with their minor units (digits after the point).
CURRENCIES: dict[str, int] = {
    **dict.fromkeys(
        (
            "AED",
            "AUD",
            "BGN",
            "BRL",
            "CAD",
            "CHF",
            "CNY",
            "COP",
            "CZK",
            "DKK",
            "EGP",
            "EUR",
            "GBP",
            "HKD",
            "HUF",
            "IDR",
            "ILS",
            "INR",
            "KES",
            "MAD",
            "MXN",
            "MYR",
            "NGN",
            "NOK",
            "NZD",
            "PEN",
            "PHP",
            "PLN",
            "RON",
            "RSD",
            "SAR",
            "SEK",
            "SGD",
            "THB",
            "TRY",
            "TWD",
            "UAH",
            "USD",
            "ZAR",
        ),
        2,
    ),
    **dict.fromkeys(("CLP", "ISK", "JPY", "KRW", "UGX", "VND"), 0),
    **dict.fromkeys(("BHD", "JOD", "KWD", "OMR", "TND"), 3),
}


class PricingError(ConfigError):
    """The pricing file cannot be used; the message names the file and the line."""


def _decimal(value: object) -> Decimal:
    """A price as written: a string or a number, never through a float's binary value."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("must be a number or a string holding one, like 0.09 or '0.09'")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return number


Money = Annotated[Decimal, BeforeValidator(_decimal), Field(ge=0)]
Rate = Annotated[Decimal, BeforeValidator(_decimal), Field(ge=0, lt=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _currency(value: str) -> str:
    code = value.strip().upper()
    if code not in CURRENCIES:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code Sera bills in")
    return code


class Plan(_Strict):
    name: str = Field(default="", max_length=100, description="shown on the invoice; default: the plan's key")
    currency: str | None = None  # default: the file's currency
    monthly_fee: Money = Decimal(0)
    included_minutes: int = Field(default=0, ge=0)
    included_segments: int = Field(default=0, ge=0)
    per_minute: Money = Decimal(0)
    per_segment: Money = Decimal(0)
    per_number: Money | None = None  # a month per phone number; None: numbers are not billed
    tax_rate: Rate | None = None  # default: the file's tax rate

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str | None) -> str | None:
        return None if value is None else _currency(value)


class Tax(_Strict):
    rate: Rate
    label: str = Field(default="Tax", min_length=1, max_length=40)


class Issuer(_Strict):
    """Who issues the invoices: the operator of this deployment."""

    name: str = Field(min_length=1, max_length=200)
    address: str = Field(default="", max_length=500)
    tax_id: str = Field(default="", max_length=60)
    email: str = Field(default="", max_length=200)


class _PricingFile(_Strict):
    currency: str = "USD"
    issuer: Issuer
    tax: Tax | None = None
    invoice_prefix: str = Field(default="INV-", pattern=r"^[A-Za-z0-9-]{0,12}$")
    credit_note_prefix: str = Field(default="CN-", pattern=r"^[A-Za-z0-9-]{0,12}$")
    payment_terms_days: int = Field(default=14, ge=0, le=365)
    plans: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")], Plan] = Field(min_length=1)

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        return _currency(value)


@dataclass(frozen=True)
class PricedPlan:
    """A plan with the file's defaults applied: what an invoice is computed from."""

    key: str
    name: str
    currency: str
    monthly_fee: Decimal
    included_minutes: int
    included_segments: int
    per_minute: Decimal
    per_segment: Decimal
    per_number: Decimal | None
    tax_rate: Decimal | None
    tax_label: str

    @property
    def is_free(self) -> bool:
        return self.monthly_fee == 0


@dataclass(frozen=True)
class PriceList:
    plans: dict[str, PricedPlan] = field(default_factory=dict)
    issuer: Issuer | None = None
    invoice_prefix: str = "INV-"
    credit_note_prefix: str = "CN-"
    payment_terms_days: int = 14
    source: str | None = None  # the file it came from

    def plan(self, key: str) -> PricedPlan:
        try:
            return self.plans[key]
        except KeyError:
            known = ", ".join(sorted(self.plans)) or "none: SERA_PRICING_FILE is not set"
            raise UnknownPlanError(f"no plan {key!r} in the price list (plans: {known})") from None


class UnknownPlanError(LookupError):
    pass


def minor_units(currency: str) -> int:
    return CURRENCIES[currency]


def load_pricing(path: Path | None) -> PriceList:
    """The price list in ``path`` (None: an empty list); ``PricingError`` naming file and line."""
    if path is None:
        return PriceList()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PricingError(f"SERA_PRICING_FILE {path}: cannot be read ({exc.strerror or exc})") from None
    return parse_pricing(text, str(path))


def parse_pricing(text: str, name: str = "pricing file") -> PriceList:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise PricingError(f"{name}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(data, dict):
        raise PricingError(f"{name}: expected a mapping with `issuer` and `plans`")
    try:
        parsed = _PricingFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = _line_of(root, loc)
            where = f" line {line}" if line else ""
            field_name = ".".join(str(part) for part in loc) or "(top)"
            problems.append(f"{name}{where}: {field_name}: {_message(error)}")
        raise PricingError("; ".join(problems)) from None
    tax = parsed.tax
    plans = {
        key: PricedPlan(
            key=key,
            name=plan.name or key.replace("-", " ").replace("_", " ").title(),
            currency=plan.currency or parsed.currency,
            monthly_fee=plan.monthly_fee,
            included_minutes=plan.included_minutes,
            included_segments=plan.included_segments,
            per_minute=plan.per_minute,
            per_segment=plan.per_segment,
            per_number=plan.per_number,
            tax_rate=plan.tax_rate if plan.tax_rate is not None else (tax.rate if tax else None),
            tax_label=tax.label if tax else "Tax",
        )
        for key, plan in parsed.plans.items()
    }
    return PriceList(
        plans=plans,
        issuer=parsed.issuer,
        invoice_prefix=parsed.invoice_prefix,
        credit_note_prefix=parsed.credit_note_prefix,
        payment_terms_days=parsed.payment_terms_days,
        source=name,
    )


def _message(error: Any) -> str:
    if error["type"] == "greater_than_equal":
        return f"must not be negative (got {error.get('input')})"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the value at ``loc`` (or of its nearest parent the file has)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = None
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    found = value_node
                    break
            if found is None:
                return line
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line
