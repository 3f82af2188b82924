"""Command line: `python -m server COMMAND --help`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from . import demo, ingest, invitation_csv, logs, media_downloads, sessions, templates, users, vapid
from .auth import User, hash_password
from .db import Database, Tx
from .errors import AppError
from .http_protocol import HeaderDeadlineProtocol
from .passwords import password_problem
from .realtime import Hub
from .settings import MissingSetting, Settings
from .store import Store
from .whatsapp import CloudAPI, SendError
from .ws_protocol import InboxWebSocketProtocol

log = logging.getLogger("server")


class InboxServer(uvicorn.Server):
    """uvicorn, plus: dashboards are told "going away" (1001) before connections drop."""

    async def shutdown(self, sockets: Any = None) -> None:
        app = self.config.loaded_app if hasattr(self.config, "loaded_app") else None
        hub = None
        while app is not None and hub is None:
            state = getattr(app, "state", None)
            hub = getattr(state, "hub", None) if state is not None else None
            app = getattr(app, "app", None)
        if hub is not None:
            await hub.close_sockets(1001, "server shutting down")
        await super().shutdown(sockets)


def uvicorn_config(app: Any, host: str, port: int, **kwargs: Any) -> uvicorn.Config:
    # A client that stopped reading must not hold shutdown forever.
    kwargs.setdefault("timeout_graceful_shutdown", 5)
    # The app logs every request itself (server.logs), with its request id.
    kwargs.setdefault("access_log", False)
    # Live events are small JSON written once for every dashboard: compressing them per
    # connection costs each one a zlib context and CPU per frame (bench/README.md, "permessage-deflate").
    kwargs.setdefault("ws_per_message_deflate", False)
    kwargs.setdefault("ws", InboxWebSocketProtocol)
    # Slow headers (slowloris) are cut off after a few seconds (server/http_protocol.py).
    kwargs.setdefault("http", HeaderDeadlineProtocol)
    config = uvicorn.Config(app, host=host, port=port, lifespan="on", proxy_headers=True, **kwargs)
    # uvicorn logs a websocket's URL (`?token=` of older scripts) and, at debug level, its
    # headers (the session cookie): its handlers, set up just now, redact them.
    logs.redact_all_handlers()
    return config


def with_store(settings: Settings, work: Callable[[Store], Awaitable[int]]) -> int:
    async def run() -> int:
        db = Database(settings.database_url)
        await db.connect()
        try:
            return await work(Store(db, settings.default_region))
        finally:
            await db.disconnect()

    return asyncio.run(run())


def with_cloud(settings: Settings, work: Callable[[Store, CloudAPI], Awaitable[int]]) -> int:
    """`with_store`, plus a Cloud API client, for commands that talk to Meta."""

    async def work_with_client(store: Store) -> int:
        async with httpx.AsyncClient(timeout=settings.send_timeout) as client:
            return await work(store, CloudAPI.from_settings(client, settings))

    return with_store(settings, work_with_client)


# Where each setting that talking to Meta needs is found, for the first-start message.
WHERE_TO_FIND = {
    "WHATSAPP_APP_SECRET": "App settings > Basic > App secret (checks webhook signatures)",
    "WHATSAPP_VERIFY_TOKEN": "any string you choose; type the same one in Meta's webhook setup",
    "WHATSAPP_ACCESS_TOKEN": "a permanent token of a system user (Business settings > System users)",
    "WHATSAPP_PHONE_NUMBER_ID": "WhatsApp > API Setup > Phone number ID (an id, not the number)",
}


def shown_url(url: str) -> str:
    """A database URL fit for printing: the password replaced by ***."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def python_command() -> str:
    """How to run this interpreter, for commands we tell the user to type."""
    try:
        return str(Path(sys.executable).relative_to(Path.cwd()))  # `.venv/bin/python` in a checkout
    except ValueError:
        return "python"


