"""A shop installed from Shopify and its shop file: the export names what the file still
needs (the spec makes ``phone_numbers`` required, and such a shop has none yet), and an
import replaces only the products files define, never those synced from Shopify."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy import select

from sera import cli
from sera.bootstrap import Sera
from sera.merchants.service import export_shop, import_shop_text, merchant_id_for_number
from sera.merchants.shop_file import parse_shop_text
from sera.storage.models import Product
from tests.adapters.shopify.conftest import SHOP
from tests.adapters.shopify.test_webhooks import deliver
from tests.fakes.shopify_server import FakeShopify

SHOP_NUMBER = "+13125550160"
LAKESIDE = f"""\
shop:
  domain: {SHOP}
  name: Lakeside Bikes
  timezone: America/Chicago
  phone_numbers: ["{SHOP_NUMBER}"]
products:
  - title: Trail Bell
    sku: LB-BELL
    price: 12.00
  - title: Frame Lock
    sku: LB-LOCK
    price: 39.00
"""


def _command(sera: Sera, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.setattr(cli, "_sera", lambda generate_secrets=False: sera)
    return CliRunner().invoke(cli.main, list(args))


def _products(sera: Sera, merchant_id: str) -> list[tuple[str, str | None]]:
    """(title, Shopify id) of every product the agent knows, by title."""
    with sera.uow(merchant_id, readonly=True) as uow:
        rows = uow.session.execute(select(Product.title, Product.external_id).order_by(Product.title)).all()
    return [(title, external_id) for title, external_id in rows]


def test_the_export_of_an_installed_shop_names_the_numbers_it_needs(
    installed: str, shopify_sera: Sera, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exported = _command(shopify_sera, monkeypatch, "shop", "export", SHOP)
    assert exported.exit_code == 0, exported.output
    text = exported.stdout
    assert (
        "  # required before this file can be imported: the E.164 numbers the agent answers\n  phone_numbers: []\n"
    ) in text
    assert "warning: this file cannot be imported until it is completed" in exported.stderr
    assert "shop.phone_numbers: at least one number is required" in exported.stderr

    file = tmp_path / "lakeside.yaml"
    file.write_text(text)
    refused = _command(shopify_sera, monkeypatch, "shop", "import", str(file))
    assert refused.exit_code == 1
    line = text.splitlines().index("  phone_numbers: []") + 1
    assert f"line {line}: shop.phone_numbers: at least one number is required" in refused.stderr
    assert "nothing was imported" in refused.stderr

    completed = text.replace("phone_numbers: []", f'phone_numbers: ["{SHOP_NUMBER}"]')
    file.write_text(completed)
    imported = _command(shopify_sera, monkeypatch, "shop", "import", str(file))
    assert imported.exit_code == 0, imported.output
    assert imported.stdout.startswith(f"{SHOP}: updated")
    assert merchant_id_for_number(shopify_sera, SHOP_NUMBER) == installed

    again = _command(shopify_sera, monkeypatch, "shop", "export", SHOP)
    assert again.stderr == ""
    assert parse_shop_text(again.stdout) == parse_shop_text(completed)
    assert _command(shopify_sera, monkeypatch, "shop", "import", str(file)).stdout == f"{SHOP}: unchanged (0 changes)\n"


def test_importing_a_file_leaves_products_synced_from_shopify_alone(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, shopify_sera: Sera
) -> None:
    deliver(client, fake_shopify, jobs, "products/create")  # Gravel King 54, from Shopify
    gravel_king = ("Gravel King 54", "7985240195265")

    import_shop_text(shopify_sera, LAKESIDE, source="lakeside.yaml", actor="test")
    assert _products(shopify_sera, installed) == [("Frame Lock", None), gravel_king, ("Trail Bell", None)]

    without_bell = LAKESIDE[: LAKESIDE.index("  - title: Trail Bell")] + LAKESIDE[LAKESIDE.index("  - title: Frame") :]
    import_shop_text(shopify_sera, without_bell, source="lakeside.yaml", actor="test")
    assert _products(shopify_sera, installed) == [("Frame Lock", None), gravel_king]

    import_shop_text(shopify_sera, LAKESIDE.split("products:")[0], source="no-products.yaml", actor="test")
    assert _products(shopify_sera, installed) == [gravel_king]

    deliver(client, fake_shopify, jobs, "products/update")  # Shopify keeps it in step as before
    assert _products(shopify_sera, installed) == [("Gravel King 54 (2027)", "7985240195265")]


def test_an_exported_file_imports_without_copying_shopify_products(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, shopify_sera: Sera
) -> None:
    import_shop_text(shopify_sera, LAKESIDE, source="lakeside.yaml", actor="test")
    deliver(client, fake_shopify, jobs, "products/create")
    exported = export_shop(shopify_sera, SHOP, actor="test")
    assert [p.title for p in parse_shop_text(exported).products] == ["Trail Bell", "Frame Lock", "Gravel King 54"]

    assert import_shop_text(shopify_sera, exported, source="export", actor="test").changes == 0
    assert _products(shopify_sera, installed) == [
        ("Frame Lock", None),
        ("Gravel King 54", "7985240195265"),
        ("Trail Bell", None),
    ]
    assert export_shop(shopify_sera, SHOP, actor="test") == exported

    deliver(client, fake_shopify, jobs, "products/delete")  # deleted in Shopify
    assert "Gravel King" not in export_shop(shopify_sera, SHOP, actor="test")
