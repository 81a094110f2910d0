"""Which intent a caller's line carries: a classifier over sentence embeddings.

A multinomial logistic regression over the embedded model's vectors, trained on the
utterance bank in ``utterances/`` (one file per intent, broad on purpose: registers, SMS
shorthand, British, Australian and American words, speech-recognition errors, questions
versus requests, and an ``other`` class for lines the agent must not act on). Its weights,
``intents.npz``, are derived: ``python -m sera.agent.understanding.intents`` retrains them
(deterministic, numpy only, a few seconds) and a test fails when they are older than the bank.

The scores are probabilities over the bank's labels; the brain reads the best one and
treats a low best probability as "not understood".
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from sera.agent.language.normalize import expand_shorthand
from sera.agent.understanding.embedding import Embedder, Vectors, embedder
from sera.knowledge.retrieval import plain_verbs

BANK = Path(__file__).parent / "utterances"
WEIGHTS = Path(__file__).parent / "intents.npz"
SCALE = 10.0  # unit vectors scaled up so a linear model reaches confident probabilities
EPOCHS = 800
LEARNING_RATE = 1.0
L2 = 1e-4
KNOWN_WORDS = 0.5  # below this share of known words a line is "other"
OTHER = "other"


@dataclass(frozen=True, slots=True)
class IntentGuess:
    label: str
    probability: float


def canonical(text: str) -> str:
    """The form both training and classification embed: normalised, SMS shorthand expanded,
    phrasal verbs said plainly ("I gotta call off my wash": "I gotta cancel my wash")."""
    return plain_verbs(expand_shorthand(text))


def load_bank(path: Path = BANK) -> dict[str, list[str]]:
    """label -> example lines, in file-name order."""
    return {file.stem: list(yaml.safe_load(file.read_text())["examples"]) for file in sorted(path.glob("*.yaml"))}


def bank_fingerprint(bank: dict[str, list[str]]) -> str:
    return hashlib.sha256(json.dumps(bank, sort_keys=True).encode()).hexdigest()


class IntentClassifier:
    def __init__(self, encoder: Embedder, labels: list[str], weights: Vectors, bias: Vectors) -> None:
        self._encoder = encoder
        self.labels = labels
        self._weights = weights
        self._bias = bias

    @classmethod
    def load(cls, encoder: Embedder, path: Path = WEIGHTS) -> IntentClassifier:
        with np.load(path) as data:
            return cls(encoder, [str(x) for x in data["labels"]], data["weights"], data["bias"])

    def classify(self, text: str) -> list[IntentGuess]:
        """Every label with its probability, most likely first. A line most of whose words the
        model has never seen whole is ``other``: nothing it could mean is worth acting on."""
        line = canonical(text)
        if self._encoder.known_share(line) < KNOWN_WORDS:
            return [IntentGuess(OTHER, 1.0)] + [IntentGuess(label, 0.0) for label in self.labels if label != OTHER]
        return self.classify_vector(self._encoder.encode_one(line))

    def classify_vector(self, vector: Vectors) -> list[IntentGuess]:
        logits = (vector * SCALE) @ self._weights + self._bias
        logits -= logits.max()
        odds = np.exp(logits)
        probabilities = odds / odds.sum()
        order = np.argsort(-probabilities)
        return [IntentGuess(self.labels[i], float(probabilities[i])) for i in order]


def train(encoder: Embedder, bank: dict[str, list[str]]) -> tuple[list[str], Vectors, Vectors]:
    """Full-batch gradient descent on the softmax loss with a small L2 penalty (deterministic)."""
    labels = sorted(bank)
    lines = [line for label in labels for line in bank[label]]
    targets = np.array([labels.index(label) for label in labels for _ in bank[label]])
    features = encoder.encode([canonical(line) for line in lines]) * SCALE
    onehot = np.eye(len(labels), dtype=np.float32)[targets]
    weights = np.zeros((features.shape[1], len(labels)), dtype=np.float32)
    bias = np.zeros(len(labels), dtype=np.float32)
    for _ in range(EPOCHS):
        logits = features @ weights + bias
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        gradient = (probabilities - onehot) / len(lines)
        weights -= LEARNING_RATE * (features.T @ gradient + L2 * weights)
        bias -= LEARNING_RATE * gradient.sum(axis=0)
    return labels, weights, bias


@functools.cache
def intent_classifier() -> IntentClassifier:
    """The packaged classifier, loaded once per process."""
    return IntentClassifier.load(embedder())


def main() -> None:
    bank = load_bank()
    labels, weights, bias = train(embedder(), bank)
    np.savez(
        WEIGHTS,
        labels=np.array(labels),
        weights=weights,
        bias=bias,
        bank=np.array(bank_fingerprint(bank)),
    )
    print(f"trained on {sum(map(len, bank.values()))} lines, {len(labels)} intents -> {WEIGHTS.name}")


if __name__ == "__main__":
    main()
