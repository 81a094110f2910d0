"""Session tokens: how the embedded app knows which shop's admin it is running in.

Shopify's App Bridge signs a short-lived JWT (HS256, the app secret) for each request:
``iss`` is ``https://{shop}/admin``, ``dest`` ``https://{shop}``, ``aud`` the app's API
key, ``sub`` the staff user, ``sid`` the admin session, ``exp``/``nbf`` about a minute
apart. Times are checked against Sera's clock with a few seconds of leeway for skew.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import jwt

from sera.adapters.shopify.app import ShopifyApp
from sera.adapters.shopify.signatures import is_shop_domain

LEEWAY_SECONDS = 5
REQUIRED_CLAIMS = ["iss", "dest", "aud", "exp", "nbf", "sub", "jti", "sid"]


class InvalidSessionTokenError(ValueError):
    """The token is not a current session token of this app for a Shopify shop (reason inside)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SessionClaims:
    shop: str
    user_id: str
    session_id: str
    token_id: str


def _shop_of(url: object) -> str | None:
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    return host if parts.scheme == "https" and is_shop_domain(host) and parts.port is None else None


def verify_session_token(app: ShopifyApp, token: str, now: datetime) -> SessionClaims:
    """The verified claims; raises InvalidSessionTokenError naming what failed."""
    try:
        claims = jwt.decode(
            token,
            app.api_secret,
            algorithms=["HS256"],
            audience=app.api_key,
            options={"require": REQUIRED_CLAIMS, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.InvalidAudienceError:
        raise InvalidSessionTokenError("audience") from None
    except jwt.InvalidSignatureError:
        raise InvalidSessionTokenError("signature") from None
    except jwt.PyJWTError:
        raise InvalidSessionTokenError("malformed") from None
    _check_times(claims, now)
    shop = _shop_of(claims["dest"])
    if shop is None:
        raise InvalidSessionTokenError("destination")
    if _shop_of(str(claims["iss"]).removesuffix("/admin")) != shop:
        raise InvalidSessionTokenError("issuer")
    return SessionClaims(
        shop=shop, user_id=str(claims["sub"]), session_id=str(claims["sid"]), token_id=str(claims["jti"])
    )


def _check_times(claims: dict[str, object], now: datetime) -> None:
    moment = now.timestamp()
    exp, nbf = claims["exp"], claims["nbf"]
    if not isinstance(exp, int | float) or not isinstance(nbf, int | float):
        raise InvalidSessionTokenError("malformed")
    if moment > exp + LEEWAY_SECONDS:
        raise InvalidSessionTokenError("expired")
    if moment < nbf - LEEWAY_SECONDS:
        raise InvalidSessionTokenError("not_yet_valid")
