"""CLI: python -m hub serve | demo | migrate | create-agent | import-customers | mail-worker."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from hub import gc_tuning, log_redaction
from hub.app import build_hub, create_app
from hub.app_keys import DEMO_LOGINS
from hub.event_loop import loop_factory
from hub.settings import Settings, load_settings


async def _serve(settings: Settings) -> None:
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()  # migrations, queues, demo data
    frozen = gc_tuning.tune(settings.gc_thresholds)  # what exists now lives as long as we do
    log.info(
        "garbage collector: thresholds %s, %d startup objects frozen",
        settings.gc_thresholds,
        frozen,
    )
    log.info("event loop: %s", type(asyncio.get_running_loop()).__module__)
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    base = f"http://{settings.host}:{settings.port}"
    logins = app[DEMO_LOGINS]
    print(f"crmhub is running. Agent console: {base}/console/", flush=True)
    if logins:
        print("Demo logins (shown once; passwords are stored hashed):")
        for login in logins:
            print(f"  {login.username:<8} {login.password}   ({login.role})")
    if settings.demo_data:
        print(f"Send a test SMS: python scripts/send_test_sms.py --hub {base}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


log = logging.getLogger("hub")


def run_server(settings: Settings) -> None:
    with asyncio.Runner(loop_factory=loop_factory(settings)) as runner:
        runner.run(_serve(settings))


async def _migrate(settings: Settings) -> None:
    hub = build_hub(settings)
    await hub.store.migrate()
    await hub.store.close()
    print("database is at the latest migration")


async def _create_agent(settings: Settings, args: argparse.Namespace) -> None:
    from hub.actions.create_agent import create_agent

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = args.password or getpass.getpass("password: ")
    hub = build_hub(settings)
    await hub.store.migrate()
    try:
        agent = await create_agent(
            hub,
            args.username,
            password,
            role=args.role,
            display_name=args.name or "",
            queues=args.queues.split(",") if args.queues else None,
        )
    finally:
        await hub.store.close()
    print(f"created {agent.role} {agent.username} ({agent.id})")


def _progress_bar(total: int) -> Callable[[int], None]:
    started = time.monotonic()

    def show(done: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        rate = done / max(time.monotonic() - started, 1e-6)
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} rows ({rate:,.0f}/s)"
        )
        sys.stderr.flush()

    return show


async def _import(settings: Settings, args: argparse.Namespace, text: str) -> None:
    from hub.customer_import import import_customers

    total = max(0, text.count("\n") - 1)
    hub = build_hub(settings)
    await hub.store.migrate()
    try:
        report = await import_customers(
            hub, text, dry_run=args.dry_run, progress=_progress_bar(total)
        )
    finally:
        await hub.store.close()
    sys.stderr.write("\n")
    print(json.dumps(report.as_dict(), indent=2))


async def _mail_worker(settings: Settings) -> None:
    """Poll every configured mailbox in this process (set email.poll_in_hub = false for the hub)."""
    from hub.app import create_app
    from hub.app_keys import HUB
    from hub.mail import mailbox_worker

    app = create_app(settings.model_copy(update={"run_background": False}))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        hub = app[HUB]
        workers = [mailbox_worker(hub, m).run() for m in settings.email.mailboxes]
        if not workers:
            print("no [[email.mailboxes]] configured")
            return
        await asyncio.gather(*workers)
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crmhub")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the hub")
    sub.add_parser("demo", help="run the hub with demo agents and customers")
    sub.add_parser("migrate", help="upgrade the database schema")
    create = sub.add_parser("create-agent", help="add an agent, supervisor or admin")
    create.add_argument("username")
    create.add_argument("--password", help="visible to other users in `ps`; prefer a prompt")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create.add_argument("--role", default="agent", choices=["agent", "supervisor", "admin"])
    create.add_argument("--name")
    create.add_argument("--queues", help="comma-separated queue ids")
    sub.add_parser("mail-worker", help="read the configured IMAP mailboxes")
    imp = sub.add_parser("import-customers", help="import customers (and orders) from CSV")
    imp.add_argument("file")
    imp.add_argument("--dry-run", action="store_true", help="report errors, store nothing")
    args = parser.parse_args(argv)
    settings = load_settings(**({"demo_data": True} if args.command == "demo" else {}))
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    log_redaction.install(settings)
    try:
        if args.command in ("serve", "demo"):
            run_server(settings)
        elif args.command == "migrate":
            asyncio.run(_migrate(settings))
        elif args.command == "create-agent":
            asyncio.run(_create_agent(settings, args))
        elif args.command == "mail-worker":
            asyncio.run(_mail_worker(settings))
        elif args.command == "import-customers":
            text = Path(args.file).read_text(encoding="utf-8-sig")
            asyncio.run(_import(settings, args, text))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
