"""One clock: no code in the package reads the machine's time except ``sera.clock``.

A timestamp from the machine's clock instead of ``Sera.clock`` makes the tests depend on the
date they run (a shop imported "now" sorted after the test's customers once the real date
passed the test's), and a merchant's data disagree with itself. This scan finds any new use.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import DEMO_SHOP, FakeClock

from sera.bootstrap import Sera
from sera.merchants.service import import_shop
from sera.merchants.shop_file import load_shop_file
from sera.storage.models import Customer

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "sera"

# module -> attributes whose call reads the machine's wall clock
WALL_CLOCK = {
    "datetime": {"now", "utcnow", "today"},
    "date": {"today"},
    "time": {"time", "time_ns", "localtime", "gmtime", "ctime", "strftime"},
}
ALLOWED = {
    ("clock.py", "system_clock"),  # the one clock itself
    ("storage/models.py", "new_id"),  # ids are in creation order; they carry no time anyone reads
}


def _wall_clock_reads(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    relative = path.relative_to(PACKAGE).as_posix()

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            inside = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if (
                isinstance(child, ast.Attribute)
                and isinstance(child.value, ast.Name)
                and child.attr in WALL_CLOCK.get(child.value.id, set())
                and (relative, function) not in ALLOWED
            ):
                found.append(f"{relative}:{child.lineno} {child.value.id}.{child.attr} in {function or 'module'}")
            if isinstance(child, ast.Call) and ast.unparse(child.func) in {"mapped_column", "Column", "sa.Column"}:
                for keyword in child.keywords:
                    source = ast.unparse(keyword.value).lower()
                    if keyword.arg in {"default", "onupdate", "server_default", "server_onupdate"} and any(
                        word in source for word in ("now", "clock", "current_timestamp", "func.")
                    ):
                        found.append(f"{relative}:{child.lineno} column {keyword.arg}: stamp from the clock instead")
            visit(child, inside)

    visit(tree, "")
    return found


def test_nothing_in_the_package_reads_the_machines_clock_but_the_one_clock() -> None:
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) for hit in _wall_clock_reads(path)]
    assert found == [], "use sera.clock() (or the clock passed in) instead:\n" + "\n".join(found)


def test_the_scan_finds_a_machine_clock_read() -> None:
    module = PACKAGE / "_probe_clock_scan.py"
    module.write_text(
        "from datetime import datetime\n"
        "from sqlalchemy.orm import mapped_column\n"
        "def f():\n    return datetime.now()\n"
        "x = mapped_column(default=utcnow)\n"
    )
    try:
        hits = _wall_clock_reads(module)
    finally:
        module.unlink()
    assert len(hits) == 2


def test_an_imported_shops_records_carry_the_clocks_time(sera: Sera, clock: FakeClock) -> None:
    clock.now = datetime(2031, 3, 9, 8, 0, tzinfo=UTC)  # far from the machine's date
    merchant_id = import_shop(sera, load_shop_file(DEMO_SHOP), actor="test").merchant_id
    with sera.uow(merchant_id, readonly=True) as uow:
        created = {c.created_at for c in uow.session.query(Customer)}
    assert created == {clock.now}
