"""The inbox as a real `python -m server serve` subprocess that can be killed with -9 mid-work
and started again on the same database (tests/processes.py has the one-shot kind, with /proc
readings)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.servers import APP_SECRET, free_port


def server_env(db_url: str, **settings: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": "v",
        "WHATSAPP_ACCESS_TOKEN": "t",
        "WHATSAPP_PHONE_NUMBER_ID": "1",
        **{k.upper(): v for k, v in settings.items()},
    }


def cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    """Run `python -m server ARGS`; its last line of output."""
    done = subprocess.run(
        [sys.executable, "-m", "server", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


class Restartable:
    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(cwd) / f"server-{self.port}.log"

    async def start(self) -> Restartable:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server", "serve", "--port", str(self.port), "--log-level", "warning"],
                env=self.env,
                cwd=self.cwd,
                stdout=subprocess.DEVNULL,
                stderr=out,
            )
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """kill -9: no shutdown of any kind."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    async def stop(self) -> None:
        """SIGTERM, as a service manager stops it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            await asyncio.to_thread(self.proc.wait, 60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    async def __aenter__(self) -> Restartable:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()
