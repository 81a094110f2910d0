"""Reading and verifying a Twilio webhook before anything else happens.

Twilio signs each request (``X-Twilio-Signature``) with HMAC-SHA1 over the URL it
requested plus the sorted POST parameters, keyed by the auth token of the account
that owns the number. So:

- the URL is rebuilt from ``SERA_PUBLIC_URL`` + path + query, never from the Host
  header (behind a proxy the Host is the proxy's, and an attacker controls it);
- the token is the merchant's own Twilio account's (``own_secret``), else
  ``SERA_TWILIO_AUTH_TOKEN``; with neither, every request is refused: an endpoint
  that accepts unsigned requests would let anyone book, cancel and read as a caller;
- verification uses the SDK's ``RequestValidator``, not a re-implementation.

Requests signed with a Webhooks SharedKey (``X-Twilio-Webhooks-Signature-Settings``)
are refused: Sera does not hold SharedKey secrets yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from sera.bootstrap import Sera
from sera.merchants.providers import own_secret
from sera.merchants.service import merchant_id_for_number
from sera.storage.models import Merchant
from sera.web.bodies import read_capped

log = logging.getLogger("sera.twilio")
MAX_BODY = 256 * 1024  # Twilio's own webhooks are a few kilobytes; this bounds what a stranger can make us read
MAX_FIELDS = 200
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class TwilioRequest:
    """A webhook as Twilio sent it, before it is trusted."""

    url: str  # the URL Twilio requested, as SERA_PUBLIC_URL says it is reached
    query: Mapping[str, str]
    params: ImmutableMultiDict[str, str]
    signature: str | None
    signature_settings: str | None
    idempotency_token: str | None


@dataclass(frozen=True)
class Verified:
    """A webhook whose signature matched; ``merchant_id`` is None for a number no shop answers."""

    request: TwilioRequest
    merchant_id: str | None

    @property
    def params(self) -> ImmutableMultiDict[str, str]:
        return self.request.params


def _form(body: bytes) -> ImmutableMultiDict[str, str]:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "malformed form body") from None
    if any("\x00" in key or "\x00" in value for key, value in pairs):
        raise HTTPException(400, "malformed form body")  # Twilio never sends NUL; databases refuse it
    return ImmutableMultiDict(pairs)


def public_url(base: str, request: Request) -> str:
    """The URL Twilio requested: our public base, the path and the raw query string as sent."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    return base.rstrip("/") + request.url.path + (f"?{query}" if query else "")


async def read_twilio_request(request: Request) -> TwilioRequest:
    """Read (bounded) and parse a webhook; trusts nothing yet."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != FORM:
        raise HTTPException(415, f"Twilio webhooks are {FORM}")
    params = _form(await read_capped(request, MAX_BODY))
    query = {
        k: v for k, v in parse_qsl(request.scope.get("query_string", b"").decode("latin-1")) if "\x00" not in k + v
    }
    sera: Sera = request.app.state.sera
    return TwilioRequest(
        url=public_url(sera.settings.public_url, request),
        query=query,
        params=params,
        signature=request.headers.get("x-twilio-signature"),
        signature_settings=request.headers.get("x-twilio-webhooks-signature-settings"),
        idempotency_token=request.headers.get("i-twilio-idempotency-token"),
    )


def auth_token(sera: Sera, merchant_id: str | None) -> str | None:
    """The token Twilio signs this merchant's webhooks with: their own account's, else Sera's."""
    own = own_secret(sera, merchant_id, "twilio") if merchant_id is not None else None
    if own:
        return own
    default = sera.settings.twilio_auth_token
    return default.get_secret_value() if default else None


def is_signed(request: TwilioRequest, token: str | None) -> bool:
    if not token or not request.signature or request.signature_settings:
        return False
    return bool(RequestValidator(token).validate(request.url, request.params, request.signature))


def resolve_merchant(sera: Sera, request: TwilioRequest, number: str | None) -> str | None:
    """Which shop a webhook is for: ``shop`` in a callback URL Sera made, else the shop's number.

    Both are covered by the signature, which is then checked with that same shop's token.
    """
    shop = request.query.get("shop")
    if shop:
        with sera.uow(readonly=True) as uow:
            return shop if uow.session.get(Merchant, shop) is not None else None
    return merchant_id_for_number(sera, number) if number else None


def verify(sera: Sera, request: TwilioRequest, shop_number: Callable[[Mapping[str, str]], str | None]) -> Verified:
    """The webhook's shop, once its signature matched that shop's token; 403 otherwise."""
    merchant_id = resolve_merchant(sera, request, shop_number(request.params))
    if not is_signed(request, auth_token(sera, merchant_id)):
        log.warning("twilio signature rejected", extra={"has_signature": request.signature is not None})
        raise HTTPException(403, "invalid Twilio signature")
    return Verified(request, merchant_id)
