"""The shop file contract: the demo file imports; bad files are refused with the field and line."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from sera.bootstrap import Sera
from sera.merchants.service import ImportConflictError, import_shop, import_shop_text
from sera.merchants.shop_file import ShopFileError, load_shop_file, parse_shop_text
from sera.storage.models import Merchant, Order
from tests.conftest import DEMO_SHOP, NORTHSIDE, PACKAGED_DEMO, SHARED

MINIMAL = """\
shop:
  domain: tiny.example.com
  name: Tiny
  timezone: Europe/Berlin
  locale: de-DE
  phone_numbers: ["030 12345678"]
"""


def test_demo_shop_parses_with_every_section() -> None:
    shop = load_shop_file(DEMO_SHOP)
    assert shop.shop.domain == NORTHSIDE
    assert [s.name for s in shop.services] == [
        "Tune-up",
        "Flat tire repair",
        "Bike fitting",
        "Brake service",
    ]
    assert shop.orders[0].customer.phone == "+13125550142"
    assert shop.workflows[0].collect[1].options == ["beginner", "intermediate", "fast"]


@pytest.mark.skipif(not (SHARED / "examples").exists(), reason="shared/ is not beside this checkout")
def test_packaged_demo_shop_is_the_shared_one() -> None:
    assert PACKAGED_DEMO.read_text() == (SHARED / "examples" / "demo-shop.yaml").read_text()


def test_phone_numbers_are_normalised_for_the_shop_region() -> None:
    assert parse_shop_text(MINIMAL).shop.phone_numbers == ["+493012345678"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("colour: blue\n", "line 7: unknown key 'colour' (in top level)"),
        (
            "services:\n  - name: Fix\n    duration_min: 30\n    prise: 9\n",
            "line 10: unknown key 'prise' (in services.0)",
        ),
        (
            "services:\n  - name: Fix\n    duration_min: half an hour\n",
            "line 9: services.0.duration_min:",
        ),
        ("products:\n  - title: Bell\n    in_stock: maybe\n", "line 9: products.0.in_stock:"),
        (
            "hours:\n  mon: ['18:00-10:00']\n",
            "line 8: hours.mon.0: '18:00-10:00' is not an opening range",
        ),
        ("hours:\n  monday: ['10:00-18:00']\n", "unknown key 'monday' (in hours)"),
        ("closures: [2026-02-30]\n", "closures.0"),
        (
            "orders:\n  - number: '7'\n    created: 2026-11-01\n    customer: {name: A, phone: '12'}\n    status: shipped\n",
            "orders.0.customer.phone: '12' is not a valid phone number",
        ),
        (
            "orders:\n  - number: '7'\n    created: 2026-11-01\n    customer: {name: A}\n    status: lost\n",
            "orders.0.status",
        ),
        ("retention:\n  audit_logs: 30\n", "retention.audit_logs"),
        ("staff:\n  - name: Kim\n    services: [Massage]\n", "unknown service 'Massage'"),
        (
            "workflows:\n  - name: x\n    triggers: [hi]\n    collect: [{slot: a, type: choice, ask: 'Which one'}]\n"
            "    action: {create_ticket: {subject: S}}\n",
            "needs options",
        ),
    ],
)
def test_bad_values_name_the_field_and_line(extra: str, expected: str) -> None:
    with pytest.raises(ShopFileError) as caught:
        parse_shop_text(MINIMAL + extra)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("shop: [unclosed", "not valid YAML"),
        ("- just\n- a list\n", "must be a mapping"),
        (MINIMAL.replace("Europe/Berlin", "Mars/Olympus_Mons"), "not an IANA time zone"),
        (MINIMAL.replace("  name: Tiny\n", ""), "shop.name is required"),
        (MINIMAL + "faq: []\nfaq: []\n", "key 'faq' appears twice"),
        (MINIMAL + "faq:\n  - {q: Parking, a: Yes.}\n  - {q: Parking, a: No.}\n", "faq: 'Parking' appears twice"),
        (MINIMAL + "agent:\n  llm: {base_url: 'ftp://x'}\n", "is not an http(s) URL"),
    ],
)
def test_malformed_files_are_refused(text: str, expected: str) -> None:
    with pytest.raises(ShopFileError) as caught:
        parse_shop_text(text)
    assert expected in str(caught.value)


def test_a_bad_file_imports_nothing(sera: Sera, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO_SHOP.read_text().replace("duration_min: 30", "duration_min: thirty"))
    from sera import cli

    monkeypatch.setattr(cli, "_sera", lambda generate_secrets=False: sera)
    result = CliRunner().invoke(cli.main, ["shop", "import", str(bad)])
    assert result.exit_code == 1
    assert "services.1.duration_min" in result.output
    assert "nothing was imported" in result.output
    with sera.uow(readonly=True) as uow:
        assert uow.session.execute(select(func.count()).select_from(Merchant)).scalar_one() == 0


def test_a_conflicting_import_changes_nothing(sera: Sera) -> None:
    import_shop(sera, load_shop_file(DEMO_SHOP), actor="test")
    clash = MINIMAL.replace('["030 12345678"]', '["+13125550100"]')
    with pytest.raises(ImportConflictError, match=r"\+13125550100 is already answered"):
        import_shop_text(sera, clash, source="clash.yaml", actor="test")
    with sera.uow(readonly=True) as uow:
        assert uow.session.execute(select(func.count()).select_from(Merchant)).scalar_one() == 1


def test_import_is_idempotent_and_export_round_trips(sera: Sera) -> None:
    first = import_shop(sera, load_shop_file(DEMO_SHOP), actor="test")
    assert first.created and first.changes > 0
    again = import_shop(sera, load_shop_file(DEMO_SHOP), actor="test")
    assert (again.created, again.changes) == (False, 0)

    from sera.merchants.service import export_shop

    exported = export_shop(sera, NORTHSIDE, actor="test")
    assert parse_shop_text(exported) == load_shop_file(DEMO_SHOP)
    assert import_shop_text(sera, exported, source="export", actor="test").changes == 0


def test_reimport_applies_changes_and_removes_what_is_gone(sera: Sera) -> None:
    import_shop(sera, load_shop_file(DEMO_SHOP), actor="test")
    text = DEMO_SHOP.read_text().replace("price: 89.00", "price: 95.00")
    cut = text.index('  - number: "1046"')
    text = text[:cut] + text[text.index("\nworkflows:") + 1 :]
    result = import_shop_text(sera, text, source="edited", actor="test")
    assert result.changes == 2
    shop = parse_shop_text(__import__("sera.merchants.service", fromlist=["x"]).export_shop(sera, NORTHSIDE, actor="t"))
    assert shop.services[0].price == 95.0
    with sera.uow(readonly=True) as uow:
        assert sorted(uow.session.execute(select(Order.number)).scalars()) == [
            "1042",
            "1043",
            "1044",
            "1045",
        ]


# -- any text at all ----------------------------------------------------------------------------

DEMO_TEXT = DEMO_SHOP.read_text()
SCALAR = re.compile(r"(?m)^(\s*(?:- )?[a-z_]+: )(.+)$")  # a `key: value` line of the demo file
odd_text = st.text(max_size=40) | st.sampled_from(["\\0", "\\ud800", "\\x85", "\\t", "~", "null", "[]", "{}", "10:00-"])
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


TEXT_KEYS = re.compile(r"^\s*(?:- )?(q|a|description|say_start|say_done|greeting|warranty|shipping|returns): ")


@st.composite
def mutated_demo(draw: st.DrawFn, only_text: bool = False) -> str:
    """The demo shop file with some values replaced: double-quoted (escapes such as \\0 and
    \\ud800 are read), plain, or as they came. ``only_text``: only values any text may fill."""
    lines = DEMO_TEXT.splitlines()
    pattern = TEXT_KEYS if only_text else SCALAR
    candidates = [i for i, line in enumerate(lines) if pattern.match(line)]
    for index in draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=4, unique=True)):
        value = draw(odd_text)
        quoted = draw(st.sampled_from(['"{}"', "{}", "'{}'"])).format(value.replace('"', "").replace("'", ""))
        lines[index] = SCALAR.sub(lambda m, q=quoted: m.group(1) + q, lines[index])  # type: ignore[misc]
    return "\n".join(lines)


@FUZZ
@given(text=st.text(max_size=400) | mutated_demo())
def test_any_text_is_a_shop_or_a_shop_file_error(text: str) -> None:
    try:
        parse_shop_text(text)
    except ShopFileError as error:
        problems = error.problems
        assert problems and all(problems)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated_demo(only_text=True))
def test_whatever_parses_imports(sera: Sera, text: str) -> None:
    """A file the parser accepts is one the database can hold: the import never fails half-way."""
    try:
        shop = parse_shop_text(text)
    except ShopFileError:
        return
    with contextlib.suppress(ImportConflictError):  # the file's numbers may be another shop's
        import_shop(sera, shop, actor="test")


def test_an_escape_no_store_can_hold_names_its_key_and_line() -> None:
    for escape in ("\\0", "\\ud800", "\\x1b"):
        text = MINIMAL.replace("name: Tiny", f'name: "Tiny{escape}"')
        with pytest.raises(ShopFileError, match=r"line 3: shop\.name: the text "):
            parse_shop_text(text)
