"""Nothing stranded, nothing hidden: every signed webhook body is stored before it is parsed,
one odd item never hides its siblings (what cannot be applied is shown to admins), and
statuses for messages this server never sent are dropped after Meta's retry horizon."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from server.fake_meta import new_wamid
from server.signature import sign
from tests.meta_payloads import contact, dumps, envelope, message_value, msg, now_s
from tests.servers import APP_SECRET, Stack, database_url, eventually, new_phone, stack
from tests.test_webhook import admin_of, post_raw

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def stored_with(inbox: Stack, needle: bytes) -> list[dict[str, Any]]:
    """Stored webhook bodies (as the admin API shows them) whose bytes contain `needle`."""
    admin = await admin_of(inbox)
    found = []
    for row in await inbox.app.state.db.fetch_all("SELECT id FROM webhook_events ORDER BY id DESC LIMIT 50"):
        r = await admin.get(f"/api/webhooks/{row['id']}")
        assert r.status_code == 200, r.text
        event = r.json()
        raw = base64.b64decode(event["body"]) if event["encoding"] == "base64" else event["body"].encode()
        if needle in raw:
            found.append(event)
    return found


async def test_deeply_nested_body_is_stored_and_shown_to_admins(inbox: Stack) -> None:
    nonce = new_wamid()
    raw = b'{"nonce": "' + nonce.encode() + b'", "entry": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    r = await post_raw(inbox, raw)
    assert r.status_code == 200, r.text
    [event] = await stored_with(inbox, nonce.encode())
    assert event["applied"] and not event["processed"]
    [failure] = event["failures"]
    assert failure["item"] is None and "nested too deeply" in failure["reason"]
    admin = await admin_of(inbox)
    listed = (await admin.get("/api/webhooks/failures")).json()
    assert failure["id"] in [f["id"] for f in listed]


async def test_utf16_body_is_stored_byte_for_byte_and_applied(inbox: Stack) -> None:
    admin = await admin_of(inbox)
    phone = new_phone()
    m = msg(phone, "text", "sent as UTF-16")
    raw = json.dumps(envelope(message_value([m], [contact(phone, "Wide")]))).encode("utf-16")
    r = await post_raw(inbox, raw)
    assert r.status_code == 200, r.text
    [event] = await stored_with(inbox, m["id"].encode("utf-16-le"))
    assert event["encoding"] == "base64" and base64.b64decode(event["body"]) == raw
    conv = await admin.conversation_with(phone)
    assert conv is not None and conv["contactName"] == "Wide"
    assert [x["content"] for x in await admin.messages(conv["id"])] == ["sent as UTF-16"]


async def test_signed_body_that_is_not_json_is_kept(inbox: Stack) -> None:
    nonce = new_wamid().encode()
    raw = b"\xff\xfe not json " + nonce
    r = await post_raw(inbox, raw)
    assert r.status_code == 400 and r.json()["error"] == "body is not JSON"
    [event] = await stored_with(inbox, nonce)
    assert base64.b64decode(event["body"]) == raw
    assert "not JSON" in event["failures"][0]["reason"]


async def test_one_odd_item_does_not_hide_its_siblings(inbox: Stack) -> None:
    admin = await admin_of(inbox)
    good, odd_time, odd_name = new_phone(), new_phone(), new_phone()
    inf = msg(odd_time, "text", "from the future")
    inf["timestamp"] = "inf"
    value_ok = message_value([msg(good, "text", "still arrives")], [contact(good, "Good")])
    value_inf = message_value([inf], [contact(odd_time, "Future")])
    value_list = message_value([msg(odd_name, "text", "name is a list")], [contact(odd_name, "x")])
    value_list["contacts"][0]["profile"]["name"] = ["not", "a", "name"]
    wamid = new_wamid()
    status = {"id": wamid, "status": "delivered", "timestamp": str(now_s()), "recipient_id": good.lstrip("+")}
    value_status = {"messaging_product": "whatsapp", "statuses": [status]}
    r = await post_raw(inbox, dumps(envelope(value_inf, value_list, value_ok, value_status)))
    assert r.status_code == 200, r.text

    conv = await admin.conversation_with(good)
    assert conv is not None and conv["contactName"] == "Good"
    assert [m["content"] for m in await admin.messages(conv["id"])] == ["still arrives"]
    assert await inbox.app.state.db.fetch_val("SELECT count(*) FROM pending_statuses WHERE wamid = :w", w=wamid) == 1

    # Both odd items are kept, with the reason, for admins; the body stays replayable.
    failures = (await admin.get("/api/webhooks/failures", limit=20)).json()
    mine = [f for f in failures if json.dumps(f["item"]).count(inf["id"]) or "name is a list" in json.dumps(f)]
    assert len(mine) == 2, failures
    assert len({f["webhookEventId"] for f in mine}) == 1
    by_kind = {("inf" in json.dumps(f["item"])): f for f in mine}
    assert "OverflowError" in by_kind[True]["reason"] or "inf" in by_kind[True]["reason"]
    assert by_kind[False]["item"]["kind"] == "message" and by_kind[False]["reason"]
    event = (await admin.get(f"/api/webhooks/{mine[0]['webhookEventId']}")).json()
    assert "still arrives" in event["body"] and not event["processed"]

    agent = await inbox.user()
    r = await agent.get("/api/webhooks/failures")
    assert r.status_code == 403 and "admin" in r.json()["error"]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_statuses_for_unknown_messages_are_dropped_after_seven_days(kind: str, tmp_path: Any) -> None:
    async with database_url(kind, tmp_path) as url:
        old, recent = new_wamid(), new_wamid()
        async with stack(url) as inbox:
            for wamid in (old, recent):
                body = {"wamid": wamid, "status": "delivered", "recipient": new_phone().lstrip("+")}
                assert (await inbox.meta_post("/simulate/status", body))["webhookStatus"] == 200
            db = inbox.app.state.db
            count = "SELECT count(*) FROM pending_statuses WHERE wamid IN (:a, :b)"
            assert await eventually(lambda: _equals(db.fetch_val(count, a=old, b=recent), 2))
            eight_days = 8 * 24 * 3600 * 1000

            async def age(tx: Any) -> None:
                await tx.execute(
                    "UPDATE pending_statuses SET created_at = created_at - :d WHERE wamid = :w", d=eight_days, w=old
                )

            await db.write(age)
        async with stack(url) as restarted:
            db = restarted.app.state.db
            left = "SELECT wamid FROM pending_statuses WHERE wamid IN (:a, :b)"
            assert await eventually(lambda: _rows_equal(db.fetch_all(left, a=old, b=recent), [recent]))


async def _equals(value: Any, expected: Any) -> bool:
    return await value == expected


async def _rows_equal(rows: Any, wamids: list[str]) -> bool:
    return [r["wamid"] for r in await rows] == wamids


async def test_an_unsigned_body_is_still_not_stored(inbox: Stack) -> None:
    nonce = new_wamid().encode()
    raw = b'{"entry": [], "n": "' + nonce + b'"}'
    r = await inbox.http.post(
        f"{inbox.base_url}/webhook", content=raw, headers={"X-Hub-Signature-256": sign(APP_SECRET + "x", raw)}
    )
    assert r.status_code == 401
    assert await stored_with(inbox, nonce) == []
