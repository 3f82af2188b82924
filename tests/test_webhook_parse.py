"""webhook.parse in process: every shape becomes a plain record, and what it cannot read is
reported (never raised), so one odd item never loses the rest of a body."""

from __future__ import annotations

import json

import pytest

from server.webhook import IGNORED_FIELD, UnknownShape, parse
from tests.meta_payloads import METADATA, contact, envelope, message_value, msg
from tests.servers import PHONE_NUMBER_ID

PHONE = "+255712345001"


def test_a_text_message_with_its_sender_and_number() -> None:
    m = msg(PHONE, "text", "Habari", ts=1_700_000_000)
    parsed = parse(envelope(message_value([m], [contact(PHONE, "Amina")])))
    [inbound] = parsed.inbound
    assert (inbound.wamid, inbound.type, inbound.content) == (m["id"], "text", "Habari")
    assert (inbound.sender.phone, inbound.sender.name) == (PHONE, "Amina")
    assert inbound.timestamp_ms == 1_700_000_000_000 and inbound.business_number_id == PHONE_NUMBER_ID
    assert not parsed.not_understood and not parsed.failed


def test_media_keeps_the_file_fields_and_shows_the_caption() -> None:
    image = {"id": "m1", "mime_type": "image/jpeg", "sha256": "abc", "caption": "the cake"}
    [inbound] = parse(envelope(message_value([msg(PHONE, "image", image)]))).inbound
    assert inbound.content == "the cake"
    assert inbound.media == {
        "id": "m1",
        "mimeType": "image/jpeg",
        "sha256": "abc",
        "caption": "the cake",
        "filename": None,
    }
    voice = {"id": "m2", "mime_type": "audio/ogg", "voice": True}
    [note] = parse(envelope(message_value([msg(PHONE, "audio", voice)]))).inbound
    assert note.media is not None and note.media["voice"] is True and note.content == ""


def test_forwarded_reply_context_and_a_flow_reply() -> None:
    answers = {"flow_token": "t", "delivery_rating": "4"}
    reply = {"type": "nfm_reply", "nfm_reply": {"body": "Sent", "response_json": json.dumps(answers)}}
    m = msg(PHONE, "interactive", reply, context={"id": "wamid.q", "forwarded": True})
    [inbound] = parse(envelope(message_value([m]))).inbound
    assert inbound.content == "Delivery rating: 4" and inbound.reply_to == "wamid.q"
    assert inbound.data["answers"] == {"Delivery rating": "4"} and inbound.data["forwarded"] is True


def test_a_reaction_is_not_a_message() -> None:
    parsed = parse(envelope(message_value([msg(PHONE, "reaction", {"message_id": "wamid.x", "emoji": "👍"})])))
    assert parsed.inbound == []
    [reaction] = parsed.reactions
    assert (reaction.target_wamid, reaction.emoji, reaction.sender.phone) == ("wamid.x", "👍", PHONE)


def test_statuses_kept_ignored_or_not_understood() -> None:
    value = {
        "messaging_product": "whatsapp",
        "metadata": METADATA,
        "statuses": [
            {"id": "wamid.1", "status": "failed", "timestamp": "1700000000", "recipient_id": PHONE.lstrip("+"),
             "errors": [{"code": 131026, "title": "Undeliverable", "error_data": {"details": "terms"}}]},
            {"id": "wamid.2", "status": "played", "recipient_id": "1"},
            {"id": "wamid.3", "status": "exploded", "recipient_id": "1"},
            {"status": "read"},
        ],
    }  # fmt: skip
    parsed = parse(envelope(value))
    [failed] = parsed.statuses
    assert (failed.wamid, failed.status, failed.recipient.phone) == ("wamid.1", "failed", PHONE)
    assert failed.error is not None and (failed.error["code"], failed.error["detail"]) == (131026, "terms")
    assert parsed.ignored == ["status 'played' of wamid.2 is ignored"]
    assert parsed.not_understood == ["status 'exploded' is not handled", "status without id or status"]


def test_one_unreadable_message_does_not_lose_the_others() -> None:
    good = msg(PHONE, "text", "fine")
    bad = msg(PHONE, "reaction", "not an object")
    parsed = parse(envelope(message_value([bad, good, {"type": "text"}])))
    assert [m.content for m in parsed.inbound] == ["fine"]
    assert len(parsed.failed) == 1 and parsed.failed[0][1].startswith(f"message {bad['id']} could not be read")
    assert parsed.not_understood == ["message without id"]


def test_other_fields_are_ignored_and_odd_entries_reported() -> None:
    body = envelope(message_value([]))
    body["entry"].append({"id": "x", "changes": [{"field": "account_update", "value": {}}]})
    body["entry"].append({"id": "y"})
    parsed = parse(body)
    assert parsed.ignored == [IGNORED_FIELD.format(field="account_update")]
    assert parsed.not_understood == ["entry without changes"]


def test_account_errors_are_collected() -> None:
    error = {"code": 131042, "title": "Business eligibility payment issue"}
    assert parse(envelope(message_value([], errors=[error]))).errors == [error]


@pytest.mark.parametrize("body", [[], {"entry": "nope"}, {"object": "page", "entry": []}])
def test_what_is_not_a_webhook_body_is_refused(body: object) -> None:
    with pytest.raises(UnknownShape):
        parse(body)


def test_a_nul_or_half_emoji_is_made_storable() -> None:
    [inbound] = parse(envelope(message_value([msg(PHONE, "text", "a\x00b\ud83d")]))).inbound
    assert inbound.content == "ab\ufffd"
