"""Lexical retrieval over a shop's knowledge: FAQ, policies, products, services.

Callers speak, so queries arrive as speech-to-text: no punctuation, split compounds
("e bike", "tune up"), filler words ("do you guys ...") and everyday words for the
shop's vocabulary ("how much" for price, "close" for hours). The index is a plain
in-memory BM25 (k1=1.2, b=0.75) over a normalised term stream, built once per shop
and searched per caller turn, so everything that can be computed at build time is:
each posting already holds its final BM25 contribution and a search only touches
the postings of the query's terms.

Fields are weighted by counting their terms more than once: title and aliases
twice, the kind ("policy", "service", "hours") and the text once, so "return policy"
reaches the returns policy and "when do you open" the opening hours.

Confidence (0..1, comparable across queries) lets the agent say "I don't know"
below a threshold (0.35 works for the demo shop)::

    coverage   = sum(w(t) for query terms t the document matches) / sum(w(t) for all query terms)
    w(t)       = idf(t); a word the shop's knowledge never uses weighs what a word found
                 in a single entry would (an unknown word such as "pizza" counts as much
                 as the most specific word the shop has: the question is about something else)
    margin     = (top score - second score) / top score   for the first hit (1 when it is
                 the only one), 0 for the others
    confidence = coverage * (1 - MARGIN_WEIGHT + MARGIN_WEIGHT * margin),  MARGIN_WEIGHT = 0.3

Coverage answers "did this entry address everything that was asked"; margin answers
"is it clearly the one", so the best of two equally good entries keeps 70% of its
coverage. A query with no content words (only stop words) has no hits at all.
Compound forms ("tuneup" from "tune up") add score but are not counted as query
terms, so a split word is not counted twice.

Hybrid (when built with an ``Encoder``, the agent's sentence-embedding model): callers ask in
their own words ("do you do instalments" for a FAQ about financing), so when the words alone
find no entry with at least LEXICAL_SURE confidence, each entry is also compared by meaning.
The query's cosine similarity to every entry becomes a z-score within the shop (only an entry
that stands out from the shop's others counts), and an entry's confidence is::

    confidence = lexical confidence + DENSE_WEIGHT * max(0, z - DENSE_Z_FLOOR) / 2

where the meaning term counts only for an entry at least DENSE_MIN_SIMILARITY similar (a bare
name or "mmmph grr" always has some entry that ranks first), and only WORDLESS_DENSE of it for
an entry none of the line's words reach (meaning alone must stand out further than meaning
with words). The constants were chosen on the development sets (answers found versus nonsense
and other shops' questions wrongly answered), never on the held-out ones.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

K1 = 1.2
B = 0.75
TITLE_WEIGHT = 2
ALIAS_WEIGHT = 2
KIND_WEIGHT = 1
TEXT_WEIGHT = 1
MARGIN_WEIGHT = 0.3
DENSE_WEIGHT = 1.0
DENSE_Z_FLOOR = 1.0
# Below this cosine a line and an entry are unrelated, however they rank: chosen with the fine-tuned
# model so that questions no entry answers are answered no more often than before it.
DENSE_MIN_SIMILARITY = 0.45
# An entry none of the caller's words reach gets this share of its meaning term: "say the new screen
# conks out, am I covered" is the warranty (which says "covered"), not the FAQ nearest in meaning alone.
WORDLESS_DENSE = 0.85
LANGUAGES = frozenset(
    {"spanish", "french", "mandarin", "cantonese", "punjabi", "hindi", "urdu", "arabic", "polish", "portuguese"}
    | {"korean", "japanese", "tagalog", "vietnamese", "russian"}
)
# what a question is about, when a caller names it: a shop whose knowledge never uses the word has no
# answer to it ("would the VHI pay for the tinnitus consultation" is not answered by its price)
TOPICS = frozenset(
    {"finance", "vaccination", "insurance", "deposit", "warranty", "referral", "parking", "shipping", "rent", "scary"}
    # what a thing is made of or free of, who a discount is for, the language spoken, access:
    # a shop that never writes the word has not said ("are the herbs organic?", "a military discount?")
    | {"organic", "vegan", "gluten", "halal", "kosher", "allergy", "latex", "fragrance", "wheelchair"}
    | {"student", "senior", "military"}
    | LANGUAGES
)
UNKNOWN_TOPIC = 0.25
LEXICAL_SURE = 0.5  # the words alone decide above this: meaning only helps where they fall short
MIN_TYPO = 6  # letters of the least word read as a typo of one of the shop's

# Words that say nothing about which entry answers a call, grouped by why.
_STOP_WORD_GROUPS = (
    # function words
    "a an the and or but if of to in on at by for with about from into as than then so",
    "is are was were be been being am do does did doing done have has had having",
    "i me my mine myself we us our ours you your yours he him his she her it its",
    "they them their this that these those there here",
    "yall yalls youse yous ye yinz",  # "you" in the South, Ireland, Philadelphia and Pittsburgh
    "what which who whom whose when where why how much many any some all each every",
    "can could would should will shall may might must not no yes also just too very",
    "up out off over again one",
    # contractions once apostrophes are dropped
    "whats dont doesnt didnt isnt arent wasnt cant wont im ive youre thats theres wheres",
    # speech fillers and politeness
    "get got need want like know tell let please thanks thank come comes came coming go goes going went",
    "hi hello hey um uh oh okay ok yeah guys guy somewhere anywhere near nearby around",
    "meant supposed reckon reckons",  # "where's he meant to leave the car", "do you reckon"
    "hiya howdy gday gidday kia ora morena",  # greetings of other places (New Zealand's "kia ora")
    "lah leh lor wah ah meh hor sia",  # Singapore's and Malaysia's sentence particles
    # verbs every shop question uses ("do you sell", "can I buy")
    "sell buy carry offer",
)
STOP_WORDS = frozenset(word for group in _STOP_WORD_GROUPS for word in group.split())

# Everyday words callers use for the shop's vocabulary, by canonical term. Keys are
# stemmed at import, so every inflection ("charges", "closing", "refunded") maps too.
SYNONYM_GROUPS: dict[str, tuple[str, ...]] = {
    "price": ("price", "cost", "charge", "fee", "dollar", "buck"),
    "hours": ("hours", "open", "close", "closing"),
    "return": ("return", "refund", "exchange"),
    "shipping": ("shipping", "ship", "deliver", "delivery", "dispatch", "courier", "postage", "postal"),
    "parking": ("parking", "park"),
    "rent": ("rent", "rental", "hire"),
    "repair": ("repair", "fix", "mend"),
    "address": ("address", "location", "locate"),
    # everyday words for what shops of every trade write in their FAQ and policies
    "finance": ("finance", "financing", "instalment", "installment", "afterpay", "klarna", "laybuy", "layby", "payday"),
    "vaccination": ("vaccination", "vaccinate", "vaccine", "jab", "shot", "booster"),
    "custom": ("custom", "bespoke", "madetomeasure", "madetoorder"),
    "insurance": (
        "insurance",
        "insurer",
        "rebate",
        "extras",
        "bupa",
        "medibank",
        "hcf",
        "nib",
        "aetna",
        "cigna",
        "humana",
        "kaiser",
        "bluecross",
        "unitedhealthcare",
        "aviva",
        "simplyhealth",
        "vitality",
        "vhi",
        "laya",
        "medicare",
        "medicaid",
    ),
    "deposit": ("deposit", "downpayment", "retainer", "upfront", "prepay", "prepayment"),
    "walkin": ("walkin", "dropin"),
    "pickup": ("pickup", "collect", "collection"),
    "wear": (
        "wear",
        "clothes",
        "clothing",
        "outfit",
        "attire",
        "shorts",
        "trousers",
        "pants",
        "leggings",
        "shoes",
        "trainers",
        "sneakers",
        "socks",
        "barefoot",
        "footwear",
    ),
    "warranty": ("warranty", "guarantee"),
    "cancel": ("cancel", "cancelled", "canceled", "cancellation", "cancelation"),
    "scary": ("scary", "scare", "freaky", "spooky", "creepy", "frightening", "terrifying"),
    "tangle": ("tangle", "tangled", "knot", "knotted", "knotty", "clump", "clumpy"),  # hair and coats
    "referral": ("referral", "refer"),
    "payment": ("payment", "pay", "amex", "visa", "mastercard", "cheque", "zelle", "venmo", "paypal"),
    "organic": ("organic", "pesticide", "pesticides"),
    "vegan": ("vegan", "vegetarian", "plantbased"),
    "gluten": ("gluten", "coeliac", "celiac"),
    "halal": ("halal",),
    "kosher": ("kosher",),
    "allergy": ("allergy", "allergic", "allergen", "allergies"),
    "latex": ("latex",),
    "fragrance": ("fragrance", "scented", "unscented", "perfumed"),
    "wheelchair": ("wheelchair", "accessible", "accessibility", "stepfree", "ramp", "disabled", "disability"),
    "student": ("student", "students"),
    "senior": ("senior", "seniors", "pensioner", "pensioners", "oap"),
    "military": ("military", "veteran", "veterans", "forces", "army"),
}

# Multi-word expressions rewritten before stop words are dropped ("" drops them):
# "how much" is a price question, while "close to the shop" is about distance.
PHRASES: dict[tuple[str, str], str] = {
    ("how", "much"): "price",
    ("whats", "damage"): "price",  # "what's the damage": the bill
    ("whits", "damage"): "price",  # Scots
    ("close", "to"): "",
    ("close", "by"): "",
    ("you", "lot"): "",  # British "you guys", not a car park
    ("send", "back"): "return",
    ("take", "back"): "return",
    ("money", "back"): "return",
    ("payment", "plan"): "finance",
    ("pay", "monthly"): "finance",
    ("pay", "weekly"): "finance",
    ("pay", "fortnightly"): "finance",
    ("pay", "off"): "finance",  # "pay it off bit by bit"
    ("hold", "charge"): "",  # a battery's, not a fee
    ("pay", "postage"): "shipping",  # "would I have to pay postage on it": what shipping costs
    ("pay", "shipping"): "shipping",
    ("pay", "delivery"): "shipping",
    ("spread", "cost"): "finance",
    ("spread", "payment"): "finance",
    ("split", "cost"): "finance",
    ("split", "payment"): "finance",
    ("health", "fund"): "insurance",
    ("car", "park"): "parking",
    ("leave", "car"): "parking",
    ("put", "car"): "parking",
    ("leave", "motor"): "parking",  # Scotland and Ireland: the car
    ("park", "motor"): "parking",
    ("take", "card"): "payment",
    ("take", "cards"): "payment",
    ("pay", "card"): "payment",
    ("pay", "by"): "payment",
    ("put", "down"): "deposit",
    ("up", "front"): "deposit",
    ("walk", "in"): "walkin",
    ("drop", "in"): "walkin",
    ("roll", "up"): "walkin",
    ("show", "up"): "walkin",
    ("turn", "up"): "walkin",
    ("without", "booking"): "walkin",
    ("without", "appointment"): "walkin",
    ("without", "reservation"): "walkin",
    ("change", "into"): "wear",
    ("pick", "up"): "pickup",  # "pick students up", "pick it up", "come get me"
    ("come", "get"): "pickup",
    ("take", "place"): "",  # "where do the tests take place": no place of the caller's
    ("my", "place"): "",  # the caller's home, whatever the shop calls it
    ("stand", "behind"): "warranty",
}

_CLAUSE_ENDS = r"(?=\s*(?:[,.?!]|$|\b(?:and|or|but|do|does|will|would|can|could|is|are|am|what|how)\b))"
# Phrasal verbs said for a plain verb, rewritten in the caller's words before both the lexical and
# the dense search ("if I called it off right now" is read as "if I cancel right now")
PLAIN_VERBS = (
    (re.compile(r"\b(?:call|calls|called|calling) (?:it |that |this |them |the \w+ )?off\b", re.I), "cancel"),
    (re.compile(r"\b(?:pull|pulls|pulled|pulling) out of\b", re.I), "cancel"),  # not "pull out a dent"
    (re.compile(r"\b(?:back|backs|backed|backing) out\b", re.I), "cancel"),
    (re.compile(r"\bknock(?:s|ed|ing)? (?:it|that|this) on the head\b", re.I), "cancel"),  # British
    (re.compile(r"\bbail(?:s|ed|ing)? (?:out )?(?:on|of)\b", re.I), "cancel"),  # "if I bail on my 6 a.m. session"
    # said of the caller with nothing after it: "if I bail, do you guys charge me?", "if we have to pull out"
    (re.compile(rf"\b(?:bail|bailed|pull out|pulled out|back out|backed out){_CLAUSE_ENDS}", re.I), "cancel"),
    (
        re.compile(r"\b(?:sting|stung|ding|dinged) (me|us) for\b", re.I),
        r"charge \1 for",
    ),  # "what would you sting me for"
)


def plain_verbs(text: str) -> str:
    """``text`` with its phrasal verbs said plainly (PLAIN_VERBS)."""
    for phrasal, verb in PLAIN_VERBS:
        text = phrasal.sub(verb, text)
    return text


# a phrase's two words may have one of these between them ("send it back", "leave my car")
_PRONOUNS = frozenset(
    {"a", "an", "it", "them", "this", "that", "these", "those", "him", "her", "my", "the", "your", "our"}
)
_PARTICLES = frozenset({"up", "back", "off", "in", "out", "down"})
_APOSTROPHES = re.compile(r"['\u2019]")
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_TRAILING_ZERO_CENTS = re.compile(r"(\d)\.0+\b")
_THOUSANDS = re.compile(r"(\d),(\d{3})\b")
_NEVER_UNDOUBLED = "lszaeiou"
_ENGLISH_ONE_LETTER_WORDS = frozenset("ai")


class Encoder(Protocol):
    """Sentences to unit vectors (``sera.agent.understanding.embedding.Embedder``)."""

    def encode(self, sentences: Sequence[str]) -> NDArray[np.float32]: ...

    def encode_one(self, sentence: str) -> NDArray[np.float32]: ...

    def known_share(self, sentence: str) -> float: ...


@dataclass(frozen=True)
class Document:
    """One piece of shop knowledge the agent may quote."""

    id: str
    kind: str  # "faq" | "policy" | "product" | "service" | "hours" | "address" ...
    title: str  # FAQ question, policy topic, product title, service name
    text: str  # the answer / policy text / description
    aliases: tuple[str, ...] = ()  # extra names callers use (service aliases)


@dataclass(frozen=True)
class Hit:
    """A ranked document with its raw BM25 score and calibrated confidence."""

    document: Document
    score: float
    confidence: float


def _stem(word: str) -> str:
    """Strip plural and -ing/-ed endings and a final e, so inflections share one term.

    Deliberately lighter than Porter: the shop vocabulary is small, and every rule
    here is applied identically to documents and queries, so consistency matters more
    than producing real words ("bike" and "bikes" both become "bik").
    """
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "xes", "zes", "ches", "shes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ing") and len(word) >= 6:
        word = _undouble(word[:-3])
    elif word.endswith("ed") and not word.endswith("eed") and len(word) >= 5:
        word = _undouble(word[:-2])
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def _undouble(stem: str) -> str:
    """'shipp' -> 'ship', 'fitt' -> 'fit' (but keep 'roll', 'dress')."""
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in _NEVER_UNDOUBLED:
        return stem[:-1]
    return stem


_SYNONYMS: dict[str, str] = {_stem(word): canonical for canonical, words in SYNONYM_GROUPS.items() for word in words}


def _words(text: str) -> tuple[list[str], list[str]]:
    """Split text into lowercase words plus the compounds spelled around them.

    "e-bike" gives the words "e", "bike" and the compound "ebike"; a lone letter is
    glued to the next word ("e bike" -> "ebike", "u lock" -> "ulock") because that is
    how speech-to-text renders hyphenated product words. Apostrophes are dropped, so
    "what's" is the single stop word "whats" and "shop's" stems like "shops".
    """
    text = _APOSTROPHES.sub("", text.lower())
    text = _THOUSANDS.sub(r"\1\2", _TRAILING_ZERO_CENTS.sub(r"\1", text))
    words: list[str] = []
    compounds: list[str] = []
    stray_letter = ""
    for match in _WORD.finditer(text):
        parts = match.group().split("-")
        if stray_letter:
            compounds.append(stray_letter + parts[0])
        if len(parts) > 1:
            compounds.append("".join(parts))
        words.extend(parts)
        stray_letter = parts[0] if len(parts) == 1 and _is_stray_letter(parts[0]) else ""
    return words, compounds


def says_only(text: str, terms: frozenset[str]) -> bool:
    """Every word of ``text`` the search would use is one of ``terms`` ("how much is it" says only
    "price"): a question that leans on what was said before it for its subject."""
    words, compounds = _words(text)  # "a one-to-one" names something, though each of its words is vague
    return set(_terms(_rewrite_phrases(words))) | set(_terms(compounds)) <= terms


def _is_stray_letter(word: str) -> bool:
    """A single letter that is not an English word ("e", "u", but not "a" or "i")."""
    return len(word) == 1 and word.isalpha() and word not in _ENGLISH_ONE_LETTER_WORDS


def _rewrite_phrases(words: list[str]) -> list[str]:
    """Apply PHRASES left to right, also around a pronoun ("send it back", "take them back")."""
    out: list[str] = []
    i = 0
    while i < len(words):
        width, replacement = 2, PHRASES.get((words[i], words[i + 1])) if i + 1 < len(words) else None
        kept: list[str] = []
        if replacement is None and i + 2 < len(words) and words[i + 1] in _PRONOUNS:
            width, replacement = 3, PHRASES.get((words[i], words[i + 2]))
            if replacement is None and i + 3 < len(words) and words[i + 3] in _PARTICLES:
                # "pick my jacket up", "send the dress back": the thing named stays
                width, replacement, kept = 4, PHRASES.get((words[i], words[i + 3])), [words[i + 2]]
        if replacement is None:
            out.append(words[i])
            i += 1
            continue
        if replacement:
            out.append(replacement)
        out.extend(kept)
        i += width
    return out


# the names of letters, as speech-to-text writes a spelled-out initialism ("the bee jay jay class": BJJ)
LETTER_NAMES = {
    "ay": "a", "bee": "b", "see": "c", "sea": "c", "cee": "c", "dee": "d", "ee": "e", "eff": "f", "gee": "g",
    "aitch": "h", "haitch": "h", "eye": "i", "jay": "j", "kay": "k", "el": "l", "ell": "l", "em": "m", "en": "n",
    "oh": "o", "pee": "p", "pea": "p", "cue": "q", "queue": "q", "ar": "r", "ess": "s", "tee": "t", "tea": "t",
    "vee": "v", "ex": "x", "why": "y", "zed": "z", "zee": "z",
}  # fmt: skip


def _spelled_out(words: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, letters) of each run of two or more letters said by name or written alone."""
    runs: list[tuple[int, int, str]] = []
    start = None
    letters = [LETTER_NAMES.get(word, word if len(word) == 1 and word.isalpha() else "") for word in words] + [""]
    for i, letter in enumerate(letters):
        if letter and start is None:
            start = i
        elif not letter and start is not None:
            if i - start >= 2:
                runs.append((start, i, "".join(letters[start:i])))
            start = None
    return runs


