"""One caller turn through the agent, in process, with a large shop catalogue.

    .venv/bin/python bench/agent_turn.py [--faq 500] [--products 2000] [--turns 300]

Loads the demo shop plus N extra FAQ entries and products, then times single agent
turns (the same question lines, and a full booking conversation), printing p50/p95; the
model forgets the lines it encoded before each turn, so every line is timed as a new one.
Baseline measured in the same run: the same turns against the demo shop's own small
catalogue, to show what catalogue size costs.

First it prints what the embedded language model adds to a process: the time to load it
(start-up), the resident memory it adds (RSS before and after, in the same process), and
the size on disk of the model and of the packages only it needs (numpy, tokenizers,
safetensors and tokenizers' huggingface_hub dependency).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sera.agent.service import Agent, ConversationRef  # noqa: E402
from sera.bootstrap import Sera, bootstrap  # noqa: E402
from sera.config import Settings, new_key_text  # noqa: E402
from sera.merchants.service import import_shop_text  # noqa: E402

DEMO = ROOT / "src" / "sera" / "merchants" / "demo-shop.yaml"
QUESTIONS = [
    "is there somewhere to park near the shop",
    "do you guys rent e bikes and how much is it",
    "what's your return policy if I buy a bike",
    "do you have the volt e-commuter in stock",
    "how much do you charge for a tune-up",
    "what time do you close on thursday",
]
BOOKING = ["hi um I need to get my bike tuned up", "next tuesday", "2 pm", "Jordan Miles", "no"]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def shop_text(faq: int, products: int) -> str:
    data = yaml.safe_load(DEMO.read_text())
    words = ["saddle", "chain", "tyre", "pedal", "brake", "lever", "cassette", "derailleur", "spoke", "rim", "hub"]
    for i in range(faq):
        topic = f"{words[i % len(words)]} {words[(i * 7) % len(words)]} {i}"
        data["faq"].append({"q": f"Do you stock {topic} parts?", "a": f"Yes, {topic} parts are usually in stock."})
    for i in range(products):
        name = f"{words[i % len(words)].title()} {words[(i * 3) % len(words)].title()} Model {i}"
        data["products"].append({"title": name, "sku": f"SKU-{i}", "price": 10 + i % 90, "in_stock": i % 5 != 0})
    return yaml.safe_dump(data, sort_keys=False)


def make_sera(workdir: Path, text: str, database_url: str | None = None) -> tuple[Sera, str]:
    """A Sera on SQLite files in ``workdir`` (or the scratch database ``database_url``), one shop."""
    settings = Settings(
        env="test",
        database_url=database_url or f"sqlite:///{workdir}/sera.db",
        keystore_url=f"sqlite:///{workdir}/keys.db",
        master_key=SecretStr(new_key_text()),
    )
    sera = bootstrap(settings, clock=Clock())
    sera.migrate()
    merchant_id = import_shop_text(sera, text, source="bench", actor="bench").merchant_id
    return sera, merchant_id


def time_turns(sera: Sera, merchant_id: str, rounds: int) -> list[float]:
    from sera.agent.understanding.embedding import embedder  # imported late: model_costs times the load

    agent = Agent(sera)
    samples: list[float] = []
    for i in range(rounds):
        ref = ConversationRef(merchant_id, "voice", uuid.uuid4().hex)
        agent.start(ref, caller_phone=f"+1312555{1000 + i % 8000:04d}")
        lines = BOOKING if i % 4 == 0 else [QUESTIONS[i % len(QUESTIONS)]]
        for line in lines:
            embedder().forget()  # each caller's line is new to the model: no encoding kept
            started = time.perf_counter()
            agent.reply(ref, line)
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def installed_mb(*distributions: str) -> float:
    from importlib.metadata import distribution

    total = 0
    for name in distributions:
        for file in distribution(name).files or []:
            path = Path(str(file.locate()))
            total += path.stat().st_size if path.is_file() else 0
    return total / 1e6


def model_costs() -> None:
    """What the embedded model adds: load time, memory, disk."""
    before = rss_mb()
    started = time.perf_counter()
    from sera.agent.understanding.embedding import MODEL_DIR, embedder
    from sera.agent.understanding.intents import intent_classifier

    intent_classifier().classify("warm up")
    loaded = time.perf_counter() - started
    model_disk = sum(f.stat().st_size for f in MODEL_DIR.iterdir()) / 1e6
    packages = installed_mb("numpy", "tokenizers", "safetensors", "huggingface_hub")
    print(
        f"[model] load {loaded * 1000:.0f} ms, RSS +{rss_mb() - before:.0f} MB, "
        f"on disk: model {model_disk:.1f} MB + packages {packages:.1f} MB"
    )
    assert embedder() is not None
    print("targets: start-up added < 1 s, memory added < 150 MB, install size added < 150 MB")


def pct(samples: list[float], p: float) -> float:
    return sorted(samples)[min(len(samples) - 1, round(p / 100 * (len(samples) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--faq", type=int, default=500)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    model_costs()
    results = {}
    for label, text in (
        ("demo catalogue (baseline)", DEMO.read_text()),
        (f"+{args.faq} FAQ, +{args.products} products", shop_text(args.faq, args.products)),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            sera, merchant_id = make_sera(Path(tmp), text)
            time_turns(sera, merchant_id, 10)  # warm-up: caches, index build
            samples = time_turns(sera, merchant_id, args.rounds)
            sera.close()
        results[label] = samples
        print(
            f"[{label}] {len(samples)} turns: p50 {statistics.median(samples):.2f} ms, "
            f"p95 {pct(samples, 95):.2f} ms, max {max(samples):.2f} ms"
        )
    base, big = results.values()
    print(f"large/baseline: p50 x{statistics.median(big) / statistics.median(base):.2f}")
    print("targets: p50 < 10 ms, p95 < 25 ms with 500 FAQ entries and 2,000 products")


if __name__ == "__main__":
    main()
