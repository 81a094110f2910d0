"""The `sera` command line."""

from __future__ import annotations

import gc
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from sera.config import ConfigError, LogFormat, Settings, env_file_path, load_settings, new_key_text
from sera.observability import configure_logging

if TYPE_CHECKING:
    from sera.bootstrap import Sera
    from sera.merchants.shop_file import ShopFile

DEMO_SHOP = Path(__file__).parent / "merchants" / "demo-shop.yaml"
DEMO_KEY_LABEL = "demo"


def _sera(generate_secrets: bool = False, log_format: LogFormat = LogFormat.JSON):  # type: ignore[no-untyped-def]
    """Sera as configured; logs in SERA_LOG_FORMAT, or else in this command's ``log_format``."""
    from sera.bootstrap import bootstrap

    try:
        settings = load_settings(generate_secrets=generate_secrets)
        configure_logging(settings.log_level, settings.log_format or log_format)
        return bootstrap(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.version_option(package_name="sera")
def main() -> None:
    """Sera: a self-hostable AI voice agent for businesses."""


@main.command()
def migrate() -> None:
    """Create or upgrade the database and key store."""
    sera = _sera(generate_secrets=True)
    sera.migrate()
    click.echo("database and key store are up to date")


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default SERA_HOST).")
@click.option("--port", default=None, type=int, help="Port (default SERA_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Run the web service."""
    _serve(_sera(), host, port)


def _serve(sera, host: str | None, port: int | None) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    from sera.jobs.wiring import build_jobs
    from sera.web.app import create_app

    jobs = build_jobs(sera)
    app = create_app(sera)
    _load_understanding()
    _freeze_startup_objects()
    if not sera.settings.redis_url:  # the embedded default: jobs run inside this process
        jobs.start_embedded(sera.settings.embedded_workers)
    try:
        uvicorn.run(
            app,
            host=host or sera.settings.host,
            port=port or sera.settings.port,
            log_config=None,
            access_log=False,
        )
    finally:
        jobs.stop_embedded()


def _load_understanding() -> None:
    """Load the embedded model and the intent classifier now (about a second), so that the
    first caller after a start is not the one who waits for it."""
    from sera.agent.understanding.intents import intent_classifier

    intent_classifier().classify("warm up")


def _freeze_startup_objects() -> None:
    """What start-up built lives as long as the process: move it out of the collector's sight.

    Otherwise each full garbage collection walks those ~150,000 objects and pauses every
    request in the process for 100+ ms (measured), the worst of a server's tail latency.
    """
    gc.collect()
    gc.freeze()


@main.command()
@click.option("--workers", default=4, show_default=True, help="Job threads.")
def worker(workers: int) -> None:
    """Run background jobs (outbound sends, retention, privacy deadlines) from the queue."""
    from sera.jobs.wiring import build_jobs

    sera = _sera()
    if not sera.settings.redis_url:
        click.echo("note: SERA_REDIS_URL is not set; consuming the embedded SQLite queue", err=True)
    consumer = build_jobs(sera).consumer(workers)
    _freeze_startup_objects()
    consumer.run()


@dataclass(frozen=True)
class DemoSetup:
    shop: ShopFile
    merchant_id: str
    api_key: str  # the only valid demo key of the shop
    revoked_keys: int  # earlier demo keys this set-up revoked
    owner_email: str  # the dashboard's demo owner
    owner_password: str  # generated at each set-up: the only time it is shown


def set_up_demo(sera: Sera) -> DemoSetup:
    """Migrate, load the demo shop and give it one valid demo API key, revoking earlier ones; its
    dashboard owner a new password; and, the first time, a few conversations with its agent.

    Run again (each `make demo`), it leaves the same shop and still exactly one demo key.
    """
    from sera.access.api_keys import replace_api_key
    from sera.agent.demo import hold_demo_conversations
    from sera.feedback.settings import start_asking_unless_chosen
    from sera.merchants.service import import_shop
    from sera.merchants.shop_file import load_shop_file
    from sera.team.members import reset_demo_owner

    sera.migrate()
    shop = load_shop_file(sera.settings.demo_shop_file or DEMO_SHOP)
    merchant_id = import_shop(sera, shop, actor="cli:demo").merchant_id
    with sera.uow(merchant_id) as uow:  # the demo shop asks "How did we do?" after calls and texts
        start_asking_unless_chosen(uow, actor="cli:demo", now=sera.clock())
        uow.commit()
    key = replace_api_key(sera, merchant_id, role="admin", label=DEMO_KEY_LABEL, actor="cli:demo")
    owner = f"owner@{shop.shop.domain}"
    password = reset_demo_owner(sera, merchant_id, owner, actor="cli:demo")
    hold_demo_conversations(sera, merchant_id)  # once: the dashboard shows what the agent did
    return DemoSetup(shop, merchant_id, key.key, key.revoked, owner, password)


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default SERA_HOST).")
@click.option("--port", default=None, type=int, help="Port (default SERA_PORT).")
def demo(host: str | None, port: int | None) -> None:
    """Migrate, load the demo shop and serve, printing the URLs to try.

    Logs are text unless SERA_LOG_FORMAT says otherwise.
    """
    sera = _sera(generate_secrets=True, log_format=LogFormat.TEXT)
    setup = set_up_demo(sera)
    click.echo(_demo_summary(sera, setup, host or sera.settings.host, port or sera.settings.port))
    _serve(sera, host, port)


