"""How the agent names a service in a sentence."""

from __future__ import annotations

import pytest

from sera.agent.phrasing import with_article


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("Tune-up", "a Tune-up"),
        ("Oil change", "an Oil change"),
        ("AC recharge", "an AC recharge"),
        ("MOT", "an MOT"),
        ("Hour-long massage", "an Hour-long massage"),
        ("Upholstery clean", "an Upholstery clean"),
        ("Uniform fitting", "a Uniform fitting"),
        ("One-off clean", "a One-off clean"),
        ("Euro service", "a Euro service"),
        ("SUV detail", "an SUV detail"),
        ("Swedish massage", "a Swedish massage"),
    ],
)
def test_a_service_takes_the_article_its_first_sound_asks_for(name: str, said: str) -> None:
    assert with_article(name) == said


def test_a_sentence_opens_with_a_capital_article() -> None:
    assert with_article("Oil change", opening=True) == "An Oil change"
