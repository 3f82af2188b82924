"""Password hashing on a thread pool of its own, bounded, and the rule for new passwords.

argon2 costs ~170 ms of CPU and 64 MiB per hash, on purpose. Run on the shared thread pool
(the one Starlette serves static files from), a login flood of 40 requests made 40 hashes
run at once: 2.5 GB of memory, and `/` and `/static/*` waited seconds for a free thread. So
hashes run here, a few at a time (PASSWORD_HASH_WORKERS); a login that would wait behind
more than PASSWORD_HASH_QUEUE others is refused at once (429) instead of queueing without
end.

New passwords: at least 8 characters, not one of the 30,000 most common passwords of the
list that zxcvbn ships (from leaked password sets), and not guessable by zxcvbn's estimate
within a thousand guesses (repeats such as `aaaaaaaa`, sequences, keyboard walks).
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import TypeVar

from .errors import AppError, Invalid

T = TypeVar("T")

MIN_LENGTH = 8
# zxcvbn's cost grows with length; what it says about the first 64 characters is enough.
_ESTIMATE_CHARS = 64


class TooManyRequests(AppError):
    status = 429
    default_code = "too_many_requests"


@functools.cache
def _zxcvbn() -> tuple[ModuleType, frozenset[str]]:
    """zxcvbn's word lists hold ~14 MB: loaded the first time a password is set, not by
    every server process at start (most never set one)."""
    estimator = importlib.import_module("zxcvbn")
    lists = importlib.import_module("zxcvbn.frequency_lists").FREQUENCY_LISTS
    return estimator, frozenset(lists["passwords"])


def password_problem(password: str) -> str | None:
    """Why `password` may not be set, in a sentence for the person choosing it; None if fine."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    estimator, common = _zxcvbn()
    if password.lower() in common:
        return "this password is one of the most common ones: choose another"
    estimate = estimator.zxcvbn(password[:_ESTIMATE_CHARS])
    if estimate["score"] == 0:
        warning = str((estimate.get("feedback") or {}).get("warning") or "").rstrip(".")
        return "this password is too easy to guess" + (f" ({warning})" if warning else "") + ": choose another"
    return None


def check_new_password(password: str) -> None:
    """Raise Invalid (422) unless `password` may be set: for every path that sets one."""
    problem = password_problem(password)
    if problem:
        raise Invalid(problem, "weak_password")


class HashPool:
    """At most `workers` hashes at once, at most `queue` more waiting; the rest refused."""

    def __init__(self, workers: int = 2, queue: int = 16) -> None:
        self.workers = max(1, workers)
        self.queue = max(0, queue)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._admitted = 0  # running + waiting

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="password-hash")
            return self._executor

    async def run(self, work: Callable[[], T]) -> T:
        with self._lock:
            if self._admitted >= self.workers + self.queue:
                raise TooManyRequests("too many sign-ins at once: try again in a moment", headers={"Retry-After": "1"})
            self._admitted += 1
        try:
            future = self._pool().submit(work)
        except BaseException:
            self._release()
            raise
        # Released when the hash is done, not when the request gives up on it: a client that
        # hangs up must not let more hashes run than the bound.
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _release(self, _: object = None) -> None:
        with self._lock:
            self._admitted -= 1

    def shutdown(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


# For hashing outside a running server (the CLI, the demo, tests); the app makes its own.
DEFAULT_POOL = HashPool()
