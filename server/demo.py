"""`python -m server demo` (`make demo`): the whole loop on one machine, no Meta account needed.

One asyncio process runs three things:

- the inbox server (the real app, on its own SQLite file, `data/demo.db` by default),
- the stand-in for Meta's Cloud API (`fake_meta.py`) on loopback, wired to the inbox both ways
  with one app secret: the inbox's WHATSAPP_API_BASE points at the stand-in, the stand-in posts
  signed webhooks to the inbox's `/webhook`,
- simulated customers, who write now and then through the stand-in, answer the agents'
  replies, and read them (the stand-in reports sent, delivered and read for every reply).

It creates a small team (an admin and two agents) with a documented password, a few invitations and, on the first run,
a short history; re-running it continues where the last run stopped. Ctrl+C stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import math
import random
import secrets
import signal
import socket
import struct
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from . import numbers, quick_replies
from .errors import Conflict
from .fake_meta_templates import rich_templates
from .sends import Target, TextSend
from .settings import Settings

log = logging.getLogger(__name__)

DEMO_DATABASE_URL = "sqlite:///./data/demo.db"
PASSWORD = "demo-password"
ADMIN_EMAIL = "admin@demo.local"
AGENT_EMAIL = "sam@demo.local"
SECOND_AGENT_EMAIL = "ana@demo.local"
# The bakery's team: (email, name, admin). Agents see their own conversations and the
# unassigned queue (AGENTS_SEE_UNASSIGNED=true here), so they can claim from it.
TEAM = (
    (ADMIN_EMAIL, "Rosa (owner)", True),
    (AGENT_EMAIL, "Sam", False),
    (SECOND_AGENT_EMAIL, "Ana", False),
)
PHONE_NUMBER_ID = "1000000001"
# The bakery's second WhatsApp number (its café), on the same Meta app: the stand-in serves both.
CAFE_NUMBER_ID = "1000000002"
VERIFY_TOKEN = "demo-verify-token"
WABA_ID = "2000000002"

THANKS = [
    "Thank you! 🙏",
    "Perfect, thanks a lot!",
    "Great, see you then 👋",
    "Thanks, that helps!",
    "Awesome 😊",
    "Ok, noted. Thanks!",
    "Wonderful, thank you so much",
]
REACTIONS = ["👍", "❤️", "🙏", "😊"]
# What a customer who got no answer writes, once, before going quiet until someone replies.
NUDGE_AFTER_TICKS = 8
NUDGES = ["Hello? 🙂", "Any news?", "Sorry to insist, did you see my message?", "Still there?"]

# (owner, shortcut, text): the admin's are the team's, the agent's are their own.
DEMO_QUICK_REPLIES = [
    (ADMIN_EMAIL, "hours", "Hi {{name}}! We are open 7:00-18:00, Monday to Saturday."),
    (ADMIN_EMAIL, "ready", "Your order is ready for pick-up, {{name}}. See you soon! – {{agent}}"),
    (ADMIN_EMAIL, "delivery", "We deliver within 5 km for 2,000 TSh. Shall we bring it to you?"),
    (AGENT_EMAIL, "thanks", "Thank you, {{name}}! Have a lovely day. – {{agent}}"),
]


@dataclass(frozen=True)
class Photo:
    """A line that is a picture with a caption (served by the stand-in, downloaded by the inbox)."""

    caption: str
    colours: tuple[tuple[int, int, int], ...] = ((250, 218, 221), (255, 255, 255), (214, 40, 57))

    def png(self, width: int = 240, height: int = 160) -> bytes:
        """A small striped PNG, made here so the demo ships no binary files."""
        rows = b"".join(
            b"\x00" + b"".join(bytes(self.colours[((x + y) // 16) % len(self.colours)]) for x in range(width))
            for y in range(height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b"")
        )


@dataclass(frozen=True)
class Voice:
    """A voice note: a few seconds of murmur, made here as WAV (no codec library needed)."""

    seconds: float = 3.0

    def wav(self, rate: int = 8000) -> bytes:
        frames = bytearray()
        for i in range(int(self.seconds * rate)):
            t = i / rate
            syllables = 0.5 + 0.5 * math.sin(2 * math.pi * 3.1 * t)  # the rhythm of speech
            pitch = 170 + 30 * math.sin(2 * math.pi * 0.7 * t)
            sample = syllables * (math.sin(2 * math.pi * pitch * t) + 0.4 * math.sin(4 * math.pi * pitch * t))
            frames += struct.pack("<h", int(6000 * sample))
        header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(frames), b"WAVE", b"fmt ", 16, 1, 1, rate,
                             rate * 2, 2, 16, b"data", len(frames))  # fmt: skip
        return header + bytes(frames)


Line = str | Photo | Voice
Turn = list[Line]  # what a customer writes in one go, then waits for an answer


@dataclass
class Customer:
    """A simulated customer. `topics` are short exchanges: the customer writes a turn, waits
    until an agent's reply reaches them (a failed reply does not), writes the next turn, and
    after the last one thanks or reacts. Nobody answering: one nudge, then silence."""

    name: str
    phone: str  # E.164
    invited_by: str | None  # email of the account that invited them; None: the unassigned inbox
    opened_minutes_ago: float  # when the first turn of the first topic was written (seeded)
    topics: list[list[Turn]]
    chattiness: float = 1.0
    patient: bool = False  # never nudges (the conversation whose 24-hour window has closed)
    fails_first_reply: int = 0  # Meta error code of the seeded reply that fails (0: none)
    writes_to: str = PHONE_NUMBER_ID  # which business number they write to
    profile: str | None = None  # their WhatsApp profile name, when not the invitation's name

    @property
    def profile_name(self) -> str:
        return self.profile or self.name

    @property
    def wa_id(self) -> str:
        return self.phone.lstrip("+")


def customers() -> list[Customer]:
    return [
        Customer(
            "Amina Juma",
            "+255712345001",
            ADMIN_EMAIL,
            42,
            [
                [["Hi! Do you still have sourdough loaves today? 🍞"], ["Yes please! I'll come by around 5."]],
                [["Is the chocolate cake nut-free? My son is allergic."], ["Then I'll take the vanilla one 🙂"]],
                [["What time do you close on Sundays?"]],
                [["Do you deliver to Mikocheni?", "It's for my mother's birthday on Friday"], ["Can I pay by M-Pesa?"]],
            ],
            1.2,
            profile="Amina 🌸",  # the dashboard shows both names: the invitation's and hers
        ),
        Customer(
            "Lukas Becker",
            "+4915123456789",
            ADMIN_EMAIL,
            25,
            [
                [
                    [
                        "Hello, I'd like to order a birthday cake for Saturday.",
                        Photo("This is the kind of design Mia loves"),
                        Voice(3.0),
                    ],
                    ["Something with strawberries, for about 12 people. Can you write 'Alles Gute, Mia!' on it?"],
                    ["Would 3 pm on Saturday work for pick-up?"],
                ],
                [["How much would a second, smaller cake be?"], ["Ok, let's do that too. Do you have candles? 🎂"]],
            ],
        ),
        Customer(
            "Ngozi Okafor",
            "+2348031234567",
            AGENT_EMAIL,
            15,
            [
                [
                    ["Good morning! Is your office catering menu still available?"],
                    ["We'd be 25 people on Thursday. Could you add a vegan option?"],
                    ["Great. Can you send the invoice to ngozi@example.com?"],
                ],
                [["Our meeting moved to 11:30, is that still OK?"]],
            ],
        ),
        Customer(
            "Jordan Reyes",
            "+14155550132",
            None,
            3,
            [
                [["hey, are you open on public holidays?"], ["cool. is there parking nearby?"]],
                [["found you on Instagram, love the cinnamon rolls", "do you do gluten-free bread?"]],
                [["can I book a table for 4 tomorrow morning?"]],
            ],
            0.8,
        ),
        Customer(
            "Kwame Mensah",
            "+233241234567",
            ADMIN_EMAIL,
            50,
            [
                [["Hello, is my order #2213 ready? I paid yesterday."], ["Great, I'll come at 2. Thanks!"]],
                [["Can I add two meat pies to my next order?"]],
            ],
            0.7,
            # WhatsApp's answer when the customer has not accepted its latest terms yet: the
            # seeded reply fails with Meta's reason; Retry then goes through.
            fails_first_reply=131026,
        ),
        Customer(
            "Fatuma Hassan",
            "+255754987654",
            ADMIN_EMAIL,
            26 * 60,  # more than 24 hours ago: only a template can reach her now
            [
                [
                    ["Hello! Do you make wedding cakes? Ours is on 14 June, about 120 guests."],
                    ["Yes please! Could we come for a tasting next week?"],
                ],
            ],
            0.5,
            patient=True,
        ),
        Customer(
            "Grace Mollel",
            "+255765111222",
            SECOND_AGENT_EMAIL,
            8,
            [
                [["Hi café! Are you open for breakfast tomorrow at 7?"], ["Lovely, a table for two please ☕"]],
            ],
            0.8,
            writes_to=CAFE_NUMBER_ID,
        ),
    ]


# Invited, but has not written yet: shows an invitation without a conversation.
QUIET_INVITATION = ("Mariana Souza", "+5511987650123", ADMIN_EMAIL)
SEED_REPLY = "Hi Amina! Yes, we have six left. Shall I keep one for you?"
FAILED_REPLY = "Hi Kwame, yes, it's ready! You can pick it up after 2 pm."


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL; None for other databases and in-memory ones."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :].split("?", 1)[0]
    return path if path and path != ":memory:" else None


class DemoFailed(Exception):
    """The demo cannot start; the message says why and what to do."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "The inbox, a stand-in for Meta's Cloud API wired to it, and simulated customers, in one "
        "process on a database of its own; no Meta account needed. Ctrl+C stops it."
    )
    p.add_argument("--host", default="127.0.0.1", help="where the inbox listens (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="the inbox's port (default: %(default)s)")
    p.add_argument(
        "--meta-port", type=int, default=8100, help="the Meta stand-in's port, on 127.0.0.1 (default: %(default)s)"
    )
    p.add_argument(
        "--database-url",
        default=DEMO_DATABASE_URL,
        help="the demo's own database, never DATABASE_URL (default: %(default)s)",
    )
    p.add_argument(
        "--customer-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="average wait between simulated customer messages; each wait is 0.5 to 1.5 "
        "times this (default: %(default)s)",
    )
    p.add_argument(
        "--status-delay",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds between sent, delivered and read of each reply (default: %(default)s)",
    )
    p.add_argument("--log-level", default="info", help="debug also shows one line per HTTP request")


def run(args: argparse.Namespace, settings: Settings | None = None) -> int:
    if args.customer_interval <= 0 or args.status_delay < 0:
        print("error: --customer-interval must be above 0 and --status-delay at least 0", file=sys.stderr)
        return 2
    if args.log_level.lower() != "debug":
        # The simulated loop already tells its story; request lines are for operators.
        logging.getLogger("server.access").setLevel(logging.WARNING)
    try:
        return asyncio.run(Demo(args, settings or Settings()).main())
    except KeyboardInterrupt:  # Ctrl+C before the demo's own handler was installed
        return 0


class _NoSignals:
    """uvicorn servers that leave Ctrl+C to the demo, which stops all of them together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int, what: str, flag: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise DemoFailed(
            f"{what} cannot listen on {host}:{port} ({exc.strerror or exc}). Is `make run` or "
            f"another demo running? Choose another port with {flag}."
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class Demo:
    def __init__(self, args: argparse.Namespace, settings: Settings) -> None:
        from .__main__ import InboxServer, uvicorn_config
        from .app import create_app
        from .fake_meta import FakeMeta

        self.args = args
        self.url = f"http://{args.host}:{args.port}"
        self.meta_url = f"http://127.0.0.1:{args.meta_port}"
        app_secret, access_token = secrets.token_hex(16), secrets.token_urlsafe(24)
        extra: dict[str, Any] = {}
        known = {f.name for f in dataclasses.fields(Settings)}
        if "whatsapp_business_account_id" in known:  # templates, listed by the stand-in
            extra["whatsapp_business_account_id"] = WABA_ID
        if "media_dir" in known:
            # Next to the demo database: nothing of the demo lands in the real inbox's files.
            db_file = sqlite_path(args.database_url)
            extra["media_dir"] = str(Path(db_file).parent / "demo-media" if db_file else Path("data/demo-media"))
        self.settings = settings.with_(
            database_url=args.database_url,
            whatsapp_app_secret=app_secret,
            whatsapp_verify_token=VERIFY_TOKEN,
            whatsapp_access_token=access_token,
            whatsapp_phone_number_id=f"{PHONE_NUMBER_ID},{CAFE_NUMBER_ID}",
            whatsapp_api_base=f"{self.meta_url}/v21.0",
            broadcast_url="memory://",
            send_retry_delays=(0.5, 1.0),
            agents_see_unassigned=True,
            **extra,
        )
        loopback = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
        self.meta = FakeMeta(
            f"http://{loopback}:{args.port}/webhook",
            app_secret,
            access_token=access_token,
            phone_number_id=PHONE_NUMBER_ID,
            second_phone_number_id=CAFE_NUMBER_ID,
            waba_id=WABA_ID,
            status_delay=args.status_delay,
        )
        # Besides the stand-in's plain templates: one with an image header, a footer and
        # URL / copy-code / quick-reply buttons, one with a document header, one with a video.
        self.meta.templates += rich_templates()
        self.app = create_app(self.settings)

        class DemoInbox(_NoSignals, InboxServer):
            pass

        class DemoMeta(_NoSignals, uvicorn.Server):
            pass

        self.inbox_server = DemoInbox(uvicorn_config(self.app, args.host, args.port, log_level="warning"))
        self.meta_server = DemoMeta(
            uvicorn.Config(
                self.meta.app, host="127.0.0.1", port=args.meta_port, ws="none", lifespan="on", log_level="warning"
            )
        )
        self.customers = customers()
        self.running: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
        self.stop = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------
    async def main(self) -> int:
        self._install_signal_handlers()
        body = asyncio.create_task(self._body(), name="demo")
        stopped = asyncio.create_task(self.stop.wait())
        code = 0
        try:
            await asyncio.wait({body, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not body.done():
                body.cancel()
            try:
                await body
            except asyncio.CancelledError:
                pass
            except DemoFailed as exc:
                print(f"error: {exc}", file=sys.stderr, flush=True)
                code = 1
        finally:
            stopped.cancel()
            await self._shutdown()
        if code == 0:
            db_file = self._db_file()
            if db_file == "data/demo.db" and self._media_dir() == "data/demo-media":
                files = "make demo-reset"  # the Makefile's target deletes exactly these
            else:
                files = f"rm -rf {db_file}* {self._media_dir()}" if db_file else "drop the demo database"
            print(f"\nDemo stopped. `make demo` continues where it left off; to start over: {files}", flush=True)
        return code

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if self.stop.is_set():  # a second Ctrl+C: stop waiting for open connections
                for server, _ in self.running:
                    server.force_exit = True
            self.stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, on_signal)
            except (NotImplementedError, RuntimeError):  # Windows: no loop signal handlers
                signal.signal(sig, lambda *_: loop.call_soon_threadsafe(on_signal))

    async def _body(self) -> None:
        meta_socket = _bind(
            "127.0.0.1", self.args.meta_port, "The Meta stand-in", "--meta-port (make demo META_PORT=…)"
        )
        try:
            inbox_socket = _bind(self.args.host, self.args.port, "The inbox", "--port (make demo PORT=…)")
        except DemoFailed:
            meta_socket.close()
            raise
        await self._start(self.meta_server, meta_socket, "the Meta stand-in")
        await self._start(self.inbox_server, inbox_socket, "the inbox")
        store = self.app.state.store
        users = await self._accounts(store)
        await self._invitations(store, users)
        await self._quick_replies(store, users)
        await numbers.set_display_name(store.db, PHONE_NUMBER_ID, "Bakery")
        await numbers.set_display_name(store.db, CAFE_NUMBER_ID, "Café")
        if not await store.db.fetch_val("SELECT COUNT(*) FROM messages"):
            await self._seed(users[ADMIN_EMAIL])
        self._banner()
        await Simulator(self.meta, self.app.state.db, self.customers, self.args.customer_interval).run()

    async def _start(self, server: uvicorn.Server, sock: socket.socket, what: str) -> None:
        async def serve() -> None:
            try:
                await server.serve(sockets=[sock])
            except SystemExit:  # uvicorn's way of saying the app did not start; it logged why
                raise DemoFailed(f"{what} did not start (the reason is logged above)") from None
            finally:
                sock.close()

        task = asyncio.create_task(serve(), name=what)
        self.running.append((server, task))
        while not server.started:
            if task.done():
                await task
                raise DemoFailed(f"{what} stopped during start-up")
            await asyncio.sleep(0.02)

    async def _shutdown(self) -> None:
        with contextlib.suppress(Exception):
            await self.meta.cancel_tasks()  # no more status webhooks to a server going away
        for server, task in reversed(self.running):  # the inbox first: it may still call Meta
            server.should_exit = True
            try:
                await task
            except DemoFailed:
                pass
            except Exception:
                log.exception("stopping the demo")

    # -- data ----------------------------------------------------------------------------
    async def _accounts(self, store: Any) -> dict[str, Any]:
        from .auth import User, hash_password

        password_hash = await hash_password(PASSWORD)
        users = {}
        for email, name, admin in TEAM:
            user_id = await store.db.fetch_val("SELECT id FROM users WHERE email = :e", e=email)
            if user_id is None:
                user_id = await store.create_user(email, password_hash, admin, name)
            else:  # re-runs: the documented password, name and role always work

                async def reset(tx: Any, user_id: int = user_id, admin: bool = admin, name: str = name) -> None:
                    await tx.execute(
                        "UPDATE users SET password_hash = :h, is_admin = :a, name = :n,"
                        " deactivated_at = NULL WHERE id = :id",
                        h=password_hash,
                        a=1 if admin else 0,
                        n=name,
                        id=user_id,
                    )

                await store.db.write(reset)
            users[email] = User(int(user_id), email, admin, name)
        return users

    async def _invitations(self, store: Any, users: dict[str, Any]) -> None:
        wanted = [(c.name, c.phone, c.invited_by) for c in self.customers if c.invited_by]
        for name, phone, owner in wanted + [QUIET_INVITATION]:
            try:
                await store.add_invitation(users[owner].id, name, phone)
            except Conflict:
                pass  # invited on an earlier run

    async def _quick_replies(self, store: Any, users: dict[str, Any]) -> None:
        """The team's quick replies and one of Sam's own (type / in the composer)."""
        for owner, shortcut, content in DEMO_QUICK_REPLIES:
            shared = owner == ADMIN_EMAIL
            try:
                body = {"shortcut": shortcut, "content": content, "shared": shared}
                await quick_replies.create(store, users[owner], body)
            except Conflict:
                pass  # added on an earlier run

    async def _seed(self, admin: Any) -> None:
        """A short history, through the real loop: signed webhooks in, replies out (one of
        which fails with Meta's reason)."""
        now = time.time()
        openings = []
        for c in self.customers:
            for i, line in enumerate(c.topics[0][0]):
                openings.append((now - c.opened_minutes_ago * 60 + i * 20, line, c))
        for at, line, customer in sorted(openings, key=lambda o: o[0]):  # oldest first
            fields = {
                "from": customer.wa_id,
                "name": customer.profile_name,
                "timestamp": at,
                "to": customer.writes_to,
                **message_of(self.meta, line),
            }
            status = await self.meta.post_webhook(self.meta.inbound_value(fields))
            if status != 200:
                raise DemoFailed(f"the inbox refused the stand-in's webhook (HTTP {status})")
        outbox = self.app.state.outbox
        failing = [(c, FAILED_REPLY) for c in self.customers if c.fails_first_reply]
        for customer, text in [(self.customers[0], SEED_REPLY), *failing]:
            conversation = await self.app.state.db.fetch_val(
                "SELECT id FROM conversations WHERE phone_number = :p", p=customer.phone
            )
            if customer.fails_first_reply:
                self.meta.fail_sends_to(customer.wa_id, customer.fails_first_reply)
            await outbox.mark_read(admin, conversation)
            await outbox.send(admin, Target(conversation_id=conversation), TextSend(text))

    def _media_dir(self) -> str:
        media_dir = str(getattr(self.settings, "media_dir", "data/demo-media"))
        return media_dir[2:] if media_dir.startswith("./") else media_dir

    def _db_file(self) -> str | None:
        path = sqlite_path(self.settings.database_url)
        return path[2:] if path and path.startswith("./") else path

    def _banner(self) -> None:
        interval = self.args.customer_interval
        unassigned = " and ".join(c.name.split()[0] for c in self.customers if c.invited_by is None)

        def theirs(email: str) -> str:
            return " and ".join(c.name.split()[0] for c in self.customers if c.invited_by == email)

        sam, ana = theirs(AGENT_EMAIL), theirs(SECOND_AGENT_EMAIL)

        lines = [
            "",
            "WhatsApp inbox demo: the inbox, a stand-in for Meta's Cloud API and simulated customers,",
            "all on this machine. No Meta account needed.",
            "",
            f"  Open       {self.url}",
            f"  Log in as  {ADMIN_EMAIL} / {PASSWORD}   (Rosa, admin: every conversation; {unassigned} unassigned)",
            f"        or   {AGENT_EMAIL} / {PASSWORD}     (Sam, agent: {sam} + the queue)",
            f"        or   {SECOND_AGENT_EMAIL} / {PASSWORD}     (Ana, agent: {ana} + the queue)",
            "",
            f"Customers write every {interval * 0.5:g}-{interval * 1.5:g} s. Reply in the dashboard and watch"
            " the ticks: sent, delivered, read.",
            "Notifications: the bell in the header turns them on (Try it shows one); with the tab in the"
            " background, the next customer message pops up.",
            f"Meta stand-in: {self.meta_url} (replies go to it, signed webhooks come back). "
            f"Database: {self.settings.database_url}",
            "Press Ctrl+C to stop.",
            "",
        ]
        if self.args.host not in ("127.0.0.1", "localhost", "::1"):
            lines.insert(
                -1, f"Note: listening on {self.args.host}: anyone who can reach it can log in with the password above."
            )
        print("\n".join(lines), flush=True)


def message_of(meta: Any, line: Line) -> dict[str, Any]:
    """The /simulate/inbound fields for one line; files are registered with the stand-in."""
    if isinstance(line, Photo):
        media_id = meta.register_media(line.png(), "image/png", "design.png")
        return {"type": "image", "image": {"id": media_id, "mime_type": "image/png", "caption": line.caption}}
    if isinstance(line, Voice):
        media_id = meta.register_media(line.wav(), "audio/wav", None)
        return {"type": "audio", "audio": {"id": media_id, "mime_type": "audio/wav", "voice": True}}
    return {"text": line}


def _text_of(line: Line) -> str:
    return line if isinstance(line, str) else line.caption if isinstance(line, Photo) else ""


@dataclass
class _Progress:
    topic: int = 0
    turn: int = 0  # the turn of `topic` last written
    idle: bool = False  # the last topic is over (thanked): a new one may start
    nudged: bool = False
    waited: int = 0  # ticks since this customer last wrote without an answer
    consumed: int = 0  # id of the last agent reply this customer already answered


class Simulator:
    """Customers writing now and then, and answering the agents' replies.

    The pace follows the agents: a customer moves on only when a reply has reached them
    (failed replies do not count, so nobody thanks you for a message they never got), and a
    customer nobody answers nudges once and then waits. Left alone, the inbox gets a handful of
    unread messages per customer, never an endless pile."""

    def __init__(
        self, meta: Any, db: Any, people: list[Customer], interval: float, rng: random.Random | None = None
    ) -> None:
        self.meta = meta
        self.db = db
        self.people = people
        self.interval = interval
        self.rng = rng or random.Random()
        self.progress = {c.wa_id: _Progress(idle=True) for c in people}
        self.owed: list[Customer] = []  # answered by an agent, who have not responded yet
        self.loaded = False

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.interval)
            try:
                await self.tick()
            except Exception as exc:  # a hiccup must not end the demo
                log.warning("a simulated customer could not write: %r", exc)

    async def load(self) -> None:
        """Where each conversation stands, from the database: a re-run continues the script."""
        for c in self.people:
            rows = await self.db.fetch_all(
                "SELECT m.content FROM messages m JOIN conversations c ON c.id = m.conversation_id"
                " WHERE c.phone_number = :p AND m.direction = 'inbound' ORDER BY m.id DESC LIMIT 5",
                p=c.phone,
            )
            if not rows:
                continue
            said = [r["content"] for r in rows]
            progress = self.progress[c.wa_id]
            progress.idle = said[0] in THANKS
            progress.nudged = said[0] in NUDGES
            place = next(
                (
                    (t, n)
                    for text in said
                    for t, topic in enumerate(c.topics)
                    for n, turn in enumerate(topic)
                    if text and any(_text_of(line) == text for line in turn)
                ),
                None,
            )
            if place is not None:
                progress.topic, progress.turn = place
                if progress.idle:
                    progress.topic = (progress.topic + 1) % len(c.topics)
        self.loaded = True

    async def _answered(self, c: Customer) -> int | None:
        """The id of an agent reply that reached `c` after their last message, if any. Reached
        means delivered: a reply WhatsApp took as `sent` may still fail, and nobody thanks you
        for that. A failed reply sent again by Retry keeps its place (its id) in the thread, so
        "after" is also when it was delivered, not only where it stands."""
        last_in = await self.db.fetch_one(
            "SELECT MAX(m.id) AS id, MAX(m.created_at) AS at FROM messages m"
            " JOIN conversations c ON c.id = m.conversation_id"
            " WHERE c.phone_number = :p AND m.direction = 'inbound'",
            p=c.phone,
        )
        last_ok = await self.db.fetch_val(
            "SELECT MAX(m.id) FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            " WHERE c.phone_number = :p AND m.direction = 'outbound' AND m.status IN ('delivered', 'read')"
            " AND m.id > :consumed AND (m.id > :in_id OR COALESCE(m.delivered_at, m.read_at, 0) >= :in_at)",
            p=c.phone,
            consumed=self.progress[c.wa_id].consumed,
            in_id=int(last_in["id"] or 0) if last_in else 0,
            in_at=int(last_in["at"] or 0) if last_in else 0,
        )
        return int(last_ok) if last_ok is not None else None

    async def tick(self) -> None:
        if not self.loaded:
            await self.load()
        for c in self.people:
            progress = self.progress[c.wa_id]
            progress.waited += 1
            if not progress.idle and c not in self.owed:
                reply = await self._answered(c)
                if reply is not None:
                    progress.consumed = reply
                    self.owed.append(c)
        if self.owed and self.rng.random() < 0.8:
            await self.respond(self.owed.pop(0))
            return
        idle = [c for c in self.people if self.progress[c.wa_id].idle and not c.patient]
        if idle:
            customer = self.rng.choices(idle, weights=[c.chattiness for c in idle])[0]
            progress = self.progress[customer.wa_id]
            progress.turn, progress.idle, progress.nudged = 0, False, False
            await self.write_turn(customer, customer.topics[progress.topic][0])
            return
        waiting = [
            c
            for c in self.people
            if not self.progress[c.wa_id].idle
            and not self.progress[c.wa_id].nudged
            and self.progress[c.wa_id].waited >= NUDGE_AFTER_TICKS
            and not c.patient
        ]
        if waiting and self.rng.random() < 0.3:
            customer = self.rng.choice(waiting)
            self.progress[customer.wa_id].nudged = True
            await self.write(customer, self.rng.choice(NUDGES))

    async def respond(self, customer: Customer) -> None:
        """The next turn of the topic, or, after its last turn, thanks or a reaction."""
        progress = self.progress[customer.wa_id]
        topic = customer.topics[progress.topic]
        progress.nudged = False
        reply_wamid = await self._last_reply(customer)
        if progress.turn + 1 < len(topic):
            progress.turn += 1
            # Now and then they quote the reply they answer, as people do on WhatsApp.
            quote = reply_wamid if reply_wamid and self.rng.random() < 0.3 else None
            await self.write_turn(customer, topic[progress.turn], quote=quote)
            return
        progress.topic, progress.turn, progress.idle = (progress.topic + 1) % len(customer.topics), 0, True
        if reply_wamid and self.rng.random() < 0.3:
            await self.react(customer, reply_wamid, self.rng.choice(REACTIONS))
        else:
            await self.write(customer, self.rng.choice(THANKS))

    async def write_turn(self, customer: Customer, turn: Turn, quote: str | None = None) -> None:
        self.progress[customer.wa_id].waited = 0
        for i, line in enumerate(turn):
            if i == 0 and quote and isinstance(line, str):
                log.info("%s (%s) quotes your reply: %s", customer.name, customer.phone, line)
                context = {"from": self.meta.metadata(customer.writes_to)["display_phone_number"], "id": quote}
                await self._post(customer, {"text": line, "context": context})
                continue
            if i:
                await asyncio.sleep(min(1.5, self.interval * 0.2))  # typing the next line
            if isinstance(line, Photo):
                await self.send_photo(customer, line)
            elif isinstance(line, Voice):
                log.info("%s (%s) sends a voice note", customer.name, customer.phone)
                await self._post(customer, message_of(self.meta, line))
            else:
                await self.write(customer, line)

    async def _last_reply(self, customer: Customer) -> str | None:
        wamid: str | None = await self.db.fetch_val(
            "SELECT m.wamid FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            " WHERE c.phone_number = :p AND m.direction = 'outbound' AND m.wamid IS NOT NULL"
            " AND m.status IN ('delivered', 'read') ORDER BY m.id DESC LIMIT 1",
            p=customer.phone,
        )
        return wamid

    async def write(self, customer: Customer, text: str) -> None:
        log.info("%s (%s) writes: %s", customer.name, customer.phone, text)
        await self._post(customer, {"text": text})

    async def send_photo(self, customer: Customer, photo: Photo) -> None:
        log.info("%s (%s) sends a photo: %s", customer.name, customer.phone, photo.caption)
        await self._post(customer, message_of(self.meta, photo))

    async def react(self, customer: Customer, wamid: str, emoji: str) -> None:
        log.info("%s (%s) reacts %s to your reply", customer.name, customer.phone, emoji)
        await self._post(customer, {"type": "reaction", "reaction": {"message_id": wamid, "emoji": emoji}})

    async def _post(self, customer: Customer, message: dict[str, Any]) -> None:
        value = self.meta.inbound_value(
            {"from": customer.wa_id, "name": customer.profile_name, "to": customer.writes_to, **message}
        )
        status = await self.meta.post_webhook(value)
        if status != 200:
            log.warning("the inbox answered the webhook with HTTP %s", status or "(unreachable)")
