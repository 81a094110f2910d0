"""The /try page: a merchant talks to their own agent in the browser (channel "web").

Thin routes: validate the request, call the Agent, map its errors to status codes.
A conversation id handed to the page is "<merchant id>.<random token>": the token is
the conversation's external id (unguessable), and the merchant id tells the next
request which shop's unit of work to open, so nothing is kept in process memory.
"""

from __future__ import annotations

import logging
import re
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from sera.agent.service import MAX_LINE, Agent, ConversationNotFoundError, ConversationRef
from sera.bootstrap import Sera
from sera.customers.phones import InvalidPhoneError, normalize_phone
from sera.merchants.service import merchant_id_for_domain
from sera.storage.models import Merchant
from sera.web.api.deps import SeraDep
from sera.web.api.responses import content, errors, links
from sera.web.fields import Line, Text

log = logging.getLogger("sera.web.try")
PAGE = Path(__file__).parent / "static" / "try.html"
CHANNEL = "web"
_CONVERSATION_ID = re.compile(r"^(?P<merchant>[A-Za-z0-9_]{1,40})\.(?P<token>[A-Za-z0-9_-]{16,64})$")


def _not_in_production(sera: SeraDep) -> None:
    """/try lets anyone reach a shop's agent and book, move or cancel real appointments.

    It is meant for the merchant trying their own agent, so until dashboard login exists
    (and can tell the shop's owner from a stranger) it does not exist in production.
    """
    if sera.settings.is_production:
        raise HTTPException(404, "Not Found")


def _agent(request: Request, sera: SeraDep) -> Agent:
    """One Agent per app: the brain is built once, conversations live in the database."""
    agent: Agent | None = getattr(request.app.state, "try_agent", None)
    if agent is None:
        agent = request.app.state.try_agent = Agent(sera)
    return agent


AgentDep = Annotated[Agent, Depends(_agent)]
router = APIRouter(
    prefix="/try", tags=["try (not in production)"], dependencies=[Depends(_not_in_production)], responses=errors(404)
)


class StartConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shop: Line | None = Field(default=None, max_length=255, description="The shop's domain; default the first shop")
    caller_phone: Line | None = Field(default=None, max_length=32, description="The number the caller 'calls from'")

    @field_validator("caller_phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return normalize_phone(value)
        except InvalidPhoneError:
            raise ValueError("not a phone number") from None


class ConversationStarted(BaseModel):
    conversation_id: str
    reply: str
    ended: bool


class CallerMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text = Field(min_length=1, max_length=MAX_LINE)


class AgentReply(BaseModel):
    reply: str
    ended: bool
    transfer_to: str | None


def _first_merchant_id(sera: Sera) -> str | None:
    """The shop a bare /try talks to: the only one, or the first one imported."""
    with sera.uow(readonly=True) as uow:
        stmt = select(Merchant.id).order_by(Merchant.created_at, Merchant.id).limit(1)
        return uow.session.execute(stmt).scalar_one_or_none()


def _merchant_id(sera: Sera, domain: str | None) -> str:
    merchant_id = merchant_id_for_domain(sera, domain) if domain else _first_merchant_id(sera)
    if merchant_id is None:
        raise HTTPException(404, "no such shop")
    return merchant_id


def _conversation_ref(conversation_id: str) -> ConversationRef:
    match = _CONVERSATION_ID.match(conversation_id)
    if match is None:
        raise HTTPException(404, "no such conversation")
    return ConversationRef(match["merchant"], CHANNEL, match["token"])


@router.get("", response_class=FileResponse, responses=content(200, "text/html", "The chat page"))
def try_page(sera: SeraDep, shop: Annotated[Line | None, Query(max_length=255)] = None) -> FileResponse:
    """The chat page; it reads `?shop=` itself and starts the conversation."""
    _merchant_id(sera, shop)  # an unknown shop is a 404 here rather than a broken page
    return FileResponse(PAGE, media_type="text/html", headers={"Cache-Control": "no-store"})


@router.post(
    "/conversations",
    responses={
        **errors(400),
        **links(200, "$response.body#/conversation_id", "post /try/conversations/{conversation_id}/messages"),
    },
)
def start_conversation(body: StartConversation, sera: SeraDep, agent: AgentDep) -> ConversationStarted:
    merchant_id = _merchant_id(sera, body.shop)
    ref = ConversationRef(merchant_id, CHANNEL, secrets.token_urlsafe(24))
    reply = agent.start(ref, caller_phone=body.caller_phone)
    log.info("try conversation started", extra={"merchant_id": merchant_id})
    return ConversationStarted(conversation_id=f"{merchant_id}.{ref.external_id}", reply=reply.text, ended=reply.ended)


@router.post("/conversations/{conversation_id}/messages", responses=errors(400))
def send_message(
    conversation_id: Annotated[str, PathParam(pattern=_CONVERSATION_ID.pattern)],
    body: CallerMessage,
    sera: SeraDep,
    agent: AgentDep,
) -> AgentReply:
    """A line from the page; after the conversation ended or went quiet, it begins a new one (same id)."""
    ref = _conversation_ref(conversation_id)
    try:
        reply = agent.reply(ref, body.text, renew_after=sera.settings.idle_timeout(CHANNEL))
    except ConversationNotFoundError:
        raise HTTPException(404, "no such conversation") from None
    return AgentReply(reply=reply.text, ended=reply.ended, transfer_to=reply.transfer_to)
