"""The command line, run as a user runs it: `python -m server …` in its own process, with
DATABASE_URL in the environment, then a real server on the same database."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.__main__ import main
from tests.servers import PASSWORD, new_phone, stack

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ["serve", "create-user", "create-token", "import-invitations", "replay-webhooks", "fake-meta"]


@dataclass
class Result:
    code: int
    out: str
    err: str


class CLI:
    def __init__(self, tmp_path: Path) -> None:
        self.cwd = tmp_path / "cwd"
        self.cwd.mkdir()
        self.database_url = f"sqlite:///{tmp_path}/cli.db"
        # Only what the command needs: no stray settings from the developer's environment.
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": self.database_url,
            "DEFAULT_REGION": "TZ",
            "LANG": "C.UTF-8",
        }

    async def __call__(self, *args: str, stdin: str | None = None) -> Result:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server",
            *args,
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # no controlling terminal: a password prompt reads stdin
        )
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), 30)
        assert proc.returncode is not None
        return Result(proc.returncode, out.decode(), err.decode())


@pytest.fixture
def cli(tmp_path: Path) -> CLI:
    return CLI(tmp_path)


def assert_clean_error(result: Result, code: int, words: str) -> None:
    assert result.code == code, result
    assert words in result.err, result
    assert "Traceback" not in result.err, result.err


async def test_help(cli: CLI) -> None:
    top, replay, no_command = await asyncio.gather(cli("--help"), cli("replay-webhooks", "--help"), cli())
    assert top.code == 0, top
    for command in COMMANDS:
        assert command in top.out
    assert replay.code == 0 and "python -m server replay-webhooks" in replay.out and "--since" in replay.out
    assert no_command.code == 2 and "COMMAND" in no_command.err
    # Nothing was created by asking for help.
    assert not (cli.cwd.parent / "cli.db").exists()


@pytest.mark.parametrize("command", COMMANDS)
async def test_help_for_every_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    # The same parser `python -m server` runs, in-process: one interpreter start per command
    # would cost seconds for nothing more.
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"python -m server {command}" in out and "--help" in out
    expected = {
        "create-user": "--admin",
        "import-invitations": "--user",
        "replay-webhooks": "--all",
        "serve": "--port",
        "fake-meta": "--webhook-url",
        "create-token": "email",
    }
    assert expected[command] in out


async def test_users_tokens_and_invitations_from_the_command_line(cli: CLI) -> None:
    r = await cli("create-user", "Boss@Example.com", "--password", PASSWORD, "--admin")
    assert r.code == 0, r
    assert "created admin" in r.out

    p1, p2 = new_phone(), new_phone()
    csv_path = cli.cwd / "contacts.csv"
    csv_path.write_text(f"name,phone\nAsha,{p1}\nBroken,not-a-number\nJuma,0{p2[4:]}\n", encoding="utf-8")
    agent, piped, no_password, duplicate, short, token, no_user, no_file = await asyncio.gather(
        cli("create-user", "agent@example.com", "--password", PASSWORD),
        cli("create-user", "piped@example.com", stdin=PASSWORD + "\n"),  # asked for, from a script
        cli("create-user", "nopass@example.com", stdin=""),
        # The same email again, in any case: a clear error, exit code 1, no traceback.
        cli("create-user", "boss@example.com", "--password", PASSWORD),
        cli("create-user", "short@example.com", "--password", "1234567"),
        cli("create-token", "BOSS@example.com"),
        cli("create-token", "nobody@example.com"),
        cli("import-invitations", "missing.csv", "--user", "agent@example.com"),
    )
    assert agent.code == 0 and "created user" in agent.out, agent
    assert piped.code == 0 and "created user piped@example.com" in piped.out, piped
    assert_clean_error(no_password, 2, "no password given")
    assert_clean_error(duplicate, 1, "already exists")
    assert_clean_error(short, 2, "at least 8 characters")
    assert token.code == 0, token
    token = token.out.strip()
    assert len(token) >= 32 and "\n" not in token
    assert_clean_error(no_user, 1, "no user nobody@example.com")
    assert_clean_error(no_file, 1, "no file missing.csv")

    imported, no_owner = await asyncio.gather(
        cli("import-invitations", "contacts.csv", "--user", "agent@example.com"),
        cli("import-invitations", "contacts.csv", "--user", "nobody@example.com"),
    )
    assert imported.code == 1, imported  # one bad row
    assert "imported 2 invitation(s)" in imported.out
    assert "line 3" in imported.err and "not-a-number" in imported.err
    assert_clean_error(no_owner, 1, "no user nobody@example.com")

    r = await cli("replay-webhooks")
    assert r.code == 0 and "replayed 0 webhook event(s)" in r.out, r

    # A server on the same database accepts the token and the password, and shows the imports.
    async with stack(cli.database_url) as s:
        headers = {"Authorization": f"Bearer {token}"}
        me = await s.http.get(f"{s.base_url}/api/me", headers=headers)
        assert me.status_code == 200, me.text
        assert me.json()["email"] == "boss@example.com" and me.json()["isAdmin"] is True
        invitations = (await s.http.get(f"{s.base_url}/api/invitations", headers=headers)).json()
        assert {i["phoneNumber"]: i["name"] for i in invitations} == {p1: "Asha", p2: "Juma"}

        login = await s.http.post(
            f"{s.base_url}/api/auth/login", json={"email": "agent@example.com", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        agent_headers = {"Authorization": f"Bearer {login.json()['token']}"}
        piped_login = await s.http.post(
            f"{s.base_url}/api/auth/login", json={"email": "piped@example.com", "password": PASSWORD}
        )
        assert piped_login.status_code == 200, piped_login.text
        nopass_login = await s.http.post(
            f"{s.base_url}/api/auth/login", json={"email": "nopass@example.com", "password": PASSWORD}
        )
        assert nopass_login.status_code == 401
        me = (await s.http.get(f"{s.base_url}/api/me", headers=agent_headers)).json()
        assert me["email"] == "agent@example.com" and me["isAdmin"] is False
        assert len((await s.http.get(f"{s.base_url}/api/invitations", headers=agent_headers)).json()) == 2

        # A customer writes; the stored webhook can be replayed while the server runs.
        await s.customer_writes(p1.lstrip("+"), "hello from the CLI test")
        r = await cli("replay-webhooks", "--all")
        assert r.code == 0, r
        assert "replayed 1 webhook event(s), 0 still not fully processed" in r.out
        convs = (await s.http.get(f"{s.base_url}/api/conversations", headers=agent_headers)).json()
        assert len(convs) == 1 and convs[0]["unreadCount"] == 1  # replaying stored nothing twice


async def test_csv_import_reads_excel_files_as_they_are(cli: CLI) -> None:
    """A Latin-1 file from Excel, `;`-separated, phone column first, French header: imported,
    and each rejected row is listed with its line and reason."""
    r = await cli("create-user", "agent@example.com", "--password", PASSWORD)
    assert r.code == 0, r
    p1, p2, p3 = new_phone(), new_phone(), new_phone()
    text = f"Téléphone;Nom\r\n{p1};José Müller\r\n0{p2[4:]};Françoise\r\n12ab;Bad\r\n;Nobody\r\n{p3};\r\n"
    (cli.cwd / "latin1.csv").write_bytes(text.encode("latin-1"))
    (cli.cwd / "book.xlsx").write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    imported, spreadsheet = await asyncio.gather(
        cli("import-invitations", "latin1.csv", "--user", "agent@example.com"),
        cli("import-invitations", "book.xlsx", "--user", "agent@example.com"),
    )
    assert imported.code == 1, imported
    assert "imported 2 invitation(s)" in imported.out, imported
    assert "3 row(s) of latin1.csv not imported" in imported.err, imported
    assert "line 4: '12ab' is not a phone number" in imported.err, imported
    assert "line 5: no phone number in the 'Téléphone' column" in imported.err, imported
    assert "line 6: name is required" in imported.err, imported
    assert "Traceback" not in imported.err and "codec" not in imported.err
    assert_clean_error(spreadsheet, 1, "save it as CSV")

    async with stack(cli.database_url) as s:
        login = await s.http.post(
            f"{s.base_url}/api/auth/login", json={"email": "agent@example.com", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        invitations = (await s.http.get(f"{s.base_url}/api/invitations", headers=headers)).json()
        assert {i["phoneNumber"]: i["name"] for i in invitations} == {p1: "José Müller", p2: "Françoise"}


@pytest.mark.parametrize(
    "setting,words",
    [
        ("BROADCAST_URL=redis-cluster://x", "BROADCAST_URL='redis-cluster://x' is not valid: expected memory://"),
        ("BROADCAST_URL=redis://127.0.0.1:1/0", "cannot reach BROADCAST_URL=redis://127.0.0.1:1/0"),
        ("DATABASE_URL=mysql://u:secret@db/x", "DATABASE_URL='mysql://u:***@db/x' is not valid"),
        ("SEND_TIMEOUT=fast", "SEND_TIMEOUT='fast' is not valid: expected a number"),
        ("SEND_RETRY_DELAYS=1,two", "SEND_RETRY_DELAYS='1,two' is not valid"),
        ("WS_QUEUE_SIZE=0", "WS_QUEUE_SIZE='0' is not valid: expected a whole number greater than 0"),
        ("DEFAULT_REGION=Tanzania", "DEFAULT_REGION='Tanzania' is not valid: expected a two-letter country code"),
    ],
)
async def test_every_bad_setting_is_one_line_naming_it(cli: CLI, setting: str, words: str) -> None:
    name, _, value = setting.partition("=")
    cli.env[name] = value
    r = await cli("serve", "--port", "1")
    assert r.code == 1, r
    assert r.err.strip().splitlines() == [f"error: {r.err.strip().removeprefix('error: ')}"], r.err
    assert words in r.err, r.err
    assert "secret" not in r.err
