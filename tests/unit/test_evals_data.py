"""The project's own evaluation shops and callers stay readable by the contracts they follow:
a shop file that no longer loads, or a scenario that no longer parses, would silently drop
out of the numbers the README reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from sera.merchants.shop_file import load_shop_file
from sera.scenarios.model import load_scenarios

EVALS = Path(__file__).resolve().parents[2] / "evals"


@pytest.mark.parametrize("path", sorted((EVALS / "shops").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_evaluation_shop_loads(path: Path) -> None:
    assert load_shop_file(path).shop.domain


@pytest.mark.parametrize("name", sorted(path.parent.name for path in EVALS.glob("*/scenarios")))
def test_every_evaluation_set_parses_and_names_a_known_shop(name: str) -> None:
    domains = {load_shop_file(path).shop.domain for path in (EVALS / "shops").glob("*.yaml")}
    scenarios = load_scenarios(EVALS / name / "scenarios")
    assert scenarios
    assert {scenario.shop for scenario in scenarios} <= domains
