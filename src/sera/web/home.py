"""The landing page at ``/`` and the API docs, served from the package.

Swagger UI and ReDoc come from ``static/vendor/`` (vendored from the npm registry at pinned
versions by ``scripts/vendor-assets``), so ``/docs`` and ``/redoc`` work without internet.
"""

from __future__ import annotations

import secrets
from html import escape
from pathlib import Path
from string import Template

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from sera import __version__
from sera.web.api.deps import SeraDep

STATIC = Path(__file__).parent / "static"
VENDOR = "/static/vendor"
OPENAPI_URL = "/openapi.json"
_HOME = Template((Path(__file__).parent / "templates" / "home.html").read_text())
# the page's own files only: no script, nothing from another origin
_CSP = "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
# the docs: scripts from this server and the page's own start-up script (by nonce); the docs'
# styles are inline; ReDoc's search runs in a blob worker. Nothing from another origin, so the
# ReDoc footer's remote logo is never requested.
_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)
static_files = StaticFiles(directory=STATIC)


def _link(href: str, label: str, hint: str) -> str:
    return f'<li><a href="{escape(href)}">{escape(label)}</a> <span class="hint">{escape(hint)}</span></li>'


@router.get("/", response_class=HTMLResponse)
def home(sera: SeraDep) -> HTMLResponse:
    links = []
    if not sera.settings.is_production:
        links.append(_link("/try", "Try the agent", "talk to a shop's agent in the browser, as a caller would"))
    links += [
        _link("/docs", "API reference", "the merchant API, with requests to try (Swagger UI)"),
        _link("/redoc", "API reference, to read", "the same document laid out for reading (ReDoc)"),
        _link(OPENAPI_URL, "OpenAPI document", "for code generators and API clients"),
    ]
    page = _HOME.substitute(
        version=escape(__version__), environment=escape(sera.settings.env.value), links="\n      ".join(links)
    )
    return HTMLResponse(page, headers={"Content-Security-Policy": _CSP})


def _docs_page(page: HTMLResponse) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    body = bytes(page.body).decode().replace("<script>", f'<script nonce="{nonce}">')
    return HTMLResponse(body, headers={"Content-Security-Policy": _DOCS_CSP.format(nonce=nonce)})


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui() -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url=OPENAPI_URL,
        title="Sera API",
        swagger_js_url=f"{VENDOR}/swagger-ui-dist/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui-dist/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
        swagger_ui_parameters={"validatorUrl": None},  # the public validator is another origin
    )
    return _docs_page(page)


@router.get("/redoc", response_class=HTMLResponse)
def redoc() -> HTMLResponse:
    page = get_redoc_html(
        openapi_url=OPENAPI_URL,
        title="Sera API",
        redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
        redoc_favicon_url="/static/favicon.svg",
        with_google_fonts=False,
    )
    return _docs_page(page)