def first_start_notes(settings: Settings, users: int, url: str) -> str:
    """One screen: which Meta settings are missing and where they come from; the first admin."""
    lines = []
    missing = settings.missing_for_meta()
    if missing:
        lines += [
            "Not connected to WhatsApp yet: these settings are missing.",
            *(f"  {name:<26}{WHERE_TO_FIND[name]}" for name in missing),
            "Set them in the environment or in a .env file in this directory (KEY=value lines),",
            'then restart. Step by step: README.md, "Connect your WhatsApp number".',
            "Until then the dashboard and the API work, but no message comes in or goes out.",
            "To see the whole loop without a Meta account: make demo",
            "",
        ]
    if not users:
        lines += [
            f"No account exists yet in {shown_url(settings.database_url)}. Create the first admin",
            f"(it asks for a password), then log in at {url}:",
            f"  {python_command()} -m server create-user you@example.com --admin",
            "",
        ]
    return "\n".join(lines)


async def reach_broadcast(store: Store, url: str) -> int:
    """Connect to the broadcast channel once and leave, so a wrong URL is found before serving."""
    hub = Hub(store.db, url)
    await hub.start()
    await hub.stop()
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from .app import create_app

    async def count_users(store: Store) -> int:
        return int(await store.db.fetch_val("SELECT COUNT(*) FROM users"))

    try:
        users = with_store(settings, count_users)
    except Exception as exc:  # say which database, instead of a start-up traceback
        print(f"error: cannot open the database {shown_url(settings.database_url)}: {exc}", file=sys.stderr)
        return 1
    if settings.broadcast_url.split(":", 1)[0].lower() != "memory":
        try:
            with_store(settings, lambda store: reach_broadcast(store, settings.broadcast_url))
        except Exception as exc:  # one line naming the setting, not uvicorn's start-up traceback
            print(f"error: cannot reach BROADCAST_URL={shown_url(settings.broadcast_url)}: {exc}", file=sys.stderr)
            return 1
    notes = first_start_notes(settings, users, f"http://{args.host}:{args.port}")
    if notes:
        print(notes, file=sys.stderr)
    config = uvicorn_config(
        create_app(settings),
        args.host,
        args.port,
        log_level=args.log_level,
        ws_per_message_deflate=args.ws_compression == "deflate",
    )
    try:
        InboxServer(config).run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl+C once it has shut down cleanly
        pass
    return 0


class PasswordNotGiven(Exception):
    """Why no usable password was read; printed as one line, exit status 2."""


def read_new_password(given: str | None) -> str:
    """`--password`, else asked twice on a terminal, else one line of stdin (a script)."""
    if given is not None:
        password = given
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            raise PasswordNotGiven("the two passwords are not the same: nothing was changed")
    else:
        line = sys.stdin.readline()
        if not line:
            raise PasswordNotGiven("no password given: pass --password or type it when asked")
        password = line.rstrip("\r\n")
    if not password:
        raise PasswordNotGiven("no password given: pass --password or type it when asked")
    problem = password_problem(password)
    if problem:
        raise PasswordNotGiven(problem)
    return password


# Who the command line acts as in history lines ("An admin (command line) deactivated Ana").
CLI_ACTOR = User(id=0, email="", is_admin=True, name="An admin (command line)")


async def tell_servers(store: Store, settings: Settings) -> None:
    """With several processes (BROADCAST_URL), running servers apply what the CLI wrote now;
    a single memory:// server finds ended tokens within 2 s (its session sweep)."""
    if settings.broadcast_url.split(":", 1)[0].lower() == "memory":
        return
    hub = Hub(store.db, settings.broadcast_url)
    try:
        await hub.start()
        await hub.announce()
    except Exception as exc:
        print(f"note: cannot reach BROADCAST_URL to tell running servers now: {exc}", file=sys.stderr)
    finally:
        with contextlib.suppress(Exception):
            await hub.stop()


async def user_row(store: Store, email: str) -> Any:
    return await store.db.fetch_one(
        "SELECT id, email, deactivated_at FROM users WHERE email = :e", e=email.strip().lower()
    )


def cmd_create_user(args: argparse.Namespace, settings: Settings) -> int:
    email = users.check_email(args.email)  # before any prompt: a typo is told at once
    try:
        password = read_new_password(args.password)
    except PasswordNotGiven as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def work(store: Store) -> int:
        user_id = await store.create_user(email, await hash_password(password), args.admin, args.name)
        print(f"created {'admin' if args.admin else 'user'} {email} (id {user_id})")
        return 0

    return with_store(settings, work)