def _demo_summary(sera: Sera, setup: DemoSetup, host: str, port: int) -> str:
    from sqlalchemy.engine import make_url

    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - only compared: a wildcard host is shown as this machine
        host = "127.0.0.1"
    base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    key = setup.api_key
    which = "the only valid demo key; earlier ones were revoked" if setup.revoked_keys else "the only valid demo key"
    database = make_url(sera.settings.database_url).render_as_string(hide_password=True)
    keystore = make_url(sera.settings.keystore_url).render_as_string(hide_password=True)
    secrets_file = f", secrets in {env_file_path()}" if env_file_path().exists() else ""
    return (
        f"\nSera demo: {setup.shop.shop.name} ({setup.shop.shop.domain})\n"
        f"  Start here:   {base}/\n"
        f"  Dashboard:    {base}/dashboard/  (log in as {setup.owner_email}, password {setup.owner_password})\n"
        f"  Talk to it:   {base}/try\n"
        f"  API docs:     {base}/docs (to try) and {base}/redoc (to read)\n"
        f"  Health:       {base}/healthz\n"
        f"  Metrics:      {base}/metrics\n"
        f"  Demo API key ({which}): {key}\n"
        f"  Try it:       curl -H 'Authorization: Bearer {key}' {base}/api/v1/customers\n"
        f"  Data:         {database} (keys in {keystore}{secrets_file})\n"
        f"  Mail:         {_mail_target(sera)} (`sera mail list --shop {setup.shop.shop.domain}`)\n"
    )


def _mail_target(sera: Sera) -> str:
    """Where email to the business goes: the SMTP server (host only), or the Maildir."""
    from urllib.parse import urlsplit

    if sera.settings.smtp_url is None:
        return f"each email to the business is a file in the Maildir {sera.settings.mail_dir}"
    return f"sent through {urlsplit(sera.settings.smtp_url.get_secret_value()).hostname}"


@main.group()
def shop() -> None:
    """Import and export shop configuration files."""


