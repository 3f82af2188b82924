"""Text both databases can store, and JSON read without trusting its shape (in process)."""

from __future__ import annotations

from server.sanitize import storable
from server.shapes import as_list, as_object


def test_nul_is_dropped_and_a_lone_surrogate_replaced_at_any_depth() -> None:
    value = {"a\x00": ["x\x00y", {"k": "half \ud83d emoji"}], "n": 3, "ok": "😀"}
    assert storable(value) == {"a": ["xy", {"k": "half \ufffd emoji"}], "n": 3, "ok": "😀"}


def test_clean_text_is_returned_as_it_is() -> None:
    text = "Habari, Amina 👋"
    assert storable(text) is text


def test_json_of_the_wrong_shape_reads_as_empty() -> None:
    assert as_object({"a": 1}) == {"a": 1} and as_object([1]) == {} and as_object(None) == {}
    assert as_list([1]) == [1] and as_list({"a": 1}) == [] and as_list("abc") == []
