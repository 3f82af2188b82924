"""schema.sql is applied at every start: a column added later with `ALTER TABLE … ADD COLUMN`
reaches a database created before it, and applying the schema again changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from server.db import Database
from tests.conftest import DATABASES
from tests.servers import database_url

pytestmark = pytest.mark.asyncio(loop_scope="session")

V1 = "CREATE TABLE IF NOT EXISTS things (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);"
V2 = V1 + "\nALTER TABLE things ADD COLUMN colour TEXT NOT NULL DEFAULT 'green';"


async def open_with(url: str, schema: str) -> Database:
    db = Database(url, schema=schema)
    await db.connect()
    return db


@pytest.mark.parametrize("kind", DATABASES)
async def test_added_column_reaches_an_old_database_once(kind: str, tmp_path: Any) -> None:
    async with database_url(kind, tmp_path) as url:
        db = await open_with(url, V1)
        await db.write(lambda tx: tx.execute("INSERT INTO things (name) VALUES (:n)", n="old row"))
        await db.disconnect()

        for _ in range(2):  # the second start finds the column and skips the ALTER
            db = await open_with(url, V2)
            rows = await db.fetch_all("SELECT name, colour FROM things ORDER BY id")
            await db.disconnect()
            assert rows == [{"name": "old row", "colour": "green"}]