@shop.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def shop_import(file: Path) -> None:
    """Create or update a shop from FILE (atomic and idempotent)."""
    from sera.merchants.service import ImportConflictError, import_shop
    from sera.merchants.shop_file import ShopFileError, load_shop_file

    sera = _sera(generate_secrets=True)
    sera.migrate()
    try:
        parsed = load_shop_file(file)
        result = import_shop(sera, parsed, actor="cli")
    except ShopFileError as exc:
        click.echo(f"error: {exc.source}: nothing was imported", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(1)
    except ImportConflictError as exc:
        click.echo(f"error: {exc}; nothing was imported", err=True)
        sys.exit(1)
    verb = "created" if result.created else ("updated" if result.changes else "unchanged")
    click.echo(f"{parsed.shop.domain}: {verb} ({result.changes} changes)")


@shop.command("export")
@click.argument("domain")
def shop_export(domain: str) -> None:
    """Print the shop file for DOMAIN (personal data included; audited).

    A shop the file cannot describe yet (one installed from Shopify has no phone numbers
    until its file sets them) is still printed; stderr names what to add before importing it.
    """
    from sera.merchants.service import MerchantNotFoundError, export_shop
    from sera.merchants.shop_file import ShopFileError, parse_shop_text

    try:
        text = export_shop(_sera(), domain, actor="cli")
    except MerchantNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(text, nl=False)
    try:
        parse_shop_text(text, domain)
    except ShopFileError as exc:
        click.echo(f"warning: this file cannot be imported until it is completed ({domain}):", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)


@main.command("eval")
@click.argument("path", metavar="DIR_OR_FILE", type=click.Path(path_type=Path))
@click.option(
    "--shop",
    "shop_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Shop file to run scenarios against (repeatable); other shops come from Sera's database.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the report.")
@click.option(
    "--brain",
    type=click.Choice(["offline", "llm"]),
    default=None,
    help="The brain to try (default: SERA_BRAIN, or what each shop file chooses).",
)
@click.option("--llm-base-url", default=None, help="An OpenAI-compatible endpoint (default: SERA_LLM_BASE_URL).")
@click.option("--llm-model", default=None, help="The model to ask (default: SERA_LLM_MODEL).")
@click.option(
    "--over",
    type=click.Choice(["agent", "twilio-relay", "twilio-gather"]),
    default="agent",
    show_default=True,
    help="Where calls go: the agent itself, or Sera's Twilio endpoints as Twilio drives them.",
)
def eval_scenarios(
    path: Path,
    shop_files: tuple[Path, ...],
    as_json: bool,
    brain: str | None,
    llm_base_url: str | None,
    llm_model: str | None,
    over: str,
) -> None:
    """Run conversation scenarios against the agent, each from a clean copy of its shop.

    With `--brain llm`, the same scenarios go through a language model (the key comes from
    SERA_LLM_API_KEY), so models can be compared on a shop before switching: the report
    adds the time per turn and how many turns fell back to the offline brain, and why.

    Exit status: 0 if every scenario passed, 1 if one failed, 2 for unusable input.
    """
    import functools
    import json

    from sera.merchants.shop_file import ShopFileError, load_shop_file
    from sera.scenarios.model import ScenarioError, load_scenarios
    from sera.scenarios.runner import UnknownShopError, json_report, run_scenarios, text_report

    configure_logging("WARNING", LogFormat.TEXT)  # stderr: stdout carries only the report
    try:
        scenarios = load_scenarios(path)
        shops = [load_shop_file(file) for file in shop_files]
        chosen = {"brain": brain, "llm_base_url": llm_base_url, "llm_model": llm_model}
        overrides = {key: value for key, value in chosen.items() if value is not None}
        trying = Settings(**overrides)  # type: ignore[arg-type]
        if brain == "llm" and not (trying.llm_base_url and trying.llm_model):
            _fail_input(["--brain llm needs an endpoint and a model: --llm-base-url and --llm-model, or SERA_LLM_*"])
        results = run_scenarios(scenarios, shops, source=functools.cache(_sera), brain=overrides, over=over)
    except ScenarioError as exc:
        _fail_input(exc.problems)
    except ShopFileError as exc:
        _fail_input([f"{exc.source}: {problem}" for problem in exc.problems])
    except UnknownShopError as exc:
        _fail_input([str(exc)])
    except click.ClickException as exc:  # from _sera(): a shop was not in --shop, and no database to look in
        _fail_input([f"a scenario's shop is not in a --shop file and Sera's database cannot be opened: {exc.message}"])
    if as_json:
        click.echo(json.dumps(json_report(results)))
    else:
        click.echo("\n".join(text_report(results)))
    sys.exit(0 if all(result.passed for result in results) else 1)


def _fail_input(problems: list[str] | tuple[str, ...]) -> NoReturn:
    """Unusable scenario or shop files: name every problem, exit 2 (as for a usage error)."""
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    sys.exit(2)


@main.command()
@click.option("--shop", "domain", required=True, help="The shop's domain.")
@click.option("--caller", "caller_phone", default=None, help="The number you are calling from, e.g. +13125550177.")
def chat(domain: str, caller_phone: str | None) -> None:
    """Talk to a shop's agent in the terminal, as a caller would (one line per turn)."""
    import secrets

    from sera.agent.service import Agent, ConversationRef
    from sera.customers.phones import try_normalize_phone

    phone = try_normalize_phone(caller_phone) if caller_phone else None
    if caller_phone and phone is None:
        raise click.BadParameter("not a phone number", param_hint="--caller")
    sera = _sera()
    agent = Agent(sera)
    ref = ConversationRef(_merchant_id(sera, domain), "voice", f"chat-{secrets.token_hex(8)}")
    reply = agent.start(ref, caller_phone=phone)
    click.echo(f"Agent: {reply.text}")
    while not reply.ended:
        if sys.stdin.isatty():
            click.echo("You: ", nl=False)
        line = sys.stdin.readline()
        if not line:  # end of input: the caller hung up
            agent.hang_up(ref)
            return
        if line.strip():
            reply = agent.reply(ref, line.strip())
            click.echo(f"Agent: {reply.text}")
    click.echo(f"(transferred to {reply.transfer_to})" if reply.transfer_to else "(conversation ended)")


@main.group()
def apikey() -> None:
    """Manage API keys for merchants' own systems."""


def _merchant_id(sera, domain: str) -> str:  # type: ignore[no-untyped-def]
    from sera.merchants.service import MerchantNotFoundError, require_merchant_id

    try:
        return require_merchant_id(sera, domain)
    except MerchantNotFoundError as exc:
        raise click.ClickException(str(exc)) from None


@apikey.command("create")
@click.option("--shop", "domain", required=True, help="The shop's domain.")
@click.option("--role", type=click.Choice(["admin", "viewer"]), default="viewer", show_default=True)
@click.option("--label", default=None)
def apikey_create(domain: str, role: str, label: str | None) -> None:
    """Create a key; it is printed once and stored only as a hash."""
    from sera.access.api_keys import create_api_key

    sera = _sera()
    key = create_api_key(sera, _merchant_id(sera, domain), role=role, label=label, actor="cli")
    click.echo(key)


@apikey.command("list")
@click.option("--shop", "domain", required=True)
def apikey_list(domain: str) -> None:
    from sera.access.api_keys import list_api_keys

    sera = _sera()
    for key in list_api_keys(sera, _merchant_id(sera, domain)):
        state = "revoked" if key.revoked_at else "active"
        click.echo(f"{key.prefix}  {key.role:<6} {state:<7} created {key.created_at:%Y-%m-%d}  {key.label or ''}")


@apikey.command("revoke")
@click.option("--shop", "domain", required=True)
@click.argument("prefix")
def apikey_revoke(domain: str, prefix: str) -> None:
    from sera.access.api_keys import revoke_api_key

    sera = _sera()
    if not revoke_api_key(sera, _merchant_id(sera, domain), prefix, actor="cli"):
        raise click.ClickException("no such key")
    click.echo("revoked")


@main.group()
def user() -> None:
    """Manage the team members who log in to a shop's dashboard."""


@user.command("create")
@click.option("--shop", "domain", required=True, help="The shop's domain.")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["owner", "admin", "agent", "viewer"]), required=True)
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from standard input.")
@click.option("--name", default=None)
def user_create(domain: str, email: str, role: str, password_stdin: bool, name: str | None) -> None:
    """Create a member who logs in with the password read from standard input."""
    from sera.team.members import TeamError, create_member
    from sera.team.passwords import WeakPasswordError

    password = sys.stdin.readline().rstrip("\r\n")
    sera = _sera()
    try:
        member = create_member(
            sera, _merchant_id(sera, domain), email=email, role=role, password=password, actor="cli", name=name
        )
    except (TeamError, WeakPasswordError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{member.id} {member.role}")


@user.command("list")
@click.option("--shop", "domain", required=True)
def user_list(domain: str) -> None:
    from sera.team.members import list_members

    sera = _sera()
    with sera.uow(_merchant_id(sera, domain), readonly=True) as reader:
        for member in list_members(reader):
            factor = "2fa" if member.second_factor else "   "
            click.echo(f"{member.id}  {member.role:<6} {factor} {member.email}")


@main.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
@click.option("--shop", "domain", default=None, help="Only this shop's chain.")
def audit_verify(domain: str | None) -> None:
    """Check every hash chain; name the first entry changed, deleted or reordered."""
    from sera import audit

    sera = _sera()
    with sera.uow(readonly=True) as uow:
        chains = [_merchant_id(sera, domain)] if domain else audit.chains(uow.session)
        results = [audit.verify_chain(uow.session, chain) for chain in chains]
    failed = False
    for result in results:
        if result.ok:
            click.echo(f"ok      {result.chain}: {result.entries} entries")
        else:
            failed = True
            click.echo(f"BROKEN  {result.chain}: {result.problem}")
    sys.exit(1 if failed else 0)


@main.group()
def retention() -> None:
    """Deleting data whose retention period has ended."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
def retention_run(dry_run: bool) -> None:
    """Delete expired data for every shop, in bounded batches (audited per shop)."""
    from sera.privacy.retention import run_retention

    sera = _sera()
    for report in run_retention(sera, sera.clock(), dry_run=dry_run):
        counts = ", ".join(f"{name} {count}" for name, count in report.deleted.items() if count) or "nothing expired"
        click.echo(f"{'would delete' if dry_run else 'deleted'} for {report.merchant_id}: {counts}")


@main.group()
def privacy() -> None:
    """The privacy queue."""


@privacy.command("overdue")
def privacy_overdue() -> None:
    """List data-subject requests past their 48-hour deadline, and deletions at providers
    (Twilio, Vapi) past theirs (exit 1 if any)."""
    from sera.privacy.queue import check_overdue

    sera = _sera()
    overdue = check_overdue(sera, sera.clock())
    for merchant_id, request in overdue.requests:
        click.echo(f"OVERDUE {merchant_id} {request.id} {request.type} due {request.due_at:%Y-%m-%d %H:%M} UTC")
    for copy in overdue.copies:
        click.echo(
            f"PENDING DELETION {copy.merchant_id} {copy.provider} {copy.kind} {copy.provider_id} "
            f"({copy.reason}) due {copy.due_at:%Y-%m-%d %H:%M} UTC, {copy.attempts} attempts"
            + (f", last: {copy.last_error}" if copy.last_error else "")
        )
    if not overdue:
        click.echo("nothing overdue")
    sys.exit(1 if overdue else 0)


@privacy.command("report")
@click.option("--shop", "shop", required=True, help="The shop's domain (or its id, once the shop is deleted).")
@click.option("--customer", "customer_id", default=None, help="Only this customer's erasure.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the text report.")
def privacy_report_command(shop: str, customer_id: str | None, as_json: bool) -> None:
    """Every copy of each erasure (and of retention and shop deletion), in Sera and at
    providers, and when it was deleted: ids and times only, ready to send."""
    import dataclasses
    import json

    from sqlalchemy import select

    from sera.merchants.service import merchant_id_for_domain
    from sera.privacy.report import privacy_report, render_report
    from sera.storage.models import Merchant

    sera = _sera()
    merchant_id = merchant_id_for_domain(sera, shop) or shop
    with sera.uow(readonly=True) as uow:
        name = uow.session.execute(select(Merchant.name).where(Merchant.id == merchant_id)).scalar_one_or_none()
    report = privacy_report(sera, merchant_id, customer_id=customer_id)
    if name is None and not (report.erasures or report.other):
        raise click.ClickException(f"no shop {shop}, and no deletions recorded for it")
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(report), default=str, indent=2))
    else:
        click.echo(render_report(report, name), nl=False)


@main.group()
def backup() -> None:
    """Backups of the data and of the key store, written and restored separately."""


_ONLY = click.option(
    "--only", type=click.Choice(["data", "keys"]), default=None, help="Only the data, or only the key store."
)


@backup.command("create")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@_ONLY
def backup_create(directory: Path, only: str | None) -> None:
    """Write the data (data.sqlite or data.pgdump) and the key store (keys.*) into DIRECTORY,
    each with its manifest. Keep the two apart, and key-store backups short-lived."""
    from sera.privacy.backups import BackupError, create_backup

    sera = _sera()
    try:
        made = create_backup(sera, directory, (only,) if only else ("data", "keys"))  # type: ignore[arg-type]
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    for manifest in made:
        made_at = f"{manifest.created_at:%Y-%m-%d %H:%M} UTC"
        click.echo(f"{manifest.part}: {directory / manifest.file} ({manifest.backend}, {made_at})")


@backup.command("restore")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@_ONLY
@click.option("--yes", is_flag=True, help="Replace without asking.")
def backup_restore(directory: Path, only: str | None, yes: bool) -> None:
    """Replace the data and/or the key store with DIRECTORY's backup (stop Sera first).

    A key-store backup older than SERA_KEY_BACKUP_MAX_AGE_HOURS is refused, and erasures and
    shop deletions made since the backup are applied again."""
    from sera.privacy.backups import BackupError, restore_backup

    parts = (only,) if only else ("data", "keys")
    if not yes:
        click.confirm(f"Replace Sera's {' and '.join(parts)} with the backup in {directory}?", abort=True)
    sera = _sera()
    try:
        restored = restore_backup(sera, directory, parts)  # type: ignore[arg-type]
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    for manifest in restored.parts:
        click.echo(f"restored {manifest.part} from {manifest.created_at:%Y-%m-%d %H:%M} UTC")
    click.echo(f"erasures and shop deletions made since, applied again: {restored.reapplied}")


@main.group()
def keys() -> None:
    """Master keys and key rotation."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new random master key (base64)."""
    click.echo(new_key_text())


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-wrap every merchant key under the first key of SERA_MASTER_KEY.

    Put the new key first and keep the old one after it (SERA_MASTER_KEY=new,old),
    restart, run this, then remove the old key. Running processes keep working
    throughout: they hold both keys.
    """
    from sera import audit

    sera = _sera()
    count = sera.keystore.rotate()
    with sera.uow() as uow:
        audit.record(
            uow.session,
            merchant_id=None,
            actor="cli",
            action="keys.rotated",
            target_type="master_key",
            target_id=sera.keystore.keyring.primary_id,
            details={"rewrapped": count},
        )
        uow.commit()
    click.echo(f"re-wrapped {count} merchant keys under master key {sera.keystore.keyring.primary_id}")
    leftovers = {k: n for k, n in sera.keystore.wrapping_key_ids().items() if k != sera.keystore.keyring.primary_id}
    if leftovers:
        raise click.ClickException(f"keys still under old masters: {leftovers}")
    click.echo("no key depends on an old master any more; it can be removed from SERA_MASTER_KEY")


@main.command("report")
@click.option("--shop", "domain", required=True, help="The shop's domain.")
@click.option("--week", default=None, help="An ISO week, e.g. 2026-W48 (default: last week, in the shop's time zone).")
@click.option("--no-email", "no_email", is_flag=True, help="Print only; do not email it to the shop.")
def report_command(domain: str, week: str | None, no_email: bool) -> None:
    """The shop's weekly report: printed, and emailed to the owner (once per week)."""
    from sera.reports.delivery import report_now
    from sera.reports.service import ReportError

    sera = _sera()
    try:
        done = report_now(sera, _merchant_id(sera, domain), week, email=not no_email, actor="cli")
    except ReportError as exc:
        raise click.BadParameter(str(exc), param_hint="--week") from None
    click.echo(done.text)
    if not no_email:
        click.echo(
            f"\n(emailed: mail {done.mail_id})"
            if done.mail_id
            else f"\n(not emailed: already sent for {done.report.week}, or the shop has no email)"
        )


@main.group()
def billing() -> None:
    """A shop's plan and billing details (see SERA_PRICING_FILE)."""


@billing.command("set")
@click.option("--shop", "domain", required=True, help="The shop's domain.")
@click.option("--plan", default=None, help="A plan key of the price list ('' takes the plan away: no more invoices).")
@click.option("--company", default=None, help="The name invoices are made out to.")
@click.option("--email", default=None, help="Where invoices are emailed (default: the shop's email).")
@click.option("--address", default=None, help="The billing address, as one text.")
@click.option("--tax-id", "tax_id", default=None, help="The shop's VAT or tax number.")
def billing_set(
    domain: str, plan: str | None, company: str | None, email: str | None, address: str | None, tax_id: str | None
) -> None:
    """Set what is given; options left out stay as they are, '' clears one. Audited."""
    from sera.billing.accounts import BillingError, set_billing
    from sera.billing.pricing import UnknownPlanError

    given = {
        name: value
        for name, value in {
            "plan": plan,
            "company": company,
            "email": email,
            "address": address,
            "tax_id": tax_id,
        }.items()
        if value is not None
    }
    if not given:
        raise click.UsageError("nothing to set: give --plan, --company, --email, --address or --tax-id")
    sera = _sera()
    with sera.uow(_merchant_id(sera, domain)) as uow:
        try:
            view = set_billing(uow, sera.pricing, actor="cli", **given)
        except UnknownPlanError as exc:
            raise click.BadParameter(str(exc), param_hint="--plan") from None
        except BillingError as exc:
            raise click.BadParameter(str(exc), param_hint="--email") from None
        uow.commit()
    click.echo(f"{domain}: plan {view.plan or '(none: no invoices)'}; billing email {view.email or '(the shop email)'}")


@main.group()
def invoices() -> None:
    """Monthly invoices and credit notes."""


@invoices.command("issue")
@click.option("--month", required=True, help="The month to invoice, YYYY-MM (e.g. 2026-11).")
@click.option("--shop", "domain", default=None, help="Only this shop (default: every shop with a plan).")
def invoices_issue(month: str, domain: str | None) -> None:
    """Issue the month's invoices (PDF, email) once: a second run issues nothing and says so."""
    from sera.billing.invoices import IssueOutcome, Month, issue_month

    try:
        period = Month.parse(month)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from None
    sera = _sera()
    shops = None if domain is None else [_merchant_id(sera, domain)]

    def show(outcome: IssueOutcome) -> None:
        if outcome.status == "issued" and outcome.invoice is not None:
            mail = "emailed" if outcome.emailed else "not emailed (no billing email)"
            invoice = outcome.invoice
            amount = f"{invoice.currency} {invoice.total:>12}"
            click.echo(f"issued {invoice.number}  {amount}  {outcome.merchant_id}  {mail}")
        elif outcome.status == "failed":
            click.echo(f"FAILED {outcome.merchant_id}: {outcome.message}", err=True)

    run = issue_month(sera, period, actor="cli", merchant_ids=shops, on_outcome=show)
    summary = (
        f"{period}: {run.count('issued')} issued, {run.count('already_issued')} already issued, "
        f"{run.count('nothing_to_bill')} with nothing to bill, {run.count('no_plan')} without a plan, "
        f"{run.count('failed')} failed"
    )
    if not run.issued and not run.count("failed"):
        summary += " (nothing new to issue)"
    click.echo(summary)
    if run.count("failed"):
        raise SystemExit(1)


@invoices.command("list")
@click.option("--shop", "domain", required=True, help="The shop's domain.")
def invoices_list(domain: str) -> None:
    """The shop's invoices and credit notes, newest first."""
    from sera.billing.invoices import list_invoices
    from sera.storage.paging import PageRequest

    sera = _sera()
    request = PageRequest(limit=200)
    with sera.uow(_merchant_id(sera, domain), readonly=True) as uow:
        while True:
            page = list_invoices(uow, request)
            for doc in page.items:
                what = doc.period or f"credits {doc.credits_invoice_id}"
                click.echo(f"{doc.number:<14} {doc.kind:<12} {what:<32} {doc.currency} {doc.total:>12}  {doc.id}")
            if page.next_cursor is None:
                break
            request = PageRequest(limit=200, cursor=page.next_cursor)


@invoices.command("credit")
@click.argument("invoice")
@click.option("--reason", required=True, help="Why: printed on the credit note (no customer's personal data).")
@click.option("--amount", default=None, help="How much to credit, tax included (default: all that is left).")
def invoices_credit(invoice: str, reason: str, amount: str | None) -> None:
    """Issue a credit note against INVOICE (its id or its number): the way to correct an invoice."""
    from decimal import Decimal, InvalidOperation

    from sera.billing.invoices import CreditError, InvoiceNotFoundError, credit_invoice

    value = None
    if amount is not None:
        try:
            value = Decimal(amount)
        except InvalidOperation:
            raise click.BadParameter(f"not a number: {amount!r}", param_hint="--amount") from None
    sera = _sera()
    try:
        note = credit_invoice(sera, invoice, reason=reason, amount=value, actor="cli")
    except InvoiceNotFoundError:
        raise click.ClickException(f"no invoice {invoice}") from None
    except CreditError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"issued {note.number}  {note.currency} {note.total}  crediting {note.credits_number}  {note.id}")


