"""Sera's own cost per LLM turn: prompt building, tool execution, parsing, the state kept.

    .venv/bin/python bench/llm_turn.py [--rounds 200]

The model is a local server in OpenAI's wire format that answers at once (scripted: a
knowledge question through search_knowledge, the hours through get_hours, a booking
through check_availability and book_appointment with its confirmation, and plain
talk), reached through the real client over HTTP. The time spent waiting for the model
(request, server, stream) is measured around the client and subtracted, so what is left
is Sera's overhead. Also timed: from the model's first text token to the first sentence
handed to the channel. Baseline in the same run: the same lines through the offline brain.

Then each way a model fails (an error status, a stall before or during the stream, garbage
twice) with a first-token deadline of ``FIRST_TOKEN_S``: how long the caller waits for the
offline brain's answer, against that deadline (the bound is the deadline twice over: a
stall after the first token waits out the deadline once more).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.agent_turn import DEMO, make_sera, pct  # noqa: E402
from tests.fakes.openai_server import Answer, FakeOpenAI  # noqa: E402

from sera.agent.context import TurnContext  # noqa: E402
from sera.agent.ports import ChatModel, ModelEvent, TextDelta  # noqa: E402
from sera.agent.service import Agent, ConversationRef  # noqa: E402

CONVERSATIONS = [
    ["is there somewhere to park near the shop"],
    ["what time do you close on thursday"],
    ["hi, I'm Jordan Miles, could I get a tune-up next tuesday at 2", "yes please"],
    ["thanks, that's all"],
]


def scripted(body: dict[str, Any]) -> Answer:
    """Plays a model that uses the tools the way the prompt asks."""
    last = body["messages"][-1]
    if last["role"] == "tool":
        result = json.loads(last["content"])
        if "slots" in result and result.get("requested_available"):
            start = result["slots"][0]["start"][:16]
            return Answer(calls=[("book_appointment", {"service": "Tune-up", "start": start})])
        return Answer(text=f"Sure. {result.get('result', 'Done.')} Anything else I can help with?")
    line = str(last["content"]).lower()
    if "park" in line:
        return Answer(calls=[("search_knowledge", {"query": line})])
    if "close" in line:
        return Answer(calls=[("get_hours", {"date": "2026-12-03"})])
    if "tune-up" in line:
        return Answer(calls=[("check_availability", {"service": "Tune-up", "date": "2026-12-01", "time": "14:00"})])
    return Answer(text="You're welcome. Have a great day, and ride safe!")


class Timed:
    """The shop's model, with the time spent waiting for it and its first token recorded."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner
        self.name = inner.name
        self.waited = 0.0
        self.first_token: float | None = None

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *, tool_choice: str = "auto"
    ) -> Iterator[ModelEvent]:
        events = self.inner.complete(messages, tools, tool_choice=tool_choice)
        while True:
            started = time.perf_counter()
            try:
                event = next(events)
            except StopIteration:
                self.waited += time.perf_counter() - started
                return
            now = time.perf_counter()
            self.waited += now - started
            if isinstance(event, TextDelta) and self.first_token is None:
                self.first_token = now
            yield event


def run(agent: Agent, merchant_id: str, rounds: int, timed: list[Timed]) -> tuple[list[float], list[float]]:
    overhead, to_sentence = [], []
    for i in range(rounds):
        ref = ConversationRef(merchant_id, "voice", uuid.uuid4().hex)
        agent.start(ref, caller_phone=f"+1312555{1000 + i % 8000:04d}")
        for line in CONVERSATIONS[i % len(CONVERSATIONS)]:
            timed.clear()
            first_sentence: list[float] = []
            started = time.perf_counter()
            reply = agent.reply(ref, line, say=lambda _s, out=first_sentence: out.append(time.perf_counter()))
            total = time.perf_counter() - started
            assert reply.fallback is None, reply.fallback
            overhead.append((total - sum(t.waited for t in timed)) * 1000)
            token = timed[0].first_token if timed else None
            if token is not None and first_sentence:
                to_sentence.append((first_sentence[0] - token) * 1000)
    return overhead, to_sentence


