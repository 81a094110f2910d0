"""What a caller's line means: the learned classifier, with the rules where they are sure.

The classifier (``intents``) reads any wording; the phrase rules (``sera.agent.language.
intents``) are exact about the phrasings they were written for. The classifier decides,
except that a rule at full confidence wins when the classifier also finds its intent
plausible (it knows, say, that "cancel my 3 pm" is a cancellation however the bank is worded),
and a line the classifier is unsure of, or calls ``other``, falls back to a rule that matched.
A line the classifier calls ``other`` (unrelated, nonsense, an instruction to the agent, a
bare name) that no rule reads has no intent: the brain offers what it can help with, and
never acts on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sera.agent.language import Intent, detect_intents
from sera.agent.understanding.intents import OTHER, IntentGuess, intent_classifier

CONFIDENT = 0.5  # the classifier's probability at which its best intent stands alone
# while the agent waits for an answer (a name, a day), a line changes the subject only when
# the classifier is this sure: a bare name or date is no request, whatever its nearest intent
CHANGES_SUBJECT = 0.85
ANSWERS = frozenset({"greeting", "affirm", "deny", "other"})
NAMES_PEOPLE = frozenset({"human", "message"})
COURTESIES = frozenset({"greeting", "goodbye", "affirm", "deny"})
SHORT_ANSWER_WORDS = 6
PLAUSIBLE = 0.15  # a certain rule's intent needs at least this much from the classifier
ALSO = 0.25  # other intents the line may carry (a request for a person among a question)
GUESS = 0.3  # below this, with no rule either, the line is not understood
RULE_CERTAIN = 0.9
RULE_MATCHED = 0.5


@dataclass(frozen=True, slots=True)
class Meaning:
    intent: Intent | None  # what the caller wants, or None when not understood
    intents: frozenset[Intent]  # every intent the line plausibly carries
    confidence: float  # the classifier's probability of its best guess
    guesses: tuple[IntentGuess, ...]


def plain_answer(text: str) -> Meaning:
    """A short line that is just the answer the agent asked for ("2 pm" to "what time?", "yes"
    to "shall I book it?"): the rules read it, and the model is not run (a caller's turn is
    mostly such answers, and the model costs 5 ms a line)."""
    said = " ".join(word for word in text.split() if "@" not in word)  # an address's words are no request
    found = [r for r in detect_intents(said) if r.score >= RULE_MATCHED]
    intent = found[0].intent if found else None
    return Meaning(intent, frozenset(r.intent for r in found), 0.0, (IntentGuess(OTHER, 0.0),))


SALUTATION_PULL = 0.1  # how much a greeting took from the line's reading before it is read past
# a salutation that opens a line ("hi,", "hello there", "good morning Sam,"): a courtesy before
# the request, never the request itself when more follows
SALUTATION = re.compile(
    r"^\s*(?:hi+|hello|hey+|hiya|howdy|heya|howya|kia\s+ora|morena|good\s+(?:morning|afternoon|evening|day)|greetings"
    r"|g'day|morning|evening)"
    r"(?:\s+there)?(?:\s+[A-Z][a-z]+)?\s*[,.!:;-]+\s*|^\s*(?:hi+|hello|hey+|hiya)\s+(?=\w)",
    re.IGNORECASE,
)


PRAISE = "praise"
# a word of thanks or praise: a line with none is no compliment, however like one it sounds to the
# model ("y'all tune-up ain't did nothin, it's still blowin warm" is about work done, and a complaint)
APPRECIATES = re.compile(
    r"\b(?:thank|thanks|thanx|thx|ty|tysm|cheers|ta|appreciat\w*|grateful|compliments?|recommend\w*"
    r"|great|amazing|brilliant|brill|awesome|fantastic|excellent|wonderful|superb|outstanding|perfect\w*"
    r"|love|loved|lovely|luv|gorgeous|stunning|beautiful\w*|happy|happier|pleased|delighted|thrilled|chuffed"
    r"|impressed|legends?|stars?|best|kind|well done|good job|nice job|fine job|spot on|made up|over the moon"
    r"|mint|class|belting|cracking|savage|fair play|lekker|shiok|braw|rock|rocks|killed it|killer|sick|unreal)\b",
    re.IGNORECASE,
)


def _classify(text: str) -> tuple[IntentGuess, ...]:
    """The classifier's guesses, without praise for a line that holds no word of it (the rest in
    proportion, as if praise were never a label)."""
    guesses = tuple(intent_classifier().classify(text))
    if APPRECIATES.search(text):
        return guesses
    rest = sum(g.probability for g in guesses if g.label != PRAISE) or 1.0
    kept = tuple(IntentGuess(g.label, g.probability / rest) for g in guesses if g.label != PRAISE)
    return (*kept, IntentGuess(PRAISE, 0.0))


def without_salutation(text: str) -> str:
    """The line after an opening salutation, when a request of two words or more follows it."""
    rest = SALUTATION.sub("", text, count=1)
    return rest if rest != text and len(rest.split()) >= 2 else text


def _best_request(guesses: tuple[IntentGuess, ...]) -> tuple[str, float]:
    """The classifier's best reading that is neither a courtesy nor ``other``, and its probability."""
    best = next((g for g in guesses if g.label not in COURTESIES and g.label != OTHER), None)
    return (best.label, best.probability) if best else (OTHER, 0.0)