if __name__ == "__main__":
    main()


@main.group()
def mail() -> None:
    """Email to the business: what was queued, and sending it now."""


@mail.command("list")
@click.option("--shop", "domain", required=True, help="the shop's domain")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
def mail_list(domain: str, limit: int) -> None:
    """The shop's emails, oldest first: template, status, attempts, last error."""
    from sera.mail.service import list_mail
    from sera.storage.paging import PageRequest

    sera = _sera()
    with sera.uow(_merchant_id(sera, domain), readonly=True) as uow:
        found = list_mail(uow, PageRequest(limit=limit)).items
    for view in found:
        sent = f"sent {view.sent_at:%Y-%m-%d %H:%M} UTC" if view.sent_at else f"{view.attempts} attempts"
        error = f"  ({view.last_error})" if view.last_error else ""
        click.echo(f"{view.created_at:%Y-%m-%d %H:%M}  {view.id}  {view.template:<16} {view.status:<8} {sent}{error}")
    if not found:
        click.echo("no mail yet")


@mail.command("send")
def mail_send() -> None:
    """Send the mail that is due now, in this process (`sera serve` and `sera worker` do it anyway)."""
    from sera.mail.service import send_pending

    click.echo(f"sent {send_pending(_sera())}")


@main.group()
def calendar() -> None:
    """Staff members' own calendars (CalDAV): busy times block slots, bookings are written to them."""


