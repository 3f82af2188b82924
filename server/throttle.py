"""Login attempts counted per account and per client address, in memory.

Each key gets a fixed window (LOGIN_WINDOW_SECONDS) from its first attempt; past its limit
every further attempt in that window is answered 429 with `Retry-After`, before any password
is hashed. The flood is logged once per key and window, not once per attempt (the access
log keeps 429s at DEBUG for the same reason). At most `max_keys` keys are kept, oldest
dropped first, so spraying random emails cannot grow memory without bound.

Per process: with several server processes an attacker gets each process's allowance,
which still bounds the rate; the reverse proxy may add its own limit (README, Security).
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .passwords import TooManyRequests

log = logging.getLogger(__name__)


@dataclass
class _Count:
    started: float
    attempts: int = 0
    logged: bool = False


class Window:
    """`limit` attempts per key per `seconds`."""

    def __init__(self, what: str, limit: int, seconds: float, max_keys: int = 50_000) -> None:
        self.what = what
        self.limit = limit
        self.seconds = seconds
        self.max_keys = max_keys
        self._counts: OrderedDict[str, _Count] = OrderedDict()

    def hit(self, key: str, now: float) -> float | None:
        """Count an attempt; None if allowed, else the seconds until the window ends."""
        count = self._counts.get(key)
        if count is None or now - count.started >= self.seconds:
            count = _Count(now)
            self._counts[key] = count
            self._counts.move_to_end(key)
            while len(self._counts) > self.max_keys:
                self._counts.popitem(last=False)
        count.attempts += 1
        if count.attempts <= self.limit:
            return None
        if not count.logged:
            count.logged = True
            log.warning(
                "login throttled: more than %d attempts for %s %s within %gs; refusing the rest of the window",
                self.limit,
                self.what,
                key,
                self.seconds,
            )
        return count.started + self.seconds - now

    def forget(self, key: str) -> None:
        self._counts.pop(key, None)


class LoginThrottle:
    def __init__(
        self,
        per_account: int,
        per_address: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.accounts = Window("account", per_account, window_seconds)
        self.addresses = Window("address", per_address, window_seconds)
        self.clock = clock

    def admit(self, address: str, email: str) -> None:
        """Count a login attempt; raise TooManyRequests (429) past either limit."""
        now = self.clock()
        waits = [w for w in (self.addresses.hit(address, now), self.accounts.hit(email, now)) if w is not None]
        if waits:
            seconds = max(1, math.ceil(max(waits)))
            raise TooManyRequests(
                f"too many sign-in attempts: try again in {seconds} s",
                headers={"Retry-After": str(seconds)},
                extra={"retryAfter": seconds},
            )

    def succeeded(self, email: str) -> None:
        """The account's own count starts over (a few typos must not lock its owner out)."""
        self.accounts.forget(email)