def cmd_list_users(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> int:
        rows = await users.list_users(store.db)
        if not rows:
            print("no users yet: create-user EMAIL --admin makes the first admin")
            return 0
        width = max(len(u["email"]) for u in rows)
        print(f"{'id':>4}  {'email':<{width}}  role   active  name")
        for u in rows:
            active = "yes" if u["active"] else "no"
            print(f"{u['id']:>4}  {u['email']:<{width}}  {u['role']:<5}  {active:<6}  {u['name']}")
        return 0

    return with_store(settings, work)


def cmd_set_password(args: argparse.Namespace, settings: Settings) -> int:
    async def find(store: Store) -> int:
        row = await user_row(store, args.email)
        return -1 if row is None else int(row["id"])

    if with_store(settings, find) < 0:
        print(f"error: no user {args.email}", file=sys.stderr)
        return 1
    try:
        password = read_new_password(args.password)
    except PasswordNotGiven as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def work(store: Store) -> int:
        row = await user_row(store, args.email)
        assert row is not None
        hashed = await hash_password(password)

        async def job(tx: Tx) -> list[int]:
            await tx.execute("UPDATE users SET password_hash = :h WHERE id = :id", h=hashed, id=row["id"])
            return await sessions.end_sessions_of(store, tx, row["id"], "the password was changed")

        ended = await store.db.write(job)
        await tell_servers(store, settings)
        print(f"new password set for {row['email']}; {len(ended)} session(s) signed out (script tokens kept)")
        return 0

    return with_store(settings, work)


def cmd_deactivate_user(args: argparse.Namespace, settings: Settings) -> int:
    """As an admin does it in the dashboard: no login, tokens end, websockets close 4401,
    conversations back to the unassigned queue."""

    async def work(store: Store) -> int:
        row = await user_row(store, args.email)
        if row is None:
            print(f"error: no user {args.email}", file=sys.stderr)
            return 1
        if row["deactivated_at"] is not None:
            print(f"{row['email']} is already deactivated")
            return 0
        queued = await store.db.fetch_val("SELECT COUNT(*) FROM conversations WHERE owner_id = :u", u=row["id"])
        await users.update_user(store, CLI_ACTOR, row["id"], {"active": False})
        await tell_servers(store, settings)
        print(f"deactivated {row['email']}: signed out everywhere, {queued} conversation(s) back to the queue")
        return 0

    return with_store(settings, work)


def cmd_create_token(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> int:
        row = await user_row(store, args.email)
        if row is None or row["deactivated_at"] is not None:
            print(f"error: no user {args.email}" + (" (deactivated)" if row else ""), file=sys.stderr)
            return 1
        token, token_id = await sessions.issue(store, row["id"], sessions.SCRIPT, sessions.token_name(args.name))
        print(token)
        print(f"token {token_id} for {row['email']}: shown only now; revoke-token {token_id} ends it", file=sys.stderr)
        return 0

    return with_store(settings, work)


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def cmd_list_tokens(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> int:
        kinds = (sessions.SCRIPT, sessions.SESSION) if args.all else (sessions.SCRIPT,)
        tokens = await sessions.list_tokens(store.db, sessions.Policy.from_settings(settings), kinds)
        if not tokens:
            print("no tokens" if args.all else "no script tokens (create-token EMAIL makes one)")
            return 0
        print(f"{'id':>4}  kind     {'user':<28}  {'name':<20}  created (UTC)     last used")
        for t in tokens:
            name = t["name"] or "-"
            print(
                f"{t['id']:>4}  {t['kind']:<7}  {t['userEmail']:<28}  {name:<20}  "
                f"{_when(t['createdAt']):<16}  {_when(t['lastUsedAt'])}"
            )
        return 0

    return with_store(settings, work)


def cmd_revoke_token(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> int:
        view = await sessions.revoke(store, args.id, None)
        await tell_servers(store, settings)
        named = f" ({view['name']})" if view["name"] else ""
        print(f"revoked {view['kind']} token {view['id']}{named} of {view['userEmail']}")
        return 0

    return with_store(settings, work)


def cmd_import_invitations(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"error: no file {path}", file=sys.stderr)
        return 1

    async def work(store: Store) -> int:
        user_id = await store.db.fetch_val("SELECT id FROM users WHERE email = :e", e=args.user.strip().lower())
        if user_id is None:
            print(f"error: no user {args.user}", file=sys.stderr)
            return 1
        try:
            result = await invitation_csv.import_invitations(store, user_id, path.read_bytes())
        except invitation_csv.UnreadableFile as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            return 1
        print(f"imported {result['imported']} invitation(s)")
        if result["errors"]:
            print(f"{len(result['errors'])} row(s) of {path} not imported:", file=sys.stderr)
        for err in result["errors"]:
            print(f"  line {err['line']}: {err['error']}", file=sys.stderr)
        return 0 if not result["errors"] else 1

    return with_store(settings, work)


def cmd_replay_webhooks(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> int:
        rows = await store.db.fetch_all(
            "SELECT id FROM webhook_events WHERE id >= :since AND (:all = 1 OR processed = 0) ORDER BY id",
            since=args.since,
            all=1 if args.all else 0,
        )
        failed = 0
        for row in rows:
            result = await ingest.replay(store.db, store, row["id"])
            assert result is not None
            failed += 0 if result.processed else 1
            print(f"event {row['id']}: {'processed' if result.processed else 'NOT processed'}: {result.summary()}")
        print(f"replayed {len(rows)} webhook event(s), {failed} still not fully processed")
        return 0

    return with_store(settings, work)


def cmd_download_media(args: argparse.Namespace, settings: Settings) -> int:
    """Download pending inbound media now (and queue media of messages stored before
    downloads existed). Exit status 1 if some file could still not be downloaded."""
    if not settings.whatsapp_access_token:
        print("error: WHATSAPP_ACCESS_TOKEN is not set: downloading media needs it", file=sys.stderr)
        return 1

    async def work(store: Store, cloud: CloudAPI) -> int:
        service = media_downloads.MediaDownloads(store.db, store, cloud, settings)
        queued = await service.backfill()
        if queued:
            print(f"queued {queued} file(s) of older messages")
        counts = await service.download_now(retry_failed=args.retry_failed)
        print(
            f"tried {counts['tried']} file(s): {counts['ready']} downloaded, {counts['pending']} to retry later, "
            f"{counts['unavailable']} unavailable"
        )
        return 0 if counts["tried"] == counts["ready"] else 1

    return with_cloud(settings, work)


def cmd_sync_templates(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store, cloud: CloudAPI) -> int:
        try:
            items = await templates.TemplateService(store.db, store, cloud, settings).sync()
        except MissingSetting as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except SendError as exc:
            print(f"error: listing the templates from WhatsApp failed: {exc}", file=sys.stderr)
            return 1
        print(f"synced {len(items)} template(s)")
        for t in items:
            params = f", {t['parameterCount']} parameter(s)" if t["parameterCount"] else ""
            print(f"  {t['name']} ({t['language']}): {t['status']}, {t['category'] or 'no category'}{params}")
        return 0

    return with_cloud(settings, work)


def cmd_fake_meta(args: argparse.Namespace, settings: Settings) -> int:
    from .fake_meta import serve

    asyncio.run(
        serve(
            args.host,
            args.port,
            webhook_url=args.webhook_url,
            app_secret=args.app_secret,
            access_token=args.access_token,
            phone_number_id=args.phone_number_id,
            status_delay=args.status_delay,
        )
    )
    return 0


def cmd_vapid_keys(args: argparse.Namespace, settings: Settings) -> int:
    """The server's Web Push key pair, made now if the database has none (server/vapid.py)."""

    async def work(store: Store) -> int:
        keys = await vapid.ensure_keys(store.db)
        print(f"VAPID public key: {keys.public_key}")
        print("(kept in the database, table vapid_keys; every process and restart uses the same pair)")
        return 0

    return with_store(settings, work)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    return demo.run(args, settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m server", description="WhatsApp Business inbox server.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="serve the inbox (settings from the environment / .env)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--log-level", default="info")
    p.add_argument(
        "--ws-compression",
        choices=["none", "deflate"],
        default="none",
        help="accept permessage-deflate on dashboard websockets (off: see bench/README.md)",
    )
    p.set_defaults(func=cmd_serve)

    password_help = "at least 8 characters, not a common one (asked for twice when left out; or one line on stdin)"
    p = sub.add_parser("create-user", help="create an account that can log in to the dashboard")
    p.add_argument("email")
    p.add_argument("--password", help=password_help)
    p.add_argument("--admin", action="store_true", help="admins see every conversation, unassigned included")
    p.add_argument("--name", help="the name people see (default: the part of the email before the @)")
    p.set_defaults(func=cmd_create_user)

    p = sub.add_parser("list-users", help="list the accounts: id, email, role, active, name")
    p.set_defaults(func=cmd_list_users)

    p = sub.add_parser("set-password", help="set a user's password (their sessions are signed out)")
    p.add_argument("email")
    p.add_argument("--password", help=password_help)
    p.set_defaults(func=cmd_set_password)

    p = sub.add_parser(
        "deactivate-user", help="stop an account: no login, tokens end, websockets close, conversations to the queue"
    )
    p.add_argument("email")
    p.set_defaults(func=cmd_deactivate_user)

    p = sub.add_parser("create-token", help="print a new API token for a user (for scripts; shown only once)")
    p.add_argument("email")
    p.add_argument("--name", help="what the token is for, shown by list-tokens (e.g. crm-sync)")
    p.set_defaults(func=cmd_create_token)

    p = sub.add_parser("list-tokens", help="list script tokens (never their secret)")
    p.add_argument("--all", action="store_true", help="also list logins (sessions)")
    p.set_defaults(func=cmd_list_tokens)

    p = sub.add_parser("revoke-token", help="end a token (its id from list-tokens); its websockets close")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_revoke_token)

    p = sub.add_parser("import-invitations", help="import invitations from a CSV file (columns: name, phone)")
    p.add_argument("file")
    p.add_argument("--user", required=True, help="email of the account that will own them")
    p.set_defaults(func=cmd_import_invitations)

    p = sub.add_parser("replay-webhooks", help="re-process stored webhook bodies (idempotent)")
    p.add_argument("--since", type=int, default=0, help="first webhook event id to replay")
    p.add_argument("--all", action="store_true", help="also replay bodies that were processed")
    p.set_defaults(func=cmd_replay_webhooks)

    p = sub.add_parser("fake-meta", help="run the stand-in for Meta's Cloud API on loopback")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    p.add_argument(
        "--webhook-url", required=True, help="where to post signed webhooks, e.g. http://127.0.0.1:8000/webhook"
    )
    p.add_argument("--app-secret", required=True)
    p.add_argument("--access-token", default=None, help="require this bearer token on API calls")
    p.add_argument("--phone-number-id", default="1000000001")
    p.add_argument("--status-delay", type=float, default=0.5, help="seconds between sent, delivered and read")
    p.set_defaults(func=cmd_fake_meta)

    # Media downloads and templates live in server/media_downloads.py and server/templates.py.
    p = sub.add_parser("download-media", help="download pending inbound media now (retries by hand)")
    p.add_argument(
        "--retry-failed", action="store_true", help="also retry files marked unavailable (with a fresh set of attempts)"
    )
    p.set_defaults(func=cmd_download_media)

    p = sub.add_parser("sync-templates", help="refresh the local copy of the account's message templates")
    p.set_defaults(func=cmd_sync_templates)

    p = sub.add_parser("vapid-keys", help="make (once) and print the server's Web Push (VAPID) public key")
    p.set_defaults(func=cmd_vapid_keys)

    p = sub.add_parser("demo", help="try it without a Meta account: inbox, Meta stand-in, simulated customers")
    demo.add_arguments(p)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.setup(getattr(args, "log_level", "info"))
    try:
        code: int = args.func(args, Settings.from_env())
        return code
    except AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