@calendar.command("connect")
@click.option("--shop", "domain", required=True, help="The shop's domain.")
@click.option("--staff", "staff_name", required=True, help="The staff member, by name.")
@click.option("--url", required=True, help="The calendar's own CalDAV URL.")
@click.option("--username", required=True)
@click.option("--password-stdin", is_flag=True, required=True, help="Read the app password from standard input.")
@click.option(
    "--detail",
    type=click.Choice(["service_first_name", "service", "busy"]),
    default="service_first_name",
    show_default=True,
    help="What Sera's events say.",
)
def calendar_connect(domain: str, staff_name: str, url: str, username: str, password_stdin: bool, detail: str) -> None:
    """Check the account against the server, save it (sealed), and read its busy times."""
    from sera.adapters.caldav.wiring import opener
    from sera.calendars.busy import refresh
    from sera.calendars.connections import CalendarSetupError, connect_calendar
    from sera.calendars.ports import CalendarError

    password = sys.stdin.readline().rstrip("\r\n")
    sera = _sera()
    try:
        view = connect_calendar(
            sera,
            opener,
            _merchant_id(sera, domain),
            staff_name=staff_name,
            url=url,
            username=username,
            password=password,
            actor="cli",
            event_detail=detail,
        )
    except (CalendarError, CalendarSetupError) as exc:
        raise click.ClickException(f"not connected: {exc}") from None
    outcome = refresh(sera, opener, view.id)
    click.echo(f"connected {view.staff}'s calendar at {view.host} (busy times {outcome})")


