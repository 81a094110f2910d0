"""Grouping questions by meaning into topics, each with its count, a label and an example.

Questions arrive as unit sentence vectors (the agent's embedded model). A greedy leader pass
opens a topic for each question not close enough (cosine < ``SIMILAR``) to an existing one;
topics whose centres are that close are joined; one refinement pass then moves each
question to the topic whose centre is nearest and recomputes the centres. The example is
the question nearest its topic's centre; the label, the content words most of the topic's
questions share. 5,000 questions take a fraction of a
second (``bench/reports.py``).

Questions without a vector (the model could not be loaded) are grouped lexically: a hashed
bag of their content words stands in for the sentence vector, with the same passes.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

SIMILAR = 0.55  # cosine above which two questions are on one topic (all-MiniLM-L6-v2)
SIMILAR_WORDS = 0.5  # the same, for the lexical stand-in
LABEL_WORDS = 3
HASHED = 1024  # dimensions of the lexical stand-in
BLOCK = 256  # questions compared with the topics at once
_WORD = re.compile(r"[a-z][a-z']+")
_PLACEHOLDER = re.compile(r"\[[a-z]+\]")  # what ``scrub`` put in place of personal data
_STOP_TEXT = """a about above after again all also am an and any are aren't as at be because been before being
    below between both but by can can't could couldn't did didn't do does doesn't doing don't down
    during each few for from further get got had has have having he her here hers him his how i i'd
    i'll i'm i've if in into is isn't it it's its just know like me might more most much must my
    need no nor not now of off on once one only or other our ours out over own please same she
    should so some such tell than thank thanks that that's the their theirs them then there these
    they this those through to too under until up very want was wasn't we were what what's when
    where which while who why will with would wouldn't you you're your yours yes hi hello hey
    wondering wonder ask asking question anyone somebody someone there's do you guys"""
STOP_WORDS = frozenset(_STOP_TEXT.split())

Vectors = NDArray[np.float32]


@dataclass(frozen=True)
class Group:
    """One topic: its questions (indices into the input), the most central first."""

    label: str
    members: list[int]

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def example(self) -> int:
        return self.members[0]


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(_PLACEHOLDER.sub(" ", text.lower())) if w not in STOP_WORDS and len(w) > 2]


def lexical_vectors(texts: Sequence[str]) -> Vectors:
    """Unit bag-of-content-words vectors (hashed), for grouping without the model."""
    out = np.zeros((len(texts), HASHED), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in set(content_words(text)):
            out[row, zlib.crc32(word.encode()) % HASHED] = 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    result: Vectors = (out / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    return result


def group(texts: Sequence[str], vectors: Vectors, *, similar: float = SIMILAR) -> list[Group]:
    """Topics of the questions, largest first (ties: the topic asked first)."""
    n = len(texts)
    if n == 0:
        return []
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    assignment = _leaders(vectors, similar)
    centres = _centres(vectors, assignment)
    assignment = _merged(centres, similar)[assignment]  # two topics whose centres are close are one
    centres = _centres(vectors, assignment)
    assignment = _nearest(vectors, centres)
    centres = _centres(vectors, assignment)
    closeness = np.einsum("ij,ij->i", vectors, centres[assignment])
    groups = []
    for topic in np.unique(assignment):
        members = np.flatnonzero(assignment == topic)
        members = members[np.argsort(-closeness[members], kind="stable")]
        indices = [int(i) for i in members]
        groups.append(Group(_label([texts[i] for i in indices]), indices))
    groups.sort(key=lambda g: (-g.count, min(g.members)))
    return groups


def _leaders(vectors: Vectors, similar: float) -> NDArray[np.intp]:
    """Greedy leader clustering: each question joins the first-made topic it is close to.
    A block of questions is compared with the topics so far in one product; only those left
    over go one by one, against the topics their own block opened."""
    n, dims = vectors.shape
    leaders = np.empty((n, dims), dtype=np.float32)
    count = 0
    assignment = np.empty(n, dtype=np.intp)
    for start in range(0, n, BLOCK):
        block = vectors[start : start + BLOCK]
        left = np.arange(len(block))
        if count:
            sims = block @ leaders[:count].T
            best = np.argmax(sims, axis=1)
            close = sims[np.arange(len(block)), best] >= similar
            assignment[start + left[close]] = best[close]
            left = left[~close]
        opened = count
        for row in left:
            vector = block[row]
            if count > opened:
                sims = leaders[opened:count] @ vector
                best_new = int(np.argmax(sims))
                if sims[best_new] >= similar:
                    assignment[start + row] = opened + best_new
                    continue
            leaders[count] = vector
            assignment[start + row] = count
            count += 1
    return assignment


def _merged(centres: Vectors, similar: float) -> NDArray[np.intp]:
    """Each topic's new number once topics with close centres are joined (union-find)."""
    k = len(centres)
    parent = np.arange(k)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for start in range(0, k, BLOCK * 4):
        sims = centres[start : start + BLOCK * 4] @ centres.T
        for i, j in zip(*np.nonzero(sims >= similar), strict=True):
            a, b = root(int(i) + start), root(int(j))
            if a != b:
                parent[max(a, b)] = min(a, b)
    roots = np.array([root(i) for i in range(k)])
    _, numbered = np.unique(roots, return_inverse=True)
    result: NDArray[np.intp] = numbered.astype(np.intp)
    return result


def _nearest(vectors: Vectors, centres: Vectors) -> NDArray[np.intp]:
    """Each question's nearest centre, a block at a time (a bounded similarity matrix)."""
    out = np.empty(len(vectors), dtype=np.intp)
    for start in range(0, len(vectors), BLOCK * 4):
        out[start : start + BLOCK * 4] = np.argmax(vectors[start : start + BLOCK * 4] @ centres.T, axis=1)
    return out


def _centres(vectors: Vectors, assignment: NDArray[np.intp]) -> Vectors:
    """Unit mean vector per topic (topics that lost every question keep a zero row)."""
    k = int(assignment.max()) + 1
    sums = np.zeros((k, vectors.shape[1]), dtype=np.float32)
    np.add.at(sums, assignment, vectors)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    centres: Vectors = (sums / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    return centres


def _label(texts: Sequence[str]) -> str:
    """The content words most of the topic's questions use, most shared first."""
    shared: Counter[str] = Counter()
    for text in texts:
        shared.update(set(content_words(text)))
    if not shared:
        return "other questions"
    top = [word for word, _ in shared.most_common(LABEL_WORDS)]
    floor = max(1, shared[top[0]] // 3)  # words only a few of the questions use say little of the topic
    return ", ".join(w for w in top if shared[w] >= floor)