def understand(text: str, *, answering: bool = False) -> Meaning:
    """``answering``: the agent asked the caller something, and this line may be the answer.

    A hello, a bye or a yes in a longer line is a courtesy around the request, not what the
    caller wants ("hi, I'm just checking on order fifty five oh one" is no greeting, "before I
    can come and see you" no goodbye): on such a line those intents are not candidates; and an
    opening salutation that pulled the classifier towards a greeting is read past when the line
    means the same without it ("hi, where's my order?" asks where the order is, as surely as the
    line without it).
    """
    guesses = _classify(text)
    past_it = without_salutation(text)
    pulled = sum(g.probability for g in guesses if g.label in COURTESIES) >= SALUTATION_PULL
    if past_it != text and pulled:
        clearer = _classify(past_it)
        (label, before), (same, after) = _best_request(guesses), _best_request(clearer)
        if same == label and after > before:
            text, guesses = past_it, clearer
    long_line = len(text.split()) > SHORT_ANSWER_WORDS
    candidates = [g for g in guesses if not (long_line and g.label in COURTESIES)]
    probability = {g.label: g.probability for g in guesses}
    said = " ".join(word for word in text.split() if "@" not in word)  # an address's words are no request
    found = [r for r in detect_intents(said) if r.score >= RULE_MATCHED]
    rules = [r for r in found if not (long_line and r.intent.value in COURTESIES)]
    best = candidates[0]
    intent: Intent | None
    if answering:
        # a bare name sounds like "is Priya there?" to the classifier: asking for a person while
        # answering takes the rules' word for it too
        sure = best.probability >= CHANGES_SUBJECT and best.label not in ANSWERS and best.label not in NAMES_PEOPLE
        intent = Intent(best.label) if sure else (found[0].intent if found else None)
        return Meaning(
            intent, frozenset({r.intent for r in found} | ({intent} if intent else set())), best.probability, guesses
        )
    if rules and rules[0].score >= RULE_CERTAIN and probability.get(rules[0].intent.value, 0.0) >= PLAUSIBLE:
        intent = rules[0].intent
    elif best.probability >= CONFIDENT and best.label != OTHER:
        intent = Intent(best.label)
    elif rules:  # the classifier is unsure, or calls it "other" where a rule read a request
        intent = rules[0].intent
    else:
        intent = None if best.label == OTHER or best.probability < GUESS else Intent(best.label)
    plausible = {Intent(g.label) for g in candidates if g.probability >= ALSO and g.label != OTHER}
    plausible |= {r.intent for r in rules}
    if intent is not None:
        plausible.add(intent)
    return Meaning(intent, frozenset(plausible), best.probability, guesses)
