"""A local stand-in for an OpenAI-compatible chat-completions server, scripted per request.

It answers ``POST /v1/chat/completions`` in OpenAI's documented wire format:
- streamed (``"stream": true``): ``text/event-stream``, one ``data: {chat.completion.chunk}``
  event per piece: a first chunk with ``delta.role``, content deltas, tool calls split
  across chunks (the first piece of each call with ``index``, ``id``, ``type`` and
  ``function.name``, then ``function.arguments`` in pieces), a last chunk with
  ``finish_reason`` (``stop`` or ``tool_calls``), a usage chunk with empty ``choices`` when
  ``stream_options.include_usage`` is set, and ``data: [DONE]``;
- not streamed: one ``chat.completion`` object with ``message.content`` and
  ``message.tool_calls``;
- errors as OpenAI sends them: ``{"error": {"message", "type", "param", "code"}}`` with the
  status (401 for a wrong key, 429 with ``Retry-After``, 500).

Each request takes the next ``Answer`` of the script (or calls a function of the request
body that returns one). Every request body is recorded.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ERRORS = {
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    429: ("Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
}


@dataclass
class Answer:
    text: str = ""
    calls: list[tuple[str, str | dict[str, Any]]] = field(default_factory=list)  # (name, arguments)
    status: int = 200
    retry_after: str | None = None
    stall_s: float = 0.0  # wait this long before the first byte of the answer
    stall_after_first_s: float = 0.0  # ...or after the first chunk
    raw: str | None = None  # send this body as the event stream, as it is
    pieces: int = 3  # content and arguments are split into this many chunks
    pause_s: float = 0.0  # between content chunks
    stream: bool | None = None  # None: as the request asked


Script = Answer | Callable[[dict[str, Any]], Answer]


class FakeOpenAI:
    def __init__(self, api_key: str | None = "sk-test-key") -> None:
        self.api_key = api_key
        self.script: deque[Script] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.default: Script | None = None  # when the script has run out
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def answer(self, *answers: Script) -> None:
        self.script.extend(answers)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the wire ---------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = json.loads(request.rfile.read(length) or b"{}")
        if request.path != "/v1/chat/completions":
            return self._error(request, 404, ("Unknown request URL", "invalid_request_error", "unknown_url"))
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            self.headers.append(dict(request.headers))
            return self._error(request, 401, ERRORS[401])
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        script = self.script.popleft() if self.script else self.default
        if script is None:
            raise AssertionError("the fake model was asked more than its script holds")
        answer = script(body) if callable(script) else script
        if answer.stall_s:
            time.sleep(answer.stall_s)
        if answer.status != 200:
            headers = {"Retry-After": answer.retry_after} if answer.retry_after else {}
            return self._error(request, answer.status, ERRORS.get(answer.status, ERRORS[500]), headers)
        stream = answer.stream if answer.stream is not None else bool(body.get("stream"))
        try:
            if stream:
                self._stream(request, body, answer)
            else:
                self._whole(request, body, answer)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a deadline): as a real server would see it

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, content_type: str, data: bytes, **headers: str) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)

    def _error(
        self,
        request: BaseHTTPRequestHandler,
        status: int,
        error: tuple[str, str, str | None],
        headers: dict[str, str] | None = None,
    ) -> None:
        message, kind, code = error
        data = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}}).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)

    def _whole(self, request: BaseHTTPRequestHandler, body: dict[str, Any], answer: Answer) -> None:
        calls = [
            {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function", "function": {"name": n, "arguments": _args(a)}}
            for n, a in answer.calls
        ]
        message: dict[str, Any] = {"role": "assistant", "content": answer.text or None, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        document = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if calls else "stop"}
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        }
        self._send(request, 200, "application/json", json.dumps(document).encode())

    def _stream(self, request: BaseHTTPRequestHandler, body: dict[str, Any], answer: Answer) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "text/event-stream; charset=utf-8")
        request.send_header("Cache-Control", "no-cache")
        request.end_headers()  # no length: the stream ends when the connection closes
        request.close_connection = True
        if answer.raw is not None:
            request.wfile.write(answer.raw.encode())
            return
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
            event = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": body.get("model"),
                "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            request.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            request.wfile.flush()

        chunk({"role": "assistant", "content": "", "refusal": None})
        if answer.stall_after_first_s:
            time.sleep(answer.stall_after_first_s)
        for piece in _split(answer.text, answer.pieces):
            chunk({"content": piece})
            time.sleep(answer.pause_s)
        for index, (name, arguments) in enumerate(answer.calls):
            first = {"index": index, "id": f"call_{uuid.uuid4().hex[:24]}", "type": "function"}
            chunk({"tool_calls": [{**first, "function": {"name": name, "arguments": ""}}]})
            for piece in _split(_args(arguments), answer.pieces):
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        chunk({}, "tool_calls" if answer.calls else "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
            event = {"id": ident, "object": "chat.completion.chunk", "created": created, "choices": [], "usage": usage}
            request.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        request.wfile.write(b"data: [DONE]\n\n")
        request.wfile.flush()


def _args(arguments: str | dict[str, Any]) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _split(text: str, pieces: int) -> list[str]:
    if not text:
        return []
    size = max(1, -(-len(text) // pieces))
    return [text[i : i + size] for i in range(0, len(text), size)]
