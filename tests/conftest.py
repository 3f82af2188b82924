from __future__ import annotations

import os

import pytest

from tests.servers import Stack, database_url, stack

DATABASES = [k.strip() for k in os.environ.get("TEST_DATABASES", "sqlite,postgresql").split(",") if k.strip()]


@pytest.fixture(scope="session", params=DATABASES)
async def inbox(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """One inbox server + Meta stand-in per database kind, shared by the tests using it."""
    async with database_url(request.param, tmp_path_factory.mktemp("db")) as url:
        async with stack(url) as s:
            yield s


@pytest.fixture
async def meta_reset(inbox: Stack) -> Stack:
    """The stand-in back to defaults: no queued failures, prompt statuses."""
    await inbox.meta_post("/simulate/reset", {})
    return inbox
