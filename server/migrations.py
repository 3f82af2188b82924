"""Changes to existing databases that `CREATE … IF NOT EXISTS` and `ADD COLUMN` cannot make.

SQLite cannot drop a column's UNIQUE constraint: the documented way is to build the table
again under another name, copy the rows, drop the old table and rename the new one, with
foreign keys off so the messages that point at conversations stay as they are. The new
table's definition is the old one's (whatever columns other changes added) minus UNIQUE.
"""

from __future__ import annotations

import re
from typing import Any

# Before several business numbers, a number (or user id) had one conversation in all.
_SINGLE_NUMBER_UNIQUE = re.compile(r"\b(phone_key|wa_user_id)\s+TEXT\s+UNIQUE\b", re.IGNORECASE)
_CREATE = re.compile(r'^\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?"?conversations"?', re.IGNORECASE)


def conversations_without_single_number_unique(sql: str) -> str | None:
    """The CREATE TABLE of the rebuilt table, or None when `sql` needs no rebuild."""
    if not _SINGLE_NUMBER_UNIQUE.search(sql):
        return None
    return _CREATE.sub("CREATE TABLE conversations_rebuild", _SINGLE_NUMBER_UNIQUE.sub(r"\1 TEXT", sql), count=1)


async def sqlite_before_schema(conn: Any) -> None:
    """Run on SQLite before schema.sql, foreign keys off (the connection's default)."""
    row = await conn.fetch_one("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'conversations'")
    rebuilt = conversations_without_single_number_unique(row["sql"] if row is not None else "")
    if rebuilt is None:
        return
    async with conn.transaction():
        await conn.execute("DROP TABLE IF EXISTS conversations_rebuild")
        await conn.execute(rebuilt)
        await conn.execute("INSERT INTO conversations_rebuild SELECT * FROM conversations")
        # Its indexes and the search triggers go with it; schema.sql creates them again.
        await conn.execute("DROP TABLE conversations")
        await conn.execute("ALTER TABLE conversations_rebuild RENAME TO conversations")
