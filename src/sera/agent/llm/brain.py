"""The LLM brain: an OpenAI-compatible model holds the dialogue and calls the shared tools.

Guarantees are held by Sera, not by the prompt:
- the tools refuse to book, move or cancel without the caller's yes, and Sera (not the
  model) hears that yes: a caller line that ``yes_no`` reads as yes, right after a
  tool asked for confirmation, confirms exactly that plan, which Sera then carries out;
- tools return order details to verified callers only, never another customer's data;
- arguments are checked against each tool's schema, and a malformed call is answered with
  the error so the model can try once more;
- at most ``max_tool_calls`` tool calls a turn; then the model must answer in words;
- a sentence that states an amount of money no tool result or the shop data holds is
  not said: the model is asked again.

When the model errors, is slower than its deadline to the first token (or the turn than
``TURN_BUDGET_S``), is rate-limited, or answers garbage twice, the turn falls back: to the
results of the tools that already acted this turn (Sera's own words), otherwise to the
offline brain, from the same conversation state. The fallback is counted
(``sera_llm_fallbacks_total``) and marked on the reply, for ``sera eval``.

The model sees this conversation only: its lines, tool calls and results are kept in the
conversation's sealed state, trimmed to the last ``KEPT_TURNS`` turns.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from prometheus_client import Counter

from sera.agent.context import TurnContext
from sera.agent.language import yes_no
from sera.agent.llm.prompt import system_prompt
from sera.agent.ports import (
    Action,
    Brain,
    ChatModel,
    ModelGarbageError,
    ModelUnavailableError,
    Reply,
    Say,
    TextDelta,
    ToolCallRequest,
)
from sera.agent.tools import ToolError, ToolRegistry, ToolResult

log = logging.getLogger("sera.agent.llm")
FALLBACKS = Counter("sera_llm_fallbacks_total", "LLM turns answered without the model", ["reason"])
TURNS = Counter("sera_llm_turns_total", "Caller turns answered by the LLM brain", ["result"])

ModelSource = Callable[[TurnContext], ChatModel | None]  # the shop's model, or None: offline
KEPT_TURNS = 12
TURN_BUDGET_S = 8.0  # the whole turn, every model request and tool included (Twilio waits 15 s for a webhook)
TASKS = {"book_appointment": "book", "reschedule_appointment": "reschedule", "cancel_appointment": "cancel"}
OFFLINE_KEYS = ("pending", "proposal", "task", "offered", "question", "workflow")
PLAIN_YES_WORDS = 6
YES_BUT = re.compile(r"\b(but|instead|actually|change|different|rather|wait|except|unless)\b|\d", re.IGNORECASE)
THINKING = re.compile(r"<think>.*?</think>\s*", re.DOTALL)  # reasoning models (Qwen3, DeepSeek-R1) think aloud
MARKDOWN = re.compile(r"\*\*|__|`+|^#+\s*|^\s*[-*]\s+", re.MULTILINE)
SENTENCE_END = re.compile(r"[.!?]+[\"')\]*_`]*\s+")
ABBREVIATIONS = frozenset({"dr", "mr", "mrs", "ms", "st", "no", "approx", "e.g", "i.e", "vs", "jr", "sr"})
MONEY = re.compile(
    r"[$£€]\s?(\d[\d,]*(?:\.\d+)?)|(\d[\d,]*(?:\.\d+)?)\s?(?:dollars?|bucks|pounds?|quid|euros?|usd|gbp|eur|aud|cad)\b",
    re.IGNORECASE,
)


class ShopBrain:
    """The brain each shop chose: its model when it has one, the offline brain otherwise."""

    def __init__(self, models: ModelSource, offline: Brain, *, max_tool_calls: int = 6) -> None:
        self.models = models
        self.offline = offline
        self.max_tool_calls = max_tool_calls

    def greet(self, ctx: TurnContext) -> Reply:
        return self.offline.greet(ctx)  # the shop's own greeting, word for word

    def respond(self, ctx: TurnContext, text: str, say: Say | None = None) -> Reply:
        model = self.models(ctx)
        if model is None:
            return self.offline.respond(ctx, text, say)
        return _Turn(self, ctx, model, text, say).run()


class _FallbackError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _CutOffError(Exception):
    """The channel said the caller is talking over the agent."""


class _UngroundedError(Exception):
    """A sentence stated money that nothing the model was given holds."""


class _Turn:
    def __init__(self, brain: ShopBrain, ctx: TurnContext, model: ChatModel, text: str, say: Say | None) -> None:
        self.brain = brain
        self.ctx = ctx
        self.model = model
        self.text = text
        self.say = say
        self.state = ctx.state
        self.tools = ToolRegistry(ctx.shop.workflows, records_unanswered=True)
        self.history: list[list[dict[str, Any]]] = self.state.setdefault("llm_turns", [])
        self.said: list[str] = []  # sentences handed to the channel this turn
        self.acted: list[ToolResult] = []  # tool results that changed something this turn
        self.proposed = False
        self.deadline = time.monotonic() + TURN_BUDGET_S
        self.done: dict[str, str] = {}  # what Sera did on the caller's yes: the same call again gets its result
        self.unanswered: str | None = None  # the caller's line, when the shop's knowledge had no answer to it

    def run(self) -> Reply:
        if not self.history and self.state.get("last_reply"):
            self.history.append([{"role": "assistant", "content": str(self.state["last_reply"])}])
        self.remember_what_was_heard()
        turn: list[dict[str, Any]] = [{"role": "user", "content": self.text}]
        try:
            self.act_on_yes(turn)
            reply = self.converse(turn)
            TURNS.labels("model").inc()
            self.forget_offline_task()
        except _FallbackError as fallback:
            reply = self.fall_back(fallback.reason)
            turn = [{"role": "user", "content": self.text}, {"role": "assistant", "content": reply.text}]
        finally:
            self.state.pop("confirmed", None)  # a yes holds for the turn it was said in
        self.history.append(turn)
        del self.history[:-KEPT_TURNS]
        if self.unanswered and reply.unanswered is None:
            reply = replace(reply, unanswered=self.unanswered)
        return reply

    def remember_what_was_heard(self) -> None:
        """A caller who talked over the last reply heard only its start (the channel cut
        ``last_reply`` down to it): the model remembers saying only that."""
        if not self.state.pop("cut_short", False) or not self.history:
            return
        last = next((m for m in reversed(self.history[-1]) if m["role"] == "assistant" and m.get("content")), None)
        if last is not None:
            last["content"] = str(self.state.get("last_reply") or "")

    # -- the caller's yes --------------------------------------------------------------------

    def act_on_yes(self, turn: list[dict[str, Any]]) -> None:
        """A yes to the plan a tool asked to confirm, heard by Sera's rules (not the model), is
        acted on at once, as the offline brain does; the model words the result."""
        proposal = self.state.get("proposal")
        if self.state.get("pending") != "confirm" or not proposal or yes_no(self.text) is not True:
            return
        call = ToolCallRequest(f"call_confirmed_{len(self.history)}", proposal["tool"], json.dumps(proposal["args"]))
        try:
            self.tools.confirm(self.ctx, call.name, proposal["args"])
        except ToolError:
            return
        if len(self.text.split()) > PLAIN_YES_WORDS or YES_BUT.search(self.text):
            return  # "yes, but make it 3": the yes holds for the plan as asked; the model decides
        turn.append(_assistant_calls("", [call]))
        content, _, result = self.run_tool(call)
        turn.append({"role": "tool", "tool_call_id": call.id, "content": content})
        if result is not None and result.outcome:  # the model may still call it, as it was told to
            self.done[_call_key(call.name, proposal["args"])] = content

    def forget_offline_task(self) -> None:
        """The model holds the dialogue: a later fallback starts clean, but for a plan that
        waits for the caller's yes, which the offline brain then hears."""
        if not self.proposed:
            for key in OFFLINE_KEYS:
                self.state.pop(key, None)
            self.state["slots"] = {}

    # -- the model ----------------------------------------------------------------------------

    def converse(self, turn: list[dict[str, Any]]) -> Reply:
        system = system_prompt(self.ctx)
        specs = [tool.spec() for tool in self.tools]
        calls_made, bad = 0, 0
        while True:
            if time.monotonic() > self.deadline:
                raise _FallbackError("timeout")
            messages = [{"role": "system", "content": system}, *(m for t in self.history for m in t), *turn]
            choice = "none" if calls_made >= self.brain.max_tool_calls else "auto"
            try:
                text, calls = self.ask(messages, specs, choice, grounding=self.grounding(system, turn))
            except _CutOffError:
                turn.append({"role": "assistant", "content": " ".join(self.said)})
                return Reply(" ".join(self.said), self.actions())
            except ModelUnavailableError as exc:
                raise _FallbackError(exc.reason) from None
            except (ModelGarbageError, _UngroundedError) as exc:
                bad += 1
                if bad >= 2:
                    raise _FallbackError("garbage") from None
                if isinstance(exc, _UngroundedError):
                    turn.append({"role": "assistant", "content": " ".join([*self.said, str(exc)])})
                    turn.append({"role": "user", "content": UNGROUNDED_NOTE})
                continue
            if not calls:
                if not text:
                    bad += 1
                    if bad >= 2:
                        raise _FallbackError("garbage")
                    continue
                turn.append({"role": "assistant", "content": text})  # what it said, for the next turns
                return Reply(" ".join(self.said), self.actions())
            if choice == "none":
                raise _FallbackError("tool-call limit")
            turn.append(_assistant_calls(text, calls))
            for call in calls:
                calls_made += 1
                content, ok, result = self.run_tool(call)
                turn.append({"role": "tool", "tool_call_id": call.id, "content": content})
                if not ok:
                    bad += 1
                    if bad >= 2:
                        raise _FallbackError("garbage")
                if result is not None and result.actions:  # a transfer or hang-up ends the turn in Sera's words
                    turn.append({"role": "assistant", "content": result.text})
                    return self.ending(result.text)

    def ask(
        self, messages: list[dict[str, Any]], specs: list[dict[str, Any]], choice: str, *, grounding: set[float]
    ) -> tuple[str, list[ToolCallRequest]]:
        """One model request: its sentences are handed on as each completes, its calls returned."""
        buffer, calls, spoken = "", [], len(self.said)
        for event in self.model.complete(messages, specs, tool_choice=choice):
            if time.monotonic() > self.deadline:
                raise ModelUnavailableError("timeout")
            if isinstance(event, TextDelta):
                buffer = THINKING.sub("", buffer + event.text)
                while "<think>" not in buffer and (end := _sentence_end(buffer)) is not None:
                    self.speak(buffer[:end].strip(), grounding)
                    buffer = buffer[end:]
            else:
                calls.append(event)
        buffer = buffer.split("<think>", 1)[0]  # a reasoning model's unfinished thoughts are not said
        if buffer.strip():
            self.speak(buffer.strip(), grounding)
        return " ".join(self.said[spoken:]), calls

    def speak(self, sentence: str, grounding: set[float] | None = None) -> None:
        sentence = MARKDOWN.sub("", sentence).strip()  # said aloud or texted: no markup
        if not sentence:
            return
        if grounding is not None and any(amount not in grounding for amount in _amounts(sentence)):
            raise _UngroundedError(sentence)
        self.said.append(sentence)
        if self.say is not None and self.say(sentence) is False:
            raise _CutOffError  # the caller talks over the agent: stop writing

    def grounding(self, system: str, turn: list[dict[str, Any]]) -> set[float]:
        """Every amount of money the model was given: in the shop data and the tool results it has seen."""
        results = (str(m.get("content") or "") for t in (*self.history, turn) for m in t if m["role"] == "tool")
        return {amount for text in (system, *results) for amount in _amounts(text)}

    # -- tools ----------------------------------------------------------------------------------

    def run_tool(self, call: ToolCallRequest) -> tuple[str, bool, ToolResult | None]:
        """(what the model reads back, whether the call was well formed, the result)."""
        try:
            args = json.loads(call.arguments) if call.arguments.strip() else {}
        except ValueError:
            return _error("the arguments are not valid JSON; call again with a JSON object"), False, None
        if self.tools.get(call.name) is None:
            return _error(f"there is no tool {call.name!r}"), False, None
        if isinstance(args, dict) and _call_key(call.name, args) in self.done:
            return self.done[_call_key(call.name, args)], True, None
        caller = self.ctx.caller
        before = (caller.customer_id, caller.name)
        try:
            with self.ctx.uow.session.begin_nested():  # a tool that fails leaves nothing behind
                result = self.tools.run(self.ctx, call.name, args)
        except ToolError as exc:
            caller.customer_id, caller.name = before
            return _error(f"{exc}; call again with arguments that fit the schema"), False, None
        except Exception:
            caller.customer_id, caller.name = before
            log.exception("tool failed", extra={"tool": call.name})
            return _error("the tool failed; tell the caller you could not do it and offer a message"), True, None
        if call.name == "search_knowledge" and not result.data.get("found"):
            self.unanswered = self.text.strip()[:1000]
        if result.data.get("needs_confirmation"):
            self.proposed = True
            self.state["pending"], self.state["task"] = "confirm", TASKS.get(call.name)
        if result.outcome or result.actions:
            self.acted.append(result)
        return json.dumps({"result": result.text, **result.data}, default=str), True, result

    def ending(self, text: str, fallback: str | None = None) -> Reply:
        """A reply that ends the conversation: the channel says it with the ending (not ``say``)."""
        self.said.append(text)
        return Reply(" ".join(self.said), self.actions(), fallback=fallback)

    def actions(self) -> tuple[Action, ...]:
        return tuple(action for result in self.acted for action in result.actions)

    # -- fallback ---------------------------------------------------------------------------------

    def fall_back(self, reason: str) -> Reply:
        FALLBACKS.labels(reason).inc()
        log.warning("llm turn fell back", extra={"reason": reason, "model": self.model.name})
        if self.acted:  # something was done: the caller hears what, in the tools' words
            if self.actions():
                return self.ending(" ".join(result.text for result in self.acted), fallback=reason)
            for result in self.acted:
                self.speak(result.text)
            return Reply(" ".join(self.said), self.actions(), fallback=reason)
        reply = self.brain.offline.respond(self.ctx, self.text, self.say)
        return Reply(reply.text, reply.actions, reply.understood, fallback=reason, unanswered=reply.unanswered)


UNGROUNDED_NOTE = (
    "(Sera: that sentence stated an amount that no tool result gave, so it was not said. "
    "Answer again using only tool results.)"
)


def _assistant_calls(text: str, calls: list[ToolCallRequest]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls
        ],
    }


def _call_key(name: str, args: dict[str, Any]) -> str:
    return name + json.dumps(args, sort_keys=True)


def _error(message: str) -> str:
    return json.dumps({"error": message})


def _sentence_end(buffer: str) -> int | None:
    """Where the first complete sentence of ``buffer`` ends (after its trailing space)."""
    for match in SENTENCE_END.finditer(buffer):
        before = buffer[: match.start()].rsplit(None, 1)
        word = before[-1].lower() if before else ""
        if buffer[match.start()] == "." and word.rstrip(".") in ABBREVIATIONS:
            continue
        return match.end()
    return None


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _amounts(sentence: str) -> list[float]:
    return [_number(m.group(1) or m.group(2)) for m in MONEY.finditer(sentence)]