@calendar.command("list")
@click.option("--shop", "domain", required=True)
def calendar_list(domain: str) -> None:
    from sera.calendars.connections import list_calendars

    sera = _sera()
    with sera.uow(_merchant_id(sera, domain), readonly=True) as uow:
        found = list_calendars(uow)
    for view in found:
        read = f"read {view.refreshed_at:%Y-%m-%d %H:%M} UTC" if view.refreshed_at else "not read yet"
        problem = f"  ({view.last_error})" if view.last_error else ""
        click.echo(f"{view.staff:<20} {view.host:<30} {view.status:<9} {view.event_detail:<18} {read}{problem}")
    if not found:
        click.echo("no calendars connected")


@calendar.command("refresh")
def calendar_refresh() -> None:
    """Read every connected calendar's busy times now (`sera serve` and `sera worker` do it every 5 minutes)."""
    from sera.adapters.caldav.wiring import opener
    from sera.calendars.busy import calendar_ids, refresh

    sera = _sera()
    outcomes = [refresh(sera, opener, calendar_id) for calendar_id in calendar_ids(sera)]
    click.echo(f"refreshed {outcomes.count('refreshed')}, failed {outcomes.count('error')}")


@calendar.command("disconnect")
@click.option("--shop", "domain", required=True)
@click.option("--staff", "staff_name", required=True)
def calendar_disconnect(domain: str, staff_name: str) -> None:
    """Forget a staff member's calendar (Sera's events already in it stay)."""
    from sera.calendars.connections import CalendarNotFoundError, disconnect_calendar, list_calendars

    sera = _sera()
    with sera.uow(_merchant_id(sera, domain)) as uow:
        view = next((v for v in list_calendars(uow) if v.staff.lower() == staff_name.strip().lower()), None)
        if view is None:
            raise click.ClickException(f"{staff_name} has no calendar connected")
        try:
            disconnect_calendar(uow, view.staff_id, actor="cli")
        except CalendarNotFoundError:
            raise click.ClickException(f"{staff_name} has no calendar connected") from None
        uow.commit()
    click.echo("disconnected")