# small numbers as digits; "one" stays a stop word ("the later one", "this one")
_NUMBER_WORDS = {"two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8"}
_NUMBER_WORDS |= {"nine": "9", "ten": "10"}


def _term(word: str) -> str | None:
    """Normalise one word to its index term, or None for a stop word or stray letter. Small
    numbers are digits whichever way they were written ("three seater", "3-seat")."""
    if word in _NUMBER_WORDS:
        return _NUMBER_WORDS[word]
    if word in STOP_WORDS or (len(word) == 1 and word.isalpha()):
        return None
    stem = _stem(word)
    return _SYNONYMS.get(stem, stem)


def _terms(words: Iterable[str]) -> list[str]:
    return [term for word in words if (term := _term(word))]


def _field_terms(text: str) -> list[str]:
    """Index terms of a document field: its words plus its compounds."""
    words, compounds = _words(text)
    return _terms(_rewrite_phrases(words)) + _terms(compounds)


class KnowledgeIndex:
    """Immutable BM25 index; build once per shop (and again when its data changes).

    Construct it with `KnowledgeIndex.build`; the constructor takes the precomputed
    tables and exists for `build` alone.
    """

    def __init__(
        self,
        documents: Sequence[Document],
        postings: dict[str, dict[int, float]],
        idf: dict[str, float],
        unseen_idf: float,
        encoder: Encoder | None = None,
        vectors: NDArray[np.float32] | None = None,
        spellings: dict[str, set[str]] | None = None,
    ) -> None:
        self._documents = documents
        self._spellings = spellings or {}
        self._postings = postings
        self._idf = idf
        self._unseen_idf = unseen_idf
        self._encoder = encoder
        self._vectors = vectors

    @classmethod
    def build(cls, documents: Iterable[Document], encoder: Encoder | None = None) -> KnowledgeIndex:
        """Precompute every posting's BM25 contribution so a search is only additions."""
        docs = tuple(documents)
        _reject_duplicate_ids(docs)
        bags = [_weighted_terms(doc) for doc in docs]
        lengths = [sum(bag.values()) for bag in bags]
        average_length = (sum(lengths) / len(lengths)) if lengths else 1.0
        document_frequency = Counter(term for bag in bags for term in bag)
        idf = {term: _idf(len(docs), df) for term, df in document_frequency.items()}
        postings: dict[str, dict[int, float]] = {}
        for index, (bag, length) in enumerate(zip(bags, lengths, strict=True)):
            norm = K1 * (1 - B + B * length / average_length)
            for term, tf in bag.items():
                weight = idf[term] * tf * (K1 + 1) / (tf + norm)
                postings.setdefault(term, {})[index] = weight
        vectors = encoder.encode([_meaning_text(doc) for doc in docs]) if encoder and len(docs) > 1 else None
        encoder = encoder if vectors is not None else None
        spellings = _spellings(docs) if encoder is not None else None
        return cls(docs, postings, idf, _idf(max(len(docs), 1), 1), encoder, vectors, spellings)

    def __len__(self) -> int:
        return len(self._documents)

    def search(self, query: str, limit: int = 3) -> list[Hit]:
        """Best documents for a caller's words, best first; [] when nothing matches. A question about
        a topic the shop's knowledge never mentions (insurance, parking, a warranty) is answered by
        none of its entries, however close the rest of its words come: every confidence is scaled
        by UNKNOWN_TOPIC."""
        query = plain_verbs(query)
        query_terms, scoring_terms = self._query_terms(query)
        hits = self._search(query, query_terms, scoring_terms, limit)
        if any(term in TOPICS and term not in self._postings for term in query_terms):
            hits = [Hit(hit.document, hit.score, hit.confidence * UNKNOWN_TOPIC) for hit in hits]
        return hits

    def _search(self, query: str, query_terms: list[str], scoring_terms: list[str], limit: int) -> list[Hit]:
        if not query_terms or limit <= 0:
            return []
        scores = self._scores(scoring_terms)
        coverage = self._coverages(query_terms)
        ranked = self._ranked(scores, coverage, limit)
        if self._encoder is None or self._vectors is None or (ranked and ranked[0][2] >= LEXICAL_SURE):
            return [Hit(self._documents[i], score, confidence) for i, score, confidence in ranked]
        confidence = coverage * (1 - MARGIN_WEIGHT)  # every entry's, 0 where no word reaches it
        for index, _, first in ranked[:1]:
            confidence[index] = first  # the first keeps its margin
        similarity = self._vectors @ self._encoder.encode_one(query)
        spread = float(similarity.std()) or 1.0
        z = (similarity - similarity.mean()) / spread
        dense = DENSE_WEIGHT * np.maximum(0.0, z - DENSE_Z_FLOOR) / 2
        dense = np.where(coverage > 0, dense, WORDLESS_DENSE * dense)
        combined = confidence + np.where(similarity >= DENSE_MIN_SIMILARITY, dense, 0.0)
        # best first; of equal ones the later entry, as a sort of (value, index) pairs would
        best = np.lexsort((-np.arange(len(combined)), -combined))[:limit]
        return [
            Hit(self._documents[i], scores.get(int(i), 0.0), min(1.0, float(combined[i])))
            for i in best
            if combined[i] > 0
        ]

    def _coverages(self, terms: list[str]) -> NDArray[np.float64]:
        """Share of the query's idf weight each entry matches (module doc)."""
        weights = {term: self._idf.get(term, self._unseen_idf) for term in terms}
        coverage = np.zeros(len(self._documents))
        for term, weight in weights.items():
            reached = self._postings.get(term)
            if reached:
                coverage[np.fromiter(reached, dtype=np.intp, count=len(reached))] += weight
        result: NDArray[np.float64] = coverage / sum(weights.values())
        return result

    def _ranked(
        self, scores: dict[int, float], coverage: NDArray[np.float64], limit: int
    ) -> list[tuple[int, float, float]]:
        """(entry, BM25 score, lexical confidence) of the best ``limit`` entries by score."""
        # key=scores.__getitem__ keeps the comparison in C; equal scores keep the
        # order documents were first reached, which is deterministic for a query.
        ranked = [(index, scores[index]) for index in heapq.nlargest(max(limit, 2), scores, key=scores.__getitem__)]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        out: list[tuple[int, float, float]] = []
        for rank, (index, score) in enumerate(ranked[:limit]):
            margin = (score - runner_up) / score if rank == 0 else 0.0
            confidence = float(coverage[index]) * (1 - MARGIN_WEIGHT + MARGIN_WEIGHT * margin)
            out.append((index, score, confidence))
        return out

    def _scores(self, terms: list[str]) -> dict[int, float]:
        """Sum the precomputed contributions of each term's postings.

        This loop is the whole cost of a search (a term every product mentions, such
        as "stock", has thousands of postings), hence the bound method in a local.
        """
        scores: dict[int, float] = {}
        current = scores.get
        for term in terms:
            for index, weight in self._postings.get(term, {}).items():
                scores[index] = current(index, 0.0) + weight
        return scores

    def _query_terms(self, query: str) -> tuple[list[str], list[str]]:
        """(terms the caller said, terms to score with).

        Scoring adds compounds that exist in the index: speech splits "tune-up" into
        "tune up", so every adjacent word pair is tried as a compound too.
        """
        words, compounds = _words(query)
        words = [self._respelled(word) for word in words]
        said = list(dict.fromkeys(_terms(_rewrite_phrases(words))))
        candidates = _terms(compounds + [a + b for a, b in pairwise(words)])
        extra = [term for term in dict.fromkeys(candidates) if term in self._postings]
        # an initialism the shop's entries use, spelled out ("the bee jay jay unlimited one"): said whole
        for start, end, letters in _spelled_out(words):
            whole = _term(letters)
            if whole and whole in self._postings:
                parts = _terms(words[start:end])
                said = [term for term in said if term not in parts] + ([whole] if whole not in said else [])
        # a word the shop's entries know, heard as two of which one they do not ("the place meant
        # test" is the placement test): the word is said, not its halves
        for a, b in pairwise(words):
            whole = _term(a + b)
            if whole in self._postings and not all(_term(half) in self._postings for half in (a, b)):
                halves = _terms((a, b))
                said = [term for term in said if term not in halves] + ([whole] if whole not in said else [])
        return said, said + [term for term in extra if term not in said]

    def _respelled(self, word: str) -> str:
        """A word typed a letter wrong ("w/o a reservaton"), as the one word of the shop's entries it
        may be: a word of at least MIN_TYPO letters that is in none of them, no word the model knows
        whole (a "brushes" at a shop of blushes is meant), one letter from one word of theirs."""
        if len(word) < MIN_TYPO or word in STOP_WORDS or word in self._spellings.get(word, ()) or self._encoder is None:
            return word
        if self._encoder.known_share(word) == 1.0:
            return word
        near = set(self._spellings.get(word, ()))
        for dropped in _deletions(word):
            near |= self._spellings.get(dropped, set())
        near = {known for known in near if known[0] == word[0]}
        return near.pop() if len(near) == 1 else word


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _spellings(docs: Sequence[Document]) -> dict[str, set[str]]:
    """Each word of the entries (of MIN_TYPO letters or more), and each way of it missing a letter,
    to the words it may be: a typed word one letter away from one of them meets it here."""
    spellings: dict[str, set[str]] = {}
    words = {word for doc in docs for field in (doc.title, doc.text, *doc.aliases) for word in _words(field)[0]}
    for word in words:
        if len(word) >= MIN_TYPO:
            for spelling in (word, *_deletions(word)):
                spellings.setdefault(spelling, set()).add(word)
    return spellings


def _idf(document_count: int, document_frequency: int) -> float:
    """BM25 idf in its always-positive (Lucene) form."""
    return math.log(1 + (document_count - document_frequency + 0.5) / (document_frequency + 0.5))


def _meaning_text(doc: Document) -> str:
    """What an entry is about, for the embedding: its title, other names and text."""
    return " ".join([doc.title, *doc.aliases, doc.text])


def _weighted_terms(doc: Document) -> Counter[str]:
    """Term counts with field boosts: title and aliases count more than body text."""
    bag: Counter[str] = Counter()
    fields = [(doc.title, TITLE_WEIGHT), (doc.kind, KIND_WEIGHT), (doc.text, TEXT_WEIGHT)]
    fields += [(alias, ALIAS_WEIGHT) for alias in doc.aliases]
    for text, weight in fields:
        for term in _field_terms(text):
            bag[term] += weight
    return bag


def _reject_duplicate_ids(docs: Sequence[Document]) -> None:
    """Two entries with one id would make a hit ambiguous to whoever cites it."""
    seen: set[str] = set()
    for doc in docs:
        if doc.id in seen:
            raise ValueError(f"duplicate knowledge document id: {doc.id!r}")
        seen.add(doc.id)
