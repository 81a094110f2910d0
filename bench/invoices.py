"""Monthly invoices for many shops: time to issue them all, and a run killed midway.

    .venv/bin/python bench/invoices.py [--shops 1000] [--kill-after 300] [--database-url URL]

Seeds ``--shops`` shops on the Starter plan of ``pricing.example.yaml`` (sealed billing
details, one phone number each) with a month of usage each (every day: minutes and SMS
segments in and out, so most go past what the plan includes), in SQLite in a temp
directory (or ``--database-url``, a scratch PostgreSQL database; the key store stays in
SQLite). Seeding is not timed.

1. Baseline, same data: only reading each shop's usage and computing its lines (Decimal),
   without numbering, sealing, rendering the PDF, queueing the email or writing anything.
2. Issuing November for every shop, as `sera invoices issue --month 2026-11` does: each
   shop in its own transaction, with its number, sealed billing details, audit entry, PDF
   and queued email. Goal: under 60 s for 1,000 shops.
3. Kill midway: `sera invoices issue --month 2026-10` in a subprocess, killed (SIGKILL)
   once ``--kill-after`` October invoices are committed, then run again to the end.
   Checks: every shop has exactly one October invoice, numbers run without a gap or a
   duplicate, the counter matches, and one email is queued per invoice.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sera.billing.accounts import set_billing  # noqa: E402
from sera.billing.invoices import Month, compute_lines, issue_month, month_usage  # noqa: E402
from sera.bootstrap import Sera, bootstrap  # noqa: E402
from sera.config import Settings, new_key_text  # noqa: E402
from sera.storage.models import (  # noqa: E402
    Invoice,
    InvoiceCounter,
    MailMessage,
    Merchant,
    MerchantPhoneNumber,
    UsageRecord,
    new_id,
)

PRICING = ROOT / "pricing.example.yaml"
NOVEMBER, OCTOBER = Month(2026, 11), Month(2026, 10)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def settings_for(tmp: Path, database_url: str | None, master_key: str) -> Settings:
    return Settings(
        env="test",
        database_url=database_url or f"sqlite:///{tmp / 'sera.db'}",
        keystore_url=f"sqlite:///{tmp / 'keys.db'}",
        master_key=master_key,
        secret_key=new_key_text(),
        public_url="https://sera.bench",
        pricing_file=PRICING,
        mail_dir=tmp / "mail",
    )


def seed(sera: Sera, shops: int) -> list[str]:
    ids = [new_id("mer") for _ in range(shops)]
    with sera.uow() as uow:
        uow.session.execute(
            insert(Merchant),
            [
                {
                    "id": merchant_id,
                    "domain": f"bench-{i}.myshopify.com",
                    "name": f"Bench Shop {i}",
                    "timezone": "America/Chicago",
                    "locale": "en-US",
                    "currency": "USD",
                    "settings": {},
                    "status": "active",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i, merchant_id in enumerate(ids)
            ],
        )
        uow.session.execute(
            insert(MerchantPhoneNumber),
            [{"number": f"+1312{i:07d}", "merchant_id": merchant_id} for i, merchant_id in enumerate(ids)],
        )
        usage = []
        for i, merchant_id in enumerate(ids):
            for month in (OCTOBER, NOVEMBER):
                day = month.first
                while day <= month.last:
                    for metric, quantity in (
                        ("billed_minutes", 5 + (i + day.day) % 11),
                        ("sms_segments_outbound", 12 + i % 9),
                        ("sms_segments_inbound", 4 + day.day % 5),
                    ):
                        usage.append(
                            {
                                "id": new_id("use"),
                                "merchant_id": merchant_id,
                                "day": day,
                                "metric": metric,
                                "quantity": quantity,
                            }
                        )
                    day += timedelta(days=1)
        uow.session.execute(insert(UsageRecord), usage)
        uow.commit()
    for i, merchant_id in enumerate(ids):
        sera.keystore.create_merchant_key(merchant_id)
        with sera.uow(merchant_id) as uow:
            set_billing(
                uow,
                sera.pricing,
                actor="bench",
                plan="starter",
                company=f"Bench Shop {i} LLC",
                email=f"billing{i}@bench.example",
                address=f"{i} Main Street, Chicago, IL",
                tax_id=f"US-{i:08d}",
            )
            uow.commit()
    return ids


def baseline(sera: Sera, ids: list[str]) -> float:
    plan = sera.pricing.plan("starter")
    started = time.perf_counter()
    for merchant_id in ids:
        with sera.uow(merchant_id, readonly=True) as uow:
            compute_lines(plan, month_usage(uow, merchant_id, NOVEMBER), NOVEMBER)
    return time.perf_counter() - started


def count(sera: Sera, model: type, *where: object) -> int:
    with sera.uow(readonly=True) as uow:
        return int(uow.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def cli_env(settings: Settings, tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SERA_ENV="test",
        SERA_ENV_FILE=str(tmp / "absent.env"),
        SERA_DATABASE_URL=settings.database_url,
        SERA_KEYSTORE_URL=settings.keystore_url,
        SERA_MASTER_KEY=settings.master_key.get_secret_value() if settings.master_key else "",
        SERA_SECRET_KEY=new_key_text(),
        SERA_PRICING_FILE=str(PRICING),
        SERA_MAIL_DIR=str(tmp / "mail"),
        SERA_LOG_LEVEL="WARNING",
    )
    return env


def killed_run(sera: Sera, settings: Settings, tmp: Path, shops: int, kill_after: int) -> dict[str, object]:
    command = [str(ROOT / ".venv" / "bin" / "sera"), "invoices", "issue", "--month", str(OCTOBER)]
    october = (Invoice.period == str(OCTOBER),)
    child = subprocess.Popen(command, env=cli_env(settings, tmp), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while child.poll() is None and count(sera, Invoice, *october) < kill_after:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    at_kill = count(sera, Invoice, *october)
    started = time.perf_counter()
    rerun = subprocess.run(command, env=cli_env(settings, tmp), capture_output=True, text=True, check=False)
    restart_s = time.perf_counter() - started
    with sera.uow(readonly=True) as uow:
        rows = uow.session.execute(select(Invoice.merchant_id, Invoice.number).where(*october)).all()
        numbers = sorted(
            int(n.removeprefix("INV-"))
            for _, n in uow.session.execute(select(Invoice.merchant_id, Invoice.number)).all()
        )
        counter = uow.session.get(InvoiceCounter, "invoice")
        mails = uow.session.execute(select(func.count()).select_from(MailMessage)).scalar_one()
    per_shop = {}
    for merchant_id, _ in rows:
        per_shop[merchant_id] = per_shop.get(merchant_id, 0) + 1
    return {
        "at_kill": at_kill,
        "restart_s": restart_s,
        "rerun_exit": rerun.returncode,
        "rerun_summary": rerun.stdout.strip().splitlines()[-1] if rerun.stdout.strip() else rerun.stderr[-300:],
        "october": len(rows),
        "twice": sum(1 for c in per_shop.values() if c > 1),
        "missing": shops - len(per_shop),
        "gapless": numbers == list(range(1, len(numbers) + 1)),
        "counter_matches": counter is not None and counter.last == len(numbers),
        "mails": mails,
        "documents": len(numbers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shops", type=int, default=1000)
    parser.add_argument("--kill-after", type=int, default=300, help="October invoices committed before the kill")
    parser.add_argument("--database-url", default=None, help="a scratch PostgreSQL database (emptied tables expected)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sera-bench-invoices-") as name:
        tmp = Path(name)
        settings = settings_for(tmp, args.database_url, new_key_text())
        sera = bootstrap(settings, clock=lambda: NOW)
        sera.migrate()
        started = time.perf_counter()
        ids = seed(sera, args.shops)
        print(f"seeded {len(ids)} shops with two months of usage in {time.perf_counter() - started:.1f} s")
        print(f"backend: {sera.db.engine.dialect.name}")

        compute_s = baseline(sera, ids)
        print(
            f"baseline: read usage and compute lines only: {compute_s:.2f} s "
            f"({compute_s / len(ids) * 1000:.1f} ms/shop)"
        )

        started = time.perf_counter()
        run = issue_month(sera, NOVEMBER, actor="bench")
        issue_s = time.perf_counter() - started
        verdict = "OK" if issue_s < 60 and run.count("issued") == len(ids) else "MISSED"
        print(
            f"issue {NOVEMBER} for {len(ids)} shops: {issue_s:.2f} s ({issue_s / len(ids) * 1000:.1f} ms/shop, "
            f"{issue_s / max(compute_s, 1e-9):.1f}x the baseline); issued {run.count('issued')}, "
            f"failed {run.count('failed')}  [goal < 60 s: {verdict}]"
        )
        started = time.perf_counter()
        again = issue_month(sera, NOVEMBER, actor="bench")
        print(
            f"second run of {NOVEMBER}: issued {again.count('issued')}, already issued "
            f"{again.count('already_issued')} in {time.perf_counter() - started:.2f} s"
        )

        result = killed_run(sera, settings, tmp, len(ids), args.kill_after)
        ok = (
            result["twice"] == 0
            and result["missing"] == 0
            and result["gapless"]
            and result["counter_matches"]
            and result["mails"] == result["documents"]
        )
        print(
            f"kill midway ({OCTOBER}): killed with {result['at_kill']} issued; restart finished in "
            f"{result['restart_s']:.1f} s (exit {result['rerun_exit']}: {result['rerun_summary']})"
        )
        print(
            f"  {result['october']} October invoices, {result['twice']} twice, {result['missing']} missing; "
            f"numbers 1..{result['documents']} without gaps: {result['gapless']}; counter matches: "
            f"{result['counter_matches']}; emails queued: {result['mails']}  [{'OK' if ok else 'FAILED'}]"
        )
        sera.close()
        if not ok or verdict != "OK":
            sys.exit(1)


if __name__ == "__main__":
    main()
