"""Text both databases can store.

JSON may carry a NUL or a lone surrogate (half an emoji) as a \\u escape: PostgreSQL text
cannot hold NUL and UTF-8 cannot hold surrogates. One such character must not turn a request
into a 500, nor lose every other message of a webhook body.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

T = TypeVar("T")

_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(value: T) -> T:
    """`value` with NULs dropped and lone surrogates replaced by U+FFFD, recursively (a
    string stays a string, a dict a dict)."""
    cleaned: T = _cleaned(value)
    return cleaned


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "")
        if _SURROGATE.search(value):
            value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return value
    if isinstance(value, dict):
        return {_cleaned(k): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    return value
