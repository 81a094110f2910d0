"""Intent accuracy on the project's own utterance sets, and what one classification costs.

    .venv/bin/python bench/intents.py [--set dev|dev4|heldout|heldout2|all] [--misses]

Each line of evals/<set>/intents*.yaml (written blind to the code; the held-out sets are never
tuned on) is understood three ways, printed side by side from the same run:
- rules: the phrase rules alone (sera.agent.language.intents, the brain before the model);
- model: the embedding classifier alone;
- agent: what the brain uses (sera.agent.understanding.meaning: the classifier, with the rules
  where they are certain).
A line labelled "human" counts as right when understood as "message" (both reach a person); in a
set labelled without "hours", a question about the hours is a "question".
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sera.agent.language import detect_intents  # noqa: E402
from sera.agent.understanding.embedding import embedder  # noqa: E402
from sera.agent.understanding.intents import intent_classifier  # noqa: E402
from sera.agent.understanding.meaning import understand  # noqa: E402

# every set with intent lines; the held-out ones (heldout, heldout2) are frozen: measured, never tuned on
SETS = sorted({path.parent.name for path in (ROOT / "evals").glob("*/intents*.yaml")})
SAME = {("human", "message"), ("other", "none")}  # "other" is what the agent leaves alone


def _right(label: str, got: str, labels: set[str]) -> bool:
    """A set labelled without "hours" (its hours questions are "question") counts hours as a question."""
    folded = label == "question" and got == "hours" and "hours" not in labels
    return got == label or (label, got) in SAME or folded


def measure(name: str, show_misses: bool) -> None:
    data: dict[str, list[str]] = {}
    for path in sorted((ROOT / "evals" / name).glob("intents*.yaml")):
        for label, lines in yaml.safe_load(path.read_text()).items():
            data.setdefault(label, []).extend(lines)
    right: dict[str, Counter[str]] = defaultdict(Counter)
    per_label: dict[str, Counter[bool]] = defaultdict(Counter)
    classifier = intent_classifier()
    for label, lines in data.items():
        for line in lines:
            rules = detect_intents(line)
            got = {
                "rules": rules[0].intent.value if rules and rules[0].score >= 0.5 else "none",
                "model": classifier.classify(line)[0].label,
            }
            meaning = understand(line)
            got["agent"] = meaning.intent.value if meaning.intent else "none"
            for way, value in got.items():
                right[way][str(_right(label, value, set(data)))] += 1
            per_label[label][_right(label, got["agent"], set(data))] += 1
            if show_misses and not _right(label, got["agent"], set(data)):
                print(f"  miss {label:>18} -> {got['agent']:<18} {line}")
    total = sum(right["agent"].values())
    print(f"== {name}: {total} lines")
    for way in ("rules", "model", "agent"):
        print(f"  {way:<6} {right[way]['True']:>4}/{total}  {right[way]['True'] / total:6.1%}")
    print("  agent per intent: " + ", ".join(f"{k} {v[True]}/{sum(v.values())}" for k, v in per_label.items()))


def timing() -> None:
    lines = ["can I book a haircut for friday afternoon", "where is my order", "please wipe my data"] * 200
    understand(lines[0])
    samples = []
    for line in lines:
        embedder().forget()  # a caller's line is new to the model: time the encoding too
        started = time.perf_counter()
        understand(line)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[int(len(samples) * 0.95)]
    print(f"== one understanding: p50 {statistics.median(samples):.3f} ms, p95 {p95:.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", choices=[*SETS, "all"], default="all")
    parser.add_argument("--misses", action="store_true", help="list the lines the agent misunderstood")
    args = parser.parse_args()
    for name in SETS if args.set == "all" else (args.set,):
        measure(name, args.misses)
    timing()


if __name__ == "__main__":
    main()
