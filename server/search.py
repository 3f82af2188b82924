"""Conversation search: the same answers on SQLite and PostgreSQL, through each one's indexes.

What matches (case-insensitive, Unicode included): the names (shown and WhatsApp profile) or
any message text that contains the search text as a substring, or a phone number that contains the search's digits
when the search is a number (digits, spaces, + - ( ) .) with at least three digits (fewer would
match nearly every number).

How, per database (indexes in schema.sql):
- SQLite, three characters or more: FTS5 trigram phrases (substring matches by definition).
  Shorter: a scan with GLOB patterns that list each letter's cases (SQLite's own LIKE and
  lower() fold ASCII only).
- PostgreSQL, several words: the whole-word `tsvector` index narrows the rows, then `strpos`
  checks the exact substring. Text containing "w1 w2 … wn" contains w2 … wn-1 as whole
  words and a word that starts with wn, so those words (and no others) go in the tsquery:
  the index can only over-select, never miss; LIKE then decides. Only for words of letters and digits, which
  the text-search parser keeps whole. One word, or anything else: the trigram indexes.
  Under three characters: a scan in activity order.
"""

from __future__ import annotations

from typing import Any

MIN_INDEXED = 3  # trigram indexes need three characters
_NUMBER_PUNCTUATION = frozenset(" +-().")  # how people write phone numbers
MAX_WORD = 200  # far below the text-search parser's 2,047-character limit on a word

# The names a conversation is found by: the one shown and the WhatsApp profile's, in one
# text, as SQLite's conversations_search.name column holds them (schema.sql).
_NAMES = "trim(coalesce({p}contact_name, '') || ' ' || coalesce({p}profile_name, ''))"
_PG_NAMES = "lower(" + _NAMES.format(p="") + ")"

# Each fragment narrows `c` (conversations) to the matching ones.
_SQLITE_INDEXED = (
    " AND c.id IN (SELECT rowid FROM conversations_search WHERE conversations_search MATCH :conv_match"
    " UNION SELECT s.conversation_id FROM messages_search f JOIN messages s ON s.id = f.rowid"
    " WHERE messages_search MATCH :phrase)"
)
_SQLITE_SHORT = (
    " AND (" + _NAMES.format(p="c.") + " GLOB :glob"
    " OR EXISTS (SELECT 1 FROM messages s WHERE s.conversation_id = c.id AND s.content GLOB :glob))"
)
# The exact check is the trigram path's LIKE on `… || ''`: the same test, on an expression
# no index covers, so the planner neither swaps the word index for the slower trigram one
# nor guesses that a third of the rows match (it then hashed the whole table).
_PG_WORDS = (
    " AND c.id IN (SELECT id FROM conversations"
    " WHERE to_tsvector('simple', " + _PG_NAMES + ") @@ to_tsquery('simple', :tsquery)"
    " AND (" + _PG_NAMES + " || '') LIKE :q ESCAPE '\\'"
    " UNION SELECT conversation_id FROM messages"
    " WHERE to_tsvector('simple', content) @@ to_tsquery('simple', :tsquery)"
    " AND (lower(content) || '') LIKE :q ESCAPE '\\'"
)
_PG_TRIGRAMS = (
    " AND c.id IN (SELECT id FROM conversations WHERE " + _PG_NAMES + " LIKE :q ESCAPE '\\'"
    " UNION SELECT conversation_id FROM messages WHERE lower(content) LIKE :q ESCAPE '\\'"
)
_PG_PHONE = " UNION SELECT id FROM conversations WHERE phone_number LIKE :qphone ESCAPE '\\'"
_PG_SHORT = (
    " AND (lower(" + _NAMES.format(p="c.") + ") LIKE :q ESCAPE '\\'"
    " OR EXISTS (SELECT 1 FROM messages s WHERE s.conversation_id = c.id AND lower(s.content) LIKE :q ESCAPE '\\'))"
)


def clause(dialect: str, search: str) -> tuple[str, dict[str, Any]]:
    """The WHERE fragment and its values for a non-empty search text."""
    text = search.strip().lower()
    digits = "".join(ch for ch in text if ch.isdigit())
    phone = len(digits) >= MIN_INDEXED and all(ch.isdigit() or ch in _NUMBER_PUNCTUATION for ch in text)
    if dialect == "postgresql":
        if len(text) < MIN_INDEXED:
            return _PG_SHORT, {"q": _like(text)}
        values: dict[str, Any] = {"q": _like(text)}
        tsquery = _tsquery(text)
        if tsquery is not None:
            sql = _PG_WORDS
            values["tsquery"] = tsquery
        else:
            sql = _PG_TRIGRAMS
        if phone:
            sql += _PG_PHONE
            values.update(qphone=_like(digits))
        return sql + ")", values
    if len(text) < MIN_INDEXED:
        return _SQLITE_SHORT, {"glob": _glob(text)}
    conv_match = "name : " + _phrase(text) + (f" OR phone : {_phrase(digits)}" if phone else "")
    return _SQLITE_INDEXED, {"phrase": _phrase(text), "conv_match": conv_match}


def _tsquery(text: str) -> str | None:
    """The whole words (and the last word as a prefix) any text containing `text` has, or
    None when they would not narrow the search safely."""
    words = text.split(" ")
    if len(words) < 2 or len(words[-1]) < MIN_INDEXED:
        return None
    if not all(0 < len(w) <= MAX_WORD and all(ch.isalpha() or ch.isdigit() for ch in w) for w in words):
        return None
    return " & ".join([*words[1:-1], words[-1] + ":*"])


def _phrase(text: str) -> str:
    """An FTS5 phrase: matches `text` as a substring under the trigram tokenizer."""
    return '"' + text.replace('"', '""') + '"'


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _glob(text: str) -> str:
    """A GLOB pattern for `text` anywhere, each letter in all its cases."""
    parts = []
    for ch in text:
        cases = sorted({c for c in (ch, ch.lower(), ch.upper(), ch.title()) if len(c) == 1})
        if len(cases) > 1:
            parts.append("[" + "".join(cases) + "]")
        elif ch in "*?[":
            parts.append(f"[{ch}]")
        else:
            parts.append(ch)
    return "*" + "".join(parts) + "*"
