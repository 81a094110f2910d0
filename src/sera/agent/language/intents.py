"""Rule-based intent detection for what a caller or texter wants.

Weighted phrase patterns run over normalised text with SMS shorthand expanded
("wanna" -> "want to", "appt" -> "appointment"). Each intent scores the best
weight among its matching patterns, plus a small bonus for corroborating
patterns; a few explicit adjustments resolve known collisions (a price question
mentioning a service is not a booking, "delete the information you have about
me" is erasure not access). Scores are in (0, 1] and only comparable within
one call: they rank, they are not probabilities.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from sera.agent.language.entities import yes_no
from sera.agent.language.normalize import expand_shorthand

__all__ = ["Intent", "IntentScore", "best_intent", "detect_intents", "looks_like_injection"]


class Intent(StrEnum):
    """What the caller wants; values are stable identifiers for logs and storage."""

    BOOK = "book"
    RESCHEDULE = "reschedule"
    CANCEL = "cancel"
    ORDER_STATUS = "order_status"
    QUESTION = "question"
    HOURS = "hours"
    HUMAN = "human"
    MESSAGE = "message"
    OPT_OUT = "opt_out"
    PRIVACY_ERASURE = "privacy_erasure"
    PRIVACY_ACCESS = "privacy_access"
    PRIVACY_CORRECTION = "privacy_correction"
    PRIVACY_OBJECTION = "privacy_objection"
    SUPPORT = "support"
    GOODBYE = "goodbye"
    GREETING = "greeting"
    AFFIRM = "affirm"
    DENY = "deny"
    PRAISE = "praise"


@dataclass(frozen=True, slots=True)
class IntentScore:
    """One detected intent and its rule score (higher is more certain)."""

    intent: Intent
    score: float


@dataclass(frozen=True, slots=True)
class _Rule:
    intent: Intent
    weight: float
    pattern: re.Pattern[str]
    tag: str = ""


def _rule(intent: Intent, weight: float, pattern: str, tag: str = "") -> _Rule:
    return _Rule(intent, weight, re.compile(pattern), tag)


_ORDER_NOUN = r"(?:order|package|delivery|shipment|parcel|purchase)"
_DATA_NOUN = r"(?:data|information|details|records?|account|profile|history|everything|personal)"
_PERSON = (
    r"(?:person|human|manager|someone|somebody|representative|rep|staff|employee|owner"
    r"|operator|agent|people|anyone|mechanic|technician|supervisor)"
)
_DAY_WORDS = re.compile(
    r"\b(?:today|tonight|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    r"|next week|morning|afternoon|evening|am|pm|noon|o'clock)\b"
)

_RULES: tuple[_Rule, ...] = (
    # BOOK
    _rule(
        Intent.BOOK,
        0.9,
        r"\b(?:book|schedule|reserve)\s+(?:a|an|me|my|in|it|for|the|us|something|time|some|another)\b",
    ),
    _rule(Intent.BOOK, 0.6, r"\b(?:book|booking)\b"),
    _rule(
        Intent.BOOK,
        0.9,
        r"\b(?:make|set up|get|need|want|like|have|book|schedule)\s+(?:an?\s+|another\s+)?"
        r"(?:\w+\s+)?appointment\b",
    ),
    _rule(Intent.BOOK, 0.45, r"\bappointments?\b"),
    _rule(
        Intent.BOOK,
        0.8,
        r"\b(?:get|have)\s+(?:my|the|our|a|her|his|their|it|them)\b(?:\s+\w+){0,2}?\s+"
        r"(?:tuned|fixed|serviced|repaired|looked at|checked|fitted|adjusted|installed|replaced"
        r"|trued|done)\b",
    ),
    _rule(
        Intent.BOOK,
        0.8,
        r"\b(?:bring|drop|take|wheel|roll)\s+(?:my|the|our|it|her|his|a|them)\b(?:\s+\w+){0,2}?"
        r"\s+(?:in|off|by|over)\b",
    ),
    _rule(Intent.BOOK, 0.7, r"\b(?:come|stop|swing|drop|pop)\s+(?:in|by)\b"),
    _rule(
        Intent.BOOK,
        0.7,
        r"\b(?:can|could|would|will)\s+(?:you|you guys|someone)\s+"
        r"(?:fix|repair|tune|service|look at|check|adjust|true|replace|install|patch|fit)\b",
    ),
    _rule(
        Intent.BOOK,
        0.7,
        r"\b(?:need|want|looking for|i'd like|would like|(?:can|could|may) (?:i|we) (?:get|have))\b"
        r"(?:\s+\w+){0,4}?\s+(?:tune up|tuneup"
        r"|tuned|repair|repaired|service|serviced|fitting|fit|fixed|overhaul|install|lesson)\b",
    ),
    _rule(Intent.BOOK, 0.55, r"\b(?:availability|openings?|any slots?|free slots?)\b"),
    # RESCHEDULE
    _rule(Intent.RESCHEDULE, 0.95, r"\bre-?sched\w*\b"),
    _rule(
        Intent.RESCHEDULE,
        0.9,
        r"\b(?:move|change|push|switch|shift|bump)\b(?:\s+\w+){0,3}?\s+"
        r"(?:appointment|booking|reservation|slot|time)\b",
    ),
    _rule(
        Intent.RESCHEDULE,
        0.85,
        r"\b(?:move|push|switch|shift|bump)\s+(?:it|that|this|me|them)\s+(?:back|up|forward|to)\b",
    ),
    _rule(Intent.RESCHEDULE, 0.6, r"\b(?:a different|another|a later|an earlier) (?:day|time|date)\b"),
    # CANCEL
    _rule(
        Intent.CANCEL,
        0.95,
        r"\bcancel\w*\b(?:\s+\w+){0,3}?\s+(?:appointment|booking|reservation|order|lesson"
        r"|session|class|visit|fitting|service)\b",
    ),
    _rule(Intent.CANCEL, 0.9, r"\bcancel\w*\s+(?:it|that|this|my|the|our)\b"),
    _rule(Intent.CANCEL, 0.75, r"\bcancel\w*\b"),
    _rule(Intent.CANCEL, 0.5, r"\b(?:can't|cannot|won't|not going to) make it\b"),
    # ORDER_STATUS
    _rule(
        Intent.ORDER_STATUS,
        0.95,
        rf"\bwhere(?:'s| is| are)\s+(?:my|the|our)\s+(?:\w+\s+)?{_ORDER_NOUN}s?\b",
    ),
    _rule(
        Intent.ORDER_STATUS,
        0.95,
        r"\b(?:check|checking|ask|asking|call|calling|following up|follow up|wondering|know)\s+"
        rf"(?:in\s+)?(?:on|about)\s+(?:my|an|the|our|a)\s+(?:\w+\s+)?{_ORDER_NOUN}\b",
    ),
    _rule(
        Intent.ORDER_STATUS,
        0.95,
        rf"\border status\b|\bstatus of (?:my|the|an|our) {_ORDER_NOUN}\b",
    ),
    _rule(
        Intent.ORDER_STATUS,
        0.9,
        rf"\b(?:has|did|was|is|have)\s+(?:my|the|our)\s+(?:\w+\s+)?{_ORDER_NOUN}s?\s+(?:\w+\s+)?"
        r"(?:shipped|ship|sent|arrive|arrived|delivered|left|gone out|been sent)\b",
    ),
    _rule(
        Intent.ORDER_STATUS,
        0.9,
        rf"\bwhen (?:will|is|does|would|should|can i expect) (?:my|the|our) {_ORDER_NOUN}\b",
    ),
    _rule(Intent.ORDER_STATUS, 0.9, r"\btracking\b"),
    _rule(
        Intent.ORDER_STATUS,
        0.85,
        r"\b(?:know|ask|asking|question|wondering) about (?:an? |my |the )?order\b",
    ),
    _rule(Intent.ORDER_STATUS, 0.85, r"\border\s+(?:number\s+|no\s+|#)?#?\d{3,}\b"),
    _rule(Intent.ORDER_STATUS, 0.8, r"\border (?:number|no|#)\b"),
    _rule(Intent.ORDER_STATUS, 0.7, rf"\b(?:my|our) {_ORDER_NOUN}\b"),
    _rule(Intent.ORDER_STATUS, 0.6, r"(?:^|\s)#\d{3,}\b"),
    # QUESTION
    _rule(
        Intent.QUESTION,
        0.8,
        r"\bhow much\b|\bpric(?:e|es|ing|ed)\b|\bcosts?\b|\bdo you (?:guys |all )?charge\b"
        r"|\bfees?\b|\brates?\b",
        "price",
    ),
    _rule(Intent.QUESTION, 0.8, r"\bpolic(?:y|ies)\b|\bwarranty\b|\bguarantee\b", "policy"),
    _rule(Intent.QUESTION, 0.8, r"\bpark(?:ing)?\b|\bbike rack\b"),
    _rule(
        Intent.QUESTION,
        0.8,
        r"\bin stock\b|\bdo you (?:guys |all |folks )?(?:have|carry|sell|stock|rent|offer|do|make"
        r"|take|accept|ship|deliver|service|repair|fix|work on)\b|\b(?:have|got) any\b"
        r"|\brent(?:al|als|ing)?\b|\bin store\b",
    ),
    _rule(
        Intent.QUESTION,
        0.7,
        r"\bwhere (?:are you|are you guys|is the shop|is your shop|is the store) located\b"
        r"|\baddress\b|\bdirections\b|\blocated\b|\bhow (?:long|far)\b",
    ),
    _rule(
        Intent.QUESTION,
        0.5,
        r"^(?:what|what's|how|how's|is there|are there|do you|does|can you tell|could you tell"
        r"|where|which|who|why|is it|are you|i have a question|quick question)\b",
    ),
    _rule(Intent.QUESTION, 0.5, r"\b(?:question|wondering|curious) (?:about|if|whether)\b"),
    # HOURS
    _rule(
        Intent.HOURS,
        0.95,
        r"\bwhat time do you (?:guys |all )?(?:open|close|closed)\b"
        r"|\bwhen (?:are|do|will) you (?:guys |all )?(?:open|close|closed|closing|opening)\b"
        r"|\b(?:your|business|store|shop|opening|holiday|weekend) hours\b"
        r"|\bare you (?:guys )?open\b"
        r"|\bclosing time\b|\bopening time\b|\bhow late\b|\bhow early\b"
        r"|\b(?:you|you guys) open (?:today|tomorrow|on|this|until|till|late)\b",
    ),
    _rule(Intent.HOURS, 0.6, r"\bhours\b|\bopen (?:today|tomorrow|on)\b"),
    # HUMAN
    _rule(
        Intent.HUMAN,
        0.95,
        r"\b(?:real|actual|live) (?:person|human|people|agent|someone)\b"
        r"|\b(?:talk|speak|chat)\b(?:\s+\w+){0,2}?\s+(?:to|with)\s+"
        rf"(?:a |an |the |your )?{_PERSON}\b"
        r"|\btransfer me\b|\bhuman being\b|\bput me through\b"
        # "could I have a quick word with Kirsty", New Zealand's "a yarn with", Scots' "a wee word"
        r"|\b(?:have|need|want|grab) a (?:quick |wee |little |brief )?(?:word|yarn|chat|natter|chinwag) with\b",
    ),
    _rule(
        Intent.HUMAN,
        0.8,
        r"\b(?:manager|representative|operator|supervisor)\b|\bcustomer service\b",
    ),
    # OPT_OUT
    _rule(
        Intent.OPT_OUT,
        0.95,
        r"\bstop (?:calling|texting|messaging|contacting|emailing|sending|bothering)\b"
        r"|\bunsubscribe\b"
        r"|\b(?:don't|do not|never)(?: ever)? (?:call|text|message|contact|email) (?:me|us|this number)\b"
        r"|\bremove (?:me|my number|my email|this number)\b(?! data)|\btake me off\b"
        r"|\bopt(?:ing)? ?out\b|\bno more (?:calls|texts|messages|emails)\b",
    ),
    # PRIVACY
    _rule(
        Intent.PRIVACY_ERASURE,
        0.95,
        rf"\b(?:delete|erase|remove|wipe|purge|destroy|scrub)\b(?:\s+\w+){{0,4}}?\s+{_DATA_NOUN}\b"
        r"|\bforget (?:me|about me|my (?:data|information|details|number|email))\b"
        r"|\bright to be forgotten\b",
    ),
    _rule(Intent.PRIVACY_ERASURE, 0.6, r"\berase\b"),
    _rule(
        Intent.PRIVACY_ACCESS,
        0.9,
        r"\bwhat (?:data|information|details|personal information|records?) do you (?:have|keep"
        r"|store|hold|collect)\b|\bwhat do you (?:have|know|keep|store|hold) (?:on|about) me\b"
        r"|\b(?:send|give|email|show) me (?:a copy of )?(?:my|all my|all of my|the) "
        r"(?:data|information|details|records?|personal)\b"
        r"|\bcopy of my (?:data|information|records?)\b"
        r"|\baccess (?:to )?my (?:data|information|records?)\b",
    ),
    _rule(
        Intent.PRIVACY_ACCESS,
        0.7,
        r"\b(?:data|information|details) (?:you have|you've got|you hold|you keep)"
        r" (?:on|about) me\b",
    ),
    _rule(
        Intent.PRIVACY_CORRECTION,
        0.9,
        r"\b(?:correct|update|fix|change|edit)\b(?:\s+\w+){0,2}?\s+(?:info|information|details"
        r"|name|email|email address|address|phone number|number|record|records|spelling|profile"
        r"|contact)\b"
        r"|\bspelled (?:wrong|wrongly|incorrectly)\b|\bmisspel\w*\b"
        r"|\bmy name is (?:spelled|wrong)\b"
        r"|\bwrong (?:name|email|address|spelling|phone|number) (?:on|in) (?:file|my|the|your)\b",
    ),
    # SUPPORT
    _rule(Intent.SUPPORT, 0.9, r"\b(?:refund|replacement|exchange|replace it|money back)\b", "remedy"),
    _rule(
        Intent.SUPPORT,
        0.85,
        r"\b(?:broken|broke|damaged|cracked|defective|faulty|dented|ripped|torn|scratched"
        r"|doesn't work|does not work|not working|stopped working|isn't working|fell apart"
        r"|falling apart)\b",
        "damage",
    ),
    _rule(
        Intent.SUPPORT,
        0.85,
        r"\bwrong (?:item|size|colou?r|product|part|thing|model)\b|\bnot what i ordered\b"
        r"|\b(?:charged twice|double charged|overcharged)\b|\bnever (?:arrived|came|showed up)\b",
        "remedy",
    ),
    _rule(
        Intent.SUPPORT,
        0.8,
        r"\b(?:complain|complaint|unhappy|disappointed|not happy|dissatisfied|upset)\b"
        r"|(?<!no )\b(?:problems?|issues?)\b",
        "complaint",
    ),
    _rule(
        Intent.SUPPORT,
        0.8,
        r"\breturn (?:it|this|that|them|my|the|an?|these|those)\b|\bwant to return\b"
        r"|\bsend (?:it|this|them) back\b",
        "remedy",
    ),
    # GOODBYE
    _rule(
        Intent.GOODBYE,
        0.9,
        r"\b(?:good ?bye|bye|see ya|see you|take care|talk (?:to you )?(?:later|soon)|ka kite|cheerio|ta-?ra|slan)\b"
        r"|\bhave a (?:good|great|nice|lovely|wonderful) (?:day|one|night|evening|weekend"
        r"|afternoon)\b|\b(?:that's|that is|that'll be|that will be) (?:all|it|everything)\b"
        r"|\bnothing else\b",
    ),
)
_GREETING = re.compile(
    r"^(?:hi|hello|hey|hiya|howdy|yo|greetings|good (?:morning|afternoon|evening)|g'?day|howya|how'?s it going"
    r"|kia ora|morena|dia dhuit)\b(?: there)?"  # Australia, Ireland, New Zealand (te reo Maori), Irish
)
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\b(?:\s+\w+){0,3}?\s+(?:instructions?|rules"
    r"|prompts?|guidelines|directives|programming|system|restrictions|guardrails)\b"
    r"|\bsystem prompt\b|\bdeveloper mode\b|\bjailbreak\b|\byou are now\b"
    r"|\bpretend (?:to be|you are|you're)\b|\bact as (?:an?|the|my)\b|\broleplay as\b"
    r"|\b(?:reveal|show|print|tell me|repeat|give me|what are)\b(?:\s+\w+){0,2}?\s+(?:your )?"
    r"(?:instructions|prompt|configuration|api keys?|passwords?|secrets?|credentials)\b"
    r"|\b(?:all|every|everyone's|other|other people's)\s+(?:the\s+|of the\s+)?(?:orders|customers"
    r"|customer data|customer information|customer records|users|records|accounts|phone numbers"
    r"|addresses)\b"
    # "all the emails": everyone's addresses, not "spelt wrong on all the emails" the caller gets
    r"|(?<!\bon )(?<!\bin )\b(?:all|every|everyone's|other|other people's)\s+(?:the\s+|of the\s+)?emails\b"
    r"|\bsudo\b|\b(?:admin|debug|maintenance|test|god|export) mode\b|\bis now in \w+ mode\b|\bas an? admin\b"
    r"|\bsystem (?:note|message|override)\b"
    r"|\b(?:names?|numbers?|emails?) of (?:every|all(?: the)?) (?:guests?|customers?|clients?|patients?|members?)\b"
    r"|\b(?:i(?:'m| am)|as) (?:the|your) (?:admin|developer|programmer)\b|\bnew instructions\b"
    r"|\bnames (?:and|&) (?:their )?(?:\w+ )?(?:numbers|emails|addresses)\b|\bevery (?:name|number|email)\b"
    r"|\b(?:ignore|disregard|forget|override|bypass)\b(?:\s+\S+){0,4}?\s+(?:programm\w*|trained|coded|configured)\b"
    r"|\b(?:everyone|everybody|all the (?:people|bookings|appointments|customers|clients))\b(?:\s+\S+){0,6}?\s+"
    r"(?:with|and) their (?:\w+ )?(?:numbers?|names?|emails?|addresses|details)\b"
    r"|\b(?:list|read (?:me )?(?:out|off)?|give me|send me)\b(?:\s+\S+){0,2}?\s+(?:everyone|everybody)"
    r" (?:booked|who|that|on|coming|signed)\b"
)
_CORE_ACTIONS = frozenset(
    {
        Intent.BOOK,
        Intent.RESCHEDULE,
        Intent.CANCEL,
        Intent.ORDER_STATUS,
        Intent.QUESTION,
        Intent.HOURS,
        Intent.HUMAN,
        Intent.OPT_OUT,
        Intent.PRIVACY_ERASURE,
        Intent.PRIVACY_ACCESS,
        Intent.PRIVACY_CORRECTION,
        Intent.SUPPORT,
    }
)
_PRIVACY = (Intent.PRIVACY_ERASURE, Intent.PRIVACY_ACCESS, Intent.PRIVACY_CORRECTION)
_INJECTION_ALLOWED = frozenset({Intent.ORDER_STATUS, Intent.QUESTION})
_INJECTION_CAP = 0.3
_BONUS = 0.05
_ORDER = {intent: i for i, intent in enumerate(Intent)}


def detect_intents(text: str) -> list[IntentScore]:
    """Score every intent the text supports, best first; empty when none.

    Text that :func:`looks_like_injection` is reduced to ORDER_STATUS/QUESTION
    capped at 0.3, so a "prompt" never unlocks privacy, cancellation or
    opt-out flows; the agent can ask again in plain terms.
    """
    if not isinstance(text, str):
        return []
    normalized = expand_shorthand(text)
    if not normalized:
        return []
    scores, tags = _rule_scores(normalized)
    _greeting(normalized, scores)
    _adjust(normalized, scores, tags)
    _yes_no(text, normalized, scores)
    if _INJECTION.search(normalized):
        scores = {i: min(s, _INJECTION_CAP) for i, s in scores.items() if i in _INJECTION_ALLOWED}
    ranked = sorted(scores.items(), key=lambda item: (-item[1], _ORDER[item[0]]))
    return [IntentScore(intent, round(score, 3)) for intent, score in ranked if score > 0]


def best_intent(text: str, *, threshold: float = 0.5) -> Intent | None:
    """The top intent if it scores at least ``threshold``, else None."""
    ranked = detect_intents(text)
    if ranked and ranked[0].score >= threshold:
        return ranked[0].intent
    return None


def looks_like_injection(text: str) -> bool:
    """True for attempts to instruct the agent rather than talk to it.

    Catches "ignore your instructions", "system prompt", role-play requests and
    bulk-data asks ("give me all orders", "other customers' phone numbers").
    """
    if not isinstance(text, str):
        return False
    normalized = expand_shorthand(text)
    return bool(normalized) and _INJECTION.search(normalized) is not None


def _rule_scores(text: str) -> tuple[dict[Intent, float], set[str]]:
    """Best weight per intent plus a bonus per extra corroborating rule."""
    best: dict[Intent, float] = {}
    hits: dict[Intent, int] = {}
    tags: set[str] = set()
    for rule in _RULES:
        if rule.pattern.search(text) is None:
            continue
        best[rule.intent] = max(best.get(rule.intent, 0.0), rule.weight)
        hits[rule.intent] = hits.get(rule.intent, 0) + 1
        if rule.tag:
            tags.add(rule.tag)
    scores = {i: min(1.0, w + _BONUS * (hits[i] - 1)) for i, w in best.items()}
    return scores, tags


def _greeting(text: str, scores: dict[Intent, float]) -> None:
    """A greeting alone is the intent; before a request it is only a courtesy."""
    match = _GREETING.match(text)
    if match is None:
        return
    rest = text[match.end() :].split()
    scores[Intent.GREETING] = 0.9 if len(rest) <= 2 else 0.3


def _adjust(text: str, scores: dict[Intent, float], tags: set[str]) -> None:
    """Resolve collisions between intents whose phrases overlap."""
    book = scores.get(Intent.BOOK, 0.0)
    if book and _DAY_WORDS.search(text) and book >= 0.5:
        scores[Intent.BOOK] = min(1.0, book + 0.1)
    for stronger in (Intent.RESCHEDULE, Intent.CANCEL):
        if scores.get(stronger, 0.0) >= 0.75 and Intent.BOOK in scores:
            scores[Intent.BOOK] *= 0.5
    if "price" in tags or "policy" in tags:
        # "how much for a tune-up" / "what's your return policy": asking, not doing.
        for intent in (Intent.BOOK, Intent.SUPPORT):
            if intent in scores:
                scores[intent] = min(scores[intent], 0.45)
        scores[Intent.QUESTION] = max(scores.get(Intent.QUESTION, 0.0), 0.85)
    if scores.get(Intent.HOURS, 0.0) >= 0.9 and Intent.QUESTION in scores:
        scores[Intent.QUESTION] = min(scores[Intent.QUESTION], 0.6)
    if any(scores.get(i, 0.0) >= 0.9 for i in _PRIVACY) and Intent.QUESTION in scores:
        scores[Intent.QUESTION] = min(scores[Intent.QUESTION], 0.5)
    if scores.get(Intent.PRIVACY_ERASURE, 0.0) >= 0.9 and Intent.PRIVACY_ACCESS in scores:
        scores[Intent.PRIVACY_ACCESS] *= 0.5
    if scores.get(Intent.OPT_OUT, 0.0) >= 0.9 and Intent.PRIVACY_ERASURE in scores:
        scores[Intent.PRIVACY_ERASURE] *= 0.5
    if tags & {"damage"} and not tags & {"remedy", "complaint"} and book >= 0.7:
        # "my brakes are broken, can I bring it in": a repair booking, not a complaint.
        scores[Intent.SUPPORT] = min(scores[Intent.SUPPORT], 0.5)
    if scores.get(Intent.PRIVACY_CORRECTION, 0.0) and scores.get(Intent.RESCHEDULE, 0.0) >= 0.9:
        scores[Intent.PRIVACY_CORRECTION] *= 0.5


def _yes_no(raw: str, text: str, scores: dict[Intent, float]) -> None:
    """AFFIRM/DENY for short answers; muted when a real request is present."""
    answer = yes_no(raw)
    if answer is None:
        return
    words = text.split()
    if len(words) <= 5:
        score = 0.9
    elif len(words) <= 12:
        score = 0.5
    else:
        return
    if any(scores.get(i, 0.0) >= 0.7 for i in _CORE_ACTIONS):
        score = min(score, 0.4)
    scores[Intent.AFFIRM if answer else Intent.DENY] = score
