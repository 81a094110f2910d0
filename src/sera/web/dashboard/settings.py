"""Agent settings: the shop file's parts, edited in forms, versioned and audited, with a
"try it" panel (the /try conversation, against this shop) beside them.

Each form posts one section; its fields are named after the shop file field they fill
(``services.0.duration_min``), so the validator's problems land next to their field.
The form's text becomes shop file data here; whether it is valid is for the same
validator ``sera shop import`` runs (``sera.merchants.settings``), nothing else.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response

from sera.agent.service import MAX_LINE, ConversationNotFoundError, ConversationRef
from sera.customers.phones import InvalidPhoneError, normalize_phone
from sera.merchants import settings as shop_settings
from sera.merchants.settings import Problem, SettingsError, VersionNotFoundError
from sera.merchants.shop_file import WEEKDAYS
from sera.storage.models import ID_SHAPE
from sera.storage.paging import InvalidCursorError, PageRequest
from sera.team.members import list_members
from sera.web.api.deps import SeraDep
from sera.web.dashboard.access import PREFIX, DashboardUser, PageNotFoundError, requires
from sera.web.dashboard.render import render
from sera.web.try_page import CHANNEL, AgentDep

router = APIRouter()
Reader = Annotated[DashboardUser, Depends(requires("settings.read"))]
Writer = Annotated[DashboardUser, Depends(requires("settings.write"))]
MAX_VALUE = 20_000  # one field's text (a workflow file, a long policy)
MAX_ROWS = 300
CONVERSATION = r"[A-Za-z0-9_-]{16,64}"  # the /try conversation id's shape

TITLES = {
    "agent": "Greeting and persona",
    "hours": "Opening hours",
    "closures": "Closures",
    "services": "Services",
    "staff": "Staff",
    "faq": "Questions and answers",
    "policies": "Policies",
    "workflows": "Workflows",
    "outbound": "Outbound messages",
    shop_settings.FIRST: "Before the first change",
    shop_settings.RESTORE: "Restored an earlier version",
}
DAY_NAMES = dict(
    zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"), strict=True)
)


async def _form_values(request: Request) -> dict[str, str]:
    """The posted form as text; an oversized one is refused before anything reads it."""
    form = await request.form()
    values: dict[str, str] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise HTTPException(400, "files are not accepted here")
        if len(key) > 100 or len(value) > MAX_VALUE:
            raise HTTPException(413, "a field of this form is too long")
        values[key] = value
    return values


FormValues = Annotated[dict[str, str], Depends(_form_values)]


# -- form text to shop file data ----------------------------------------------------------------


def _text(form: dict[str, str], key: str) -> str | None:
    value = form.get(key, "").strip()
    return value or None


def _number(value: str | None) -> Any:
    """A number when the text is one; otherwise the text, for the validator to name."""
    if value is None:
        return None
    if re.fullmatch(r"-?\d{1,9}", value):
        return int(value)
    if re.fullmatch(r"-?\d{1,9}\.\d{1,4}", value):
        return float(value)
    return value


def _items(value: str | None, sep: str = ",") -> list[str]:
    return [part.strip() for part in (value or "").split(sep) if part.strip()]


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _rows(form: dict[str, str], section: str, fields: tuple[str, ...]) -> list[dict[str, str | None]]:
    """The rows of a list section, in order, without the removed and the blank ones."""
    pattern = re.compile(rf"^{section}\.(\d+)\.")
    indexes = sorted({int(m.group(1)) for key in form if (m := pattern.match(key))})
    if len(indexes) > MAX_ROWS:
        raise HTTPException(413, "too many rows in this form")
    rows = []
    for i in indexes:
        row = {name: _text(form, f"{section}.{i}.{name}") for name in fields}
        if form.get(f"{section}.{i}.remove") or not any(row.values()):
            continue
        rows.append(row)
    return rows


def _hours(text: str | None) -> dict[str, list[str]] | None:
    """``mon 10:00-14:00, 15:00-18:00``, one day a line, as shop file hours; blank: none."""
    if not text:
        return None
    hours: dict[str, list[str]] = {}
    for line in text.splitlines():
        day, _, ranges = line.strip().partition(" ")
        if day:
            hours[day.rstrip(":").lower()] = _items(ranges)
    return hours


def _agent(form: dict[str, str], current: dict[str, Any]) -> dict[str, Any]:
    edited = {
        name: _text(form, f"agent.{name}") for name in ("name", "greeting", "greeting_known_caller", "greeting_sms")
    }
    kept = {k: v for k, v in current["agent"].items() if k not in edited}
    return _drop_none({**kept, **edited, "record_calls": "agent.record_calls" in form})


def _opening_hours(form: dict[str, str], current: dict[str, Any]) -> dict[str, list[str]]:
    return {day: ranges for day in WEEKDAYS if (ranges := _items(form.get(f"hours.{day}")))}


def _closures(form: dict[str, str], current: dict[str, Any]) -> list[str]:
    return _items(form.get("closures"), "\n")


def _services(form: dict[str, str], current: dict[str, Any]) -> list[dict[str, Any]]:
    fields = ("name", "duration_min", "price", "buffer_min", "capacity", "description", "aliases")
    return [
        _drop_none(
            {
                "name": row["name"],
                "duration_min": _number(row["duration_min"]),
                "price": _number(row["price"]),
                "buffer_min": _number(row["buffer_min"]),
                "capacity": _number(row["capacity"]),
                "description": row["description"],
                "aliases": _items(row["aliases"]),
            }
        )
        for row in _rows(form, "services", fields)
    ]


def _staff(form: dict[str, str], current: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        _drop_none({"name": row["name"], "services": _items(row["services"]) or None, "hours": _hours(row["hours"])})
        for row in _rows(form, "staff", ("name", "services", "hours"))
    ]


def _faq(form: dict[str, str], current: dict[str, Any]) -> list[dict[str, Any]]:
    return [_drop_none({"q": row["q"], "a": row["a"]}) for row in _rows(form, "faq", ("q", "a"))]


def _policies(form: dict[str, str], current: dict[str, Any]) -> dict[str, Any]:
    return {row["topic"] or "": row["text"] or "" for row in _rows(form, "policies", ("topic", "text"))}


def _outbound(form: dict[str, str], current: dict[str, Any]) -> dict[str, Any]:
    def part(name: str, numbers: tuple[str, ...], channel: bool = True) -> dict[str, Any]:
        values: dict[str, Any] = {"enabled": f"outbound.{name}.enabled" in form}
        if channel:
            values["channel"] = _text(form, f"outbound.{name}.channel")
        values.update({n: _number(_text(form, f"outbound.{name}.{n}")) for n in numbers})
        return _drop_none(values)

    return _drop_none(
        {
            "abandoned_checkout": part("abandoned_checkout", ("delay_min", "max_attempts")),
            "appointment_reminders": part("appointment_reminders", ("hours_before",)),
            "booking_confirmations": part("booking_confirmations", (), channel=False),
            "quiet_hours": _drop_none(
                {"start": _text(form, "outbound.quiet_hours.start"), "end": _text(form, "outbound.quiet_hours.end")}
            ),
            "call_provider": _text(form, "outbound.call_provider"),
        }
    )


FORMS: dict[str, Callable[[dict[str, str], dict[str, Any]], Any]] = {
    "agent": _agent,
    "hours": _opening_hours,
    "closures": _closures,
    "services": _services,
    "staff": _staff,
    "faq": _faq,
    "policies": _policies,
    "outbound": _outbound,
}


# -- what the templates show -------------------------------------------------------------------


class Problems:
    """The problems of a refused change, found by the field they name (or its parent's)."""

    def __init__(self, problems: list[Problem] | None = None) -> None:
        self.all = problems or []

    def __call__(self, key: str) -> list[str]:
        return [p.message for p in self.all if p.field == key or p.field.startswith(key + ".")]


def _hours_text(hours: dict[str, list[str]] | None) -> str:
    return "\n".join(f"{day} {', '.join(ranges)}" for day, ranges in (hours or {}).items())


def _workflows_text(workflows: list[dict[str, Any]]) -> str:
    if not workflows:
        return ""
    return yaml.safe_dump(workflows, sort_keys=False, allow_unicode=True, width=100)


def _settings_page(
    request: Request,
    sera: SeraDep,
    user: DashboardUser,
    *,
    status_code: int = 200,
    section: str | None = None,
    value: Any = None,
    workflows_text: str | None = None,
    problems: list[Problem] | None = None,
    notice: str | None = None,
    try_state: dict[str, Any] | None = None,
) -> Response:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        document = shop_settings.current_settings(reader)
    if section is not None and section != "workflows":
        document[section] = value  # what was typed, shown again with its problems
    return render(
        request,
        "dashboard/settings.html",
        user=user,
        title="Agent settings",
        zone=user.session.timezone,
        doc=document,
        failed=section,
        problems=Problems(problems),
        notice=notice,
        workflows_text=workflows_text if workflows_text is not None else _workflows_text(document["workflows"]),
        hours_text=_hours_text,
        days=DAY_NAMES,
        titles=TITLES,
        try_state=try_state or {},
        status_code=status_code,
    )


# -- the settings page and its forms -------------------------------------------------------------


@router.get("/settings")
def settings_page(
    request: Request,
    sera: SeraDep,
    user: Reader,
    saved: Annotated[str | None, Query(max_length=20)] = None,
    unchanged: Annotated[str | None, Query(max_length=5)] = None,
    restored: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    notice = None
    if saved in TITLES:
        notice = f"{TITLES[saved]}: nothing changed." if unchanged else f"{TITLES[saved]}: saved."
    if restored is not None:
        notice = f"Version {restored} restored."
    return _settings_page(request, sera, user, notice=notice)


@router.post("/settings/workflows")
def save_workflows(request: Request, sera: SeraDep, user: Writer, form: FormValues) -> Response:
    text = form.get("workflows", "")
    try:
        saved = shop_settings.save_section_text(sera, user.merchant_id, "workflows", text, actor=user.actor)
    except SettingsError as exc:
        return _settings_page(
            request, sera, user, status_code=422, section="workflows", workflows_text=text, problems=exc.problems
        )
    return _saved("workflows", saved.changed)


def _saved(section: str, changed: bool) -> Response:
    query = f"saved={section}" + ("" if changed else "&unchanged=1")
    return RedirectResponse(f"{PREFIX}/settings?{query}#s-{section}", status_code=303)


# -- history -------------------------------------------------------------------------------------


def _who(sera: SeraDep, user: DashboardUser) -> dict[str, str]:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        return {f"team_member:{m.id}": m.name or m.email for m in list_members(reader)}


@router.get("/settings/versions")
def versions_page(
    request: Request,
    sera: SeraDep,
    user: Reader,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    try:
        with sera.uow(user.merchant_id, readonly=True) as reader:
            page = shop_settings.list_versions(reader, PageRequest(limit=50, cursor=cursor))
    except InvalidCursorError:
        raise PageNotFoundError(cursor) from None
    return render(
        request,
        "dashboard/settings_versions.html",
        user=user,
        title="Settings history",
        zone=user.session.timezone,
        page=page,
        who=_who(sera, user),
        titles=TITLES,
    )


VersionId = Annotated[str, PathParam(pattern=f"^{ID_SHAPE}$")]


@router.get("/settings/versions/{version_id}")
def version_page(request: Request, sera: SeraDep, user: Reader, version_id: VersionId) -> Response:
    try:
        with sera.uow(user.merchant_id, readonly=True) as reader:
            view = shop_settings.get_version(reader, version_id)
    except VersionNotFoundError:
        raise PageNotFoundError(version_id) from None
    return render(
        request,
        "dashboard/settings_version.html",
        user=user,
        title=f"Settings version {view.version.number}",
        zone=user.session.timezone,
        view=view,
        who=_who(sera, user),
        titles=TITLES,
    )


@router.post("/settings/versions/{version_id}/restore")
def restore_version(request: Request, sera: SeraDep, user: Writer, version_id: VersionId) -> Response:
    try:
        saved = shop_settings.restore_version(sera, user.merchant_id, version_id, actor=user.actor)
    except VersionNotFoundError:
        raise PageNotFoundError(version_id) from None
    except SettingsError as exc:  # an old version the shop's current state no longer accepts
        return _settings_page(request, sera, user, status_code=409, problems=exc.problems)
    if not saved.changed:
        return RedirectResponse(f"{PREFIX}/settings?saved={shop_settings.RESTORE}&unchanged=1", status_code=303)
    return RedirectResponse(f"{PREFIX}/settings?restored={saved.version}", status_code=303)


# -- the "try it" panel ----------------------------------------------------------------------------


def _try_answer(
    request: Request, sera: SeraDep, user: DashboardUser, state: dict[str, Any], partial: str, status_code: int = 200
) -> Response:
    if request.headers.get("hx-request") == "true":
        return render(request, partial, user=user, try_state=state, status_code=status_code)
    return _settings_page(request, sera, user, try_state=state, status_code=status_code)


@router.post("/settings/try")
def try_start(
    request: Request,
    sera: SeraDep,
    user: Writer,
    agent: AgentDep,
    caller_phone: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """A new conversation with this shop's agent, as a caller would begin it."""
    phone = None
    if caller_phone.strip():
        try:
            phone = normalize_phone(caller_phone)
        except InvalidPhoneError:
            state: dict[str, Any] = {
                "error": "That is not a phone number: leave it empty or write it like +1 312 555 0177."
            }
            return _try_answer(request, sera, user, state, "dashboard/_settings_try.html", 422)
    token = secrets.token_urlsafe(24)
    reply = agent.start(ConversationRef(user.merchant_id, CHANNEL, token), caller_phone=phone)
    state = {"token": token, "turns": [("agent", reply.text)], "ended": reply.ended}
    return _try_answer(request, sera, user, state, "dashboard/_settings_try.html")


@router.post("/settings/try/{token}")
def try_message(
    request: Request,
    sera: SeraDep,
    user: Writer,
    agent: AgentDep,
    token: Annotated[str, PathParam(pattern=f"^{CONVERSATION}$")],
    text: Annotated[str, Form(min_length=1, max_length=MAX_LINE)],
) -> Response:
    """One line to the agent; the conversation is this shop's (another shop's token is unknown here)."""
    ref = ConversationRef(user.merchant_id, CHANNEL, token)
    try:
        reply = agent.reply(ref, text, renew_after=sera.settings.idle_timeout(CHANNEL))
    except ConversationNotFoundError:
        raise PageNotFoundError(token) from None
    state = {"token": token, "turns": [("caller", text), ("agent", reply.text)], "ended": reply.ended}
    return _try_answer(request, sera, user, state, "dashboard/_settings_try_turns.html")


# -- a new FAQ entry (the weekly report links here with a question callers asked) ------------------


def _knowledge_page(
    request: Request,
    user: DashboardUser,
    question: str,
    answer: str = "",
    problems: list[Problem] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "dashboard/settings_knowledge.html",
        user=user,
        title="Add a question and answer",
        question=question,
        answer=answer,
        problems=problems or [],
        question_problems=[p.message for p in problems or [] if p.field.endswith(".q")],
        answer_problems=[p.message for p in problems or [] if p.field.endswith(".a")],
        status_code=status_code,
    )


@router.get("/knowledge/new")
def knowledge_new(request: Request, user: Writer, question: Annotated[str, Query(max_length=500)] = "") -> Response:
    return _knowledge_page(request, user, question.strip())


@router.post("/knowledge")
def knowledge_add(
    request: Request,
    sera: SeraDep,
    user: Writer,
    question: Annotated[str, Form(max_length=500)] = "",
    answer: Annotated[str, Form(max_length=MAX_VALUE)] = "",
) -> Response:
    try:
        shop_settings.add_faq_entry(sera, user.merchant_id, question.strip(), answer.strip(), actor=user.actor)
    except SettingsError as exc:
        return _knowledge_page(request, user, question, answer, exc.problems, status_code=422)
    return RedirectResponse(f"{PREFIX}/settings?saved=faq#s-faq", status_code=303)


# registered last: a section is any path /settings/<name> that the routes above do not take
@router.post("/settings/{section}")
def save_section(
    request: Request,
    sera: SeraDep,
    user: Writer,
    form: FormValues,
    section: Annotated[str, PathParam(max_length=20)],
) -> Response:
    build = FORMS.get(section)
    if build is None:
        raise PageNotFoundError(section)
    with sera.uow(user.merchant_id, readonly=True) as reader:
        current = shop_settings.current_settings(reader)
    value = build(form, current)
    try:
        saved = shop_settings.save_section(sera, user.merchant_id, section, value, actor=user.actor)
    except SettingsError as exc:
        return _settings_page(request, sera, user, status_code=422, section=section, value=value, problems=exc.problems)
    return _saved(section, saved.changed)