@main.group()
def hubspot() -> None:
    """A shop's HubSpot account: its calls and appointments written there."""


@hubspot.command("connect")
@click.option("--shop", "domain", required=True, help="The shop's domain.")
@click.option("--token-stdin", is_flag=True, required=True, help="Read the private app's access token from stdin.")
def hubspot_connect(domain: str, token_stdin: bool) -> None:
    """Connect with a private app's access token (checked with HubSpot, then kept sealed)."""
    from sera.integrations.hubspot import HubspotError, connect

    token = sys.stdin.readline().strip()
    sera = _sera()
    try:
        view = connect(sera, _merchant_id(sera, domain), token, actor="cli")
    except HubspotError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"connected to HubSpot account {view.portal_id}; {view.pending} waiting to be sent")


@hubspot.command("status")
@click.option("--shop", "domain", required=True, help="The shop's domain.")
def hubspot_status(domain: str) -> None:
    """The connection, the last sync, what waits, what failed and why."""
    from sera.integrations.hubspot import status

    sera = _sera()
    with sera.uow(_merchant_id(sera, domain), readonly=True) as uow:
        view = status(uow)
    if view.status == "not_connected":
        click.echo("HubSpot is not connected (`sera hubspot connect --shop DOMAIN --token-stdin`)")
        return
    click.echo(f"HubSpot account {view.portal_id}: {view.status}")
    click.echo(f"last sync:  {f'{view.last_sync_at:%Y-%m-%d %H:%M} UTC' if view.last_sync_at else 'never'}")
    click.echo(f"pending:    {view.pending}")
    click.echo(f"failed:     {view.failed}")
    if view.paused_until is not None:
        click.echo(f"paused until {view.paused_until:%Y-%m-%d %H:%M:%S} UTC")
    if view.last_error and view.last_error_at is not None:
        click.echo(f"last error: {view.last_error} ({view.last_error_at:%Y-%m-%d %H:%M} UTC)")
    for failure in view.recent_failures:
        click.echo(f"  failed {failure.kind} {failure.object_id}: {failure.error}")
