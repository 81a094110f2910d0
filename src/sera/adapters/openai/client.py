"""Chat completions in OpenAI's wire format, the one every compatible server speaks
(OpenAI, Azure OpenAI's v1 endpoint, Groq, Ollama, vLLM, llama.cpp's server).

``POST {base_url}/chat/completions`` with ``messages``, ``tools`` (function definitions),
``tool_choice`` and ``stream: true``; the answer is server-sent events, one
``chat.completion.chunk`` per ``data:`` line and ``data: [DONE]`` at the end. Text arrives
as ``choices[0].delta.content``; a tool call arrives in pieces under
``choices[0].delta.tool_calls[i]``: the first piece with its ``index``, ``id`` and
``function.name``, the next ones adding to ``function.arguments``. A server that ignores
``stream`` and answers one JSON ``chat.completion`` is read too.

Written over httpx through Sera's one HTTP wrapper rather than the ``openai`` package: a
caller is on the line, so the request is sent once with a deadline for the first token
(the package retries on its own schedule), and the package would be a second HTTP stack
beside the one that owns timeouts and the error split for every other provider.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from sera.adapters.http import HttpClient, OutboundError
from sera.agent.ports import ModelEvent, ModelGarbageError, ModelUnavailableError, TextDelta, ToolCallRequest

MAX_TOKENS = 400  # a spoken reply is a few sentences
MAX_ARGUMENTS = 20_000  # characters of one tool call's arguments; more is not a tool call


@dataclass
class _Partial:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAIChat:
    """One endpoint and model. ``first_token_s``: how long the model may take to begin
    (and, once it has, to pause between chunks); ``total_s``: the whole answer."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None,
        *,
        first_token_s: float = 2.5,
        total_s: float = 15.0,
        http: HttpClient | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.name = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = httpx.Timeout(first_token_s, connect=min(first_token_s, 5.0))
        self._total_s = total_s
        self._http = http or HttpClient(retries=0)
        self._resting_until = 0.0  # a 429's Retry-After: no request before then
        self._lock = threading.Lock()

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *, tool_choice: str = "auto"
    ) -> Iterator[ModelEvent]:
        with self._lock:
            resting = self._resting_until - time.monotonic()
        if resting > 0:
            raise ModelUnavailableError("rate-limited", retry_after=resting)
        body: dict[str, Any] = {
            "model": self.name,
            "messages": messages,
            "stream": True,
            "max_tokens": MAX_TOKENS,
            "temperature": 0.2,
        }
        if tools:
            body["tools"] = [{"type": "function", "function": spec} for spec in tools]
            body["tool_choice"] = tool_choice
        deadline = time.monotonic() + self._total_s
        try:
            request = self._http.stream("POST", self.url, json=body, headers=self._headers, timeout=self._timeout)
            with request as response:
                if response.headers.get("content-type", "").startswith("application/json"):
                    yield from _whole(response.read())
                else:
                    yield from _streamed(response.iter_lines(), deadline)
        except OutboundError as exc:
            if exc.status == 429:
                self._rest(exc.retry_after)
            raise ModelUnavailableError(_reason(exc), retry_after=exc.retry_after) from None
        except httpx.TimeoutException:  # while reading the stream
            raise ModelUnavailableError("timeout") from None
        except httpx.TransportError:
            raise ModelUnavailableError("unreachable") from None

    def _rest(self, seconds: float | None) -> None:
        with self._lock:
            self._resting_until = time.monotonic() + min(seconds if seconds is not None else 1.0, 300.0)


def _reason(exc: OutboundError) -> str:
    if exc.status is None:
        return "timeout" if str(exc).startswith("timeout") else "unreachable"
    return f"status {exc.status}"


def _streamed(lines: Iterator[str], deadline: float) -> Iterator[ModelEvent]:
    calls: dict[int, _Partial] = {}
    for line in lines:
        if time.monotonic() > deadline:
            raise ModelUnavailableError("timeout")
        if not line.startswith("data:"):
            continue  # blank lines between events, ": keep-alive" comments, "event:" names
        data = line[5:].strip()
        if data == "[DONE]":
            break
        chunk = _json(data)
        if "error" in chunk:
            raise ModelUnavailableError("error in stream")
        for choice in chunk.get("choices") or ():  # the usage chunk has none
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                raise ModelGarbageError("a delta that is not an object")
            if isinstance(delta.get("content"), str) and delta["content"]:
                yield TextDelta(delta["content"])
            for piece in delta.get("tool_calls") or ():
                _add_piece(calls, piece)
    yield from _finished(calls)


def _add_piece(calls: dict[int, _Partial], piece: Any) -> None:
    if not isinstance(piece, dict) or not isinstance(piece.get("index", 0), int):
        raise ModelGarbageError("a tool call piece without an index")
    partial = calls.setdefault(piece.get("index", 0), _Partial())
    partial.id = partial.id or str(piece.get("id") or "")
    function = piece.get("function") or {}
    partial.name = partial.name or str(function.get("name") or "")
    if isinstance(function.get("arguments"), str):
        partial.arguments.append(function["arguments"])
        if sum(map(len, partial.arguments)) > MAX_ARGUMENTS:
            raise ModelGarbageError("tool call arguments too long")


def _finished(calls: dict[int, _Partial]) -> Iterator[ModelEvent]:
    for index in sorted(calls):
        partial = calls[index]
        if not partial.name:
            raise ModelGarbageError("a tool call without a name")
        yield ToolCallRequest(partial.id or f"call_{index}", partial.name, "".join(partial.arguments) or "{}")


def _whole(raw: bytes) -> Iterator[ModelEvent]:
    """A non-streamed ``chat.completion``."""
    document = _json(raw.decode("utf-8", "replace"))
    choices = document.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ModelGarbageError("no choices")
    message = choices[0].get("message") or {}
    if isinstance(message.get("content"), str) and message["content"]:
        yield TextDelta(message["content"])
    calls: dict[int, _Partial] = {}
    for index, call in enumerate(message.get("tool_calls") or ()):
        _add_piece(calls, {**call, "index": index} if isinstance(call, dict) else call)
    yield from _finished(calls)


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise ModelGarbageError("not JSON") from None
    if not isinstance(value, dict):
        raise ModelGarbageError("not a JSON object")
    return value
