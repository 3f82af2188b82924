"""Reading JSON from outside (Meta's webhooks and Graph API answers) without trusting its shape.

A field that should hold an object or a list may hold anything; these give the empty value
instead, so parsers read on and report what they did not understand rather than crash, and
the type checker knows what the result is.
"""

from __future__ import annotations

from typing import Any


def as_object(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []
