"""The model each shop's agent talks through, wired for every Sera ``sera.bootstrap`` builds.

A shop's file chooses (``agent.brain``, ``agent.llm``); what it leaves out comes from the
server's settings (``SERA_BRAIN``, ``SERA_LLM_*``). The server's API key is sent only to the
server's own endpoint: a shop that points at another endpoint brings its own key.
"""

from __future__ import annotations

import hashlib
import logging
import threading

from sera.adapters.openai.client import OpenAIChat
from sera.agent.context import TurnContext
from sera.agent.ports import ChatModel
from sera.bootstrap import Sera
from sera.merchants.providers import LLM_PROVIDER, own_secret

log = logging.getLogger("sera.llm")


class ShopModels:
    """``(turn) -> the shop's model``, or None for the offline brain."""

    def __init__(self, sera: Sera) -> None:
        self._sera = sera
        self._clients: dict[tuple[str, str, str], OpenAIChat] = {}
        self._lock = threading.Lock()

    def __call__(self, ctx: TurnContext) -> ChatModel | None:
        settings = self._sera.settings
        agent = ctx.shop.agent
        if (agent.get("brain") or settings.brain) != "llm":
            return None
        own = agent.get("llm") or {}
        base_url, model = own.get("base_url") or settings.llm_base_url, own.get("model") or settings.llm_model
        if not base_url or not model:
            log.warning("llm brain chosen without an endpoint and model", extra={"merchant_id": ctx.shop.merchant_id})
            return None
        key = own_secret(self._sera, ctx.shop.merchant_id, LLM_PROVIDER)
        if key is None and base_url == settings.llm_base_url and settings.llm_api_key is not None:
            key = settings.llm_api_key.get_secret_value()
        return self._client(base_url, model, key)

    def _client(self, base_url: str, model: str, key: str | None) -> OpenAIChat:
        """One client per endpoint, model and key: its connections and rate-limit pause are shared."""
        ident = (base_url, model, hashlib.sha256((key or "").encode()).hexdigest())
        with self._lock:
            client = self._clients.get(ident)
            if client is None:
                first_token = self._sera.settings.llm_first_token_seconds
                client = self._clients[ident] = OpenAIChat(base_url, model, key, first_token_s=first_token)
            return client


def connect(sera: Sera) -> None:
    sera.chat_models = ShopModels(sera)