FIRST_TOKEN_S = 0.6
FAILURES = {
    "500": [Answer(status=500)],
    "429": [Answer(status=429, retry_after="0")],  # no pause: the next kind is asked at once
    "stall": [Answer(stall_s=FIRST_TOKEN_S + 1.5, text="too late")],
    "stall-mid-stream": [Answer(stall_after_first_s=FIRST_TOKEN_S + 1.5, text="too late")],
    "bad-chunks": [Answer(raw="data: {not json\n\n")] * 2,
    "bad-arguments": [Answer(calls=[("get_hours", '{"date": "2026-')])] * 2,
    "empty": [Answer(text="")] * 2,
}


def fallbacks(sera: Any, merchant_id: str, model: FakeOpenAI, rounds: int) -> dict[str, list[float]]:
    """Seconds from the caller's line to the offline brain's answer, for each kind of failure."""
    # a client of its own (clients are kept per endpoint, model and key), with this deadline
    sera.settings = sera.settings.model_copy(update={"llm_first_token_seconds": FIRST_TOKEN_S, "llm_model": "failing"})
    logging.getLogger("sera.agent.llm.brain").setLevel(logging.ERROR)  # each fallback is logged: expected here
    agent = Agent(sera)
    waits: dict[str, list[float]] = {kind: [] for kind in FAILURES}
    for i in range(rounds):
        for kind, answers in FAILURES.items():
            model.script.clear()
            model.answer(*answers)
            ref = ConversationRef(merchant_id, "voice", uuid.uuid4().hex)
            agent.start(ref, caller_phone=f"+1312556{i:04d}")
            started = time.perf_counter()
            reply = agent.reply(ref, "are you open tomorrow?")
            waits[kind].append(time.perf_counter() - started)
            assert reply.fallback is not None, kind
    return waits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--failure-rounds", type=int, default=5)
    args = parser.parse_args()
    model = FakeOpenAI(api_key=None)
    model.default = scripted
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sera, merchant_id = make_sera(Path(tmp), DEMO.read_text())
            offline, _ = run(Agent(sera), merchant_id, 20, [])
            offline, _ = run(Agent(sera), merchant_id, args.rounds, [])
            sera.settings = sera.settings.model_copy(
                update={
                    "brain": "llm",
                    "llm_base_url": model.base_url,
                    "llm_model": "bench",
                }
            )
            shop_models = sera.chat_models
            assert shop_models is not None
            timed: list[Timed] = []

            def models(ctx: TurnContext) -> ChatModel | None:
                inner = shop_models(ctx)
                if inner is None:
                    return None
                timed.append(Timed(inner))
                return timed[-1]

            sera.chat_models = models
            agent = Agent(sera)
            run(agent, merchant_id, 20, timed)  # warm-up: connections, caches
            requests = len(model.requests)
            overhead, to_sentence = run(agent, merchant_id, args.rounds, timed)
            model.default = None
            sera.chat_models = shop_models
            waits = fallbacks(sera, merchant_id, model, args.failure_rounds)
            sera.close()
    finally:
        model.close()
    turns = len(overhead)
    print(f"[offline brain, same lines (baseline)] {len(offline)} turns: p50 {statistics.median(offline):.2f} ms")
    print(
        f"[LLM brain, Sera's overhead] {turns} turns, {(len(model.requests) - requests) / turns:.1f} model requests "
        f"a turn: p50 {statistics.median(overhead):.2f} ms, p99 {pct(overhead, 99):.2f} ms, max {max(overhead):.2f} ms"
    )
    print(
        f"[first token -> first sentence to the channel] {len(to_sentence)} turns: "
        f"p50 {statistics.median(to_sentence):.3f} ms, max {max(to_sentence):.3f} ms"
    )
    print("targets: overhead p50 < 5 ms, p99 < 20 ms; first token to first sentence < 5 ms")
    print(f"[a failing model, first-token deadline {FIRST_TOKEN_S} s] caller's wait for the offline brain's answer:")
    for kind, seconds in waits.items():
        print(f"  {kind:<17} p50 {statistics.median(seconds):.3f} s, max {max(seconds):.3f} s")
    print(f"target: every kind under the deadline twice over, {2 * FIRST_TOKEN_S:.1f} s, plus 0.5 s")


if __name__ == "__main__":
    main()
