"""Voice notes: a browser's WebM/Opus recording (made here by PyAV, as Chromium's
MediaRecorder makes it) leaves as an OGG/Opus file with `voice: true`, the only audio a phone
plays as a voice note; other audio is transcoded, and what is not audio is a 422."""

from __future__ import annotations

import array
import io
import math
import uuid
import wave
from typing import Any

import av
import pytest

from tests.servers import PHONE_NUMBER_ID, Stack, eventually
from tests.test_media import account, invited_conversation, media_inbox, media_stack, send_file  # noqa: F401

pytestmark = pytest.mark.asyncio(loop_scope="session")


def tone(seconds: float, rate: int) -> bytes:
    samples = int(seconds * rate)
    return array.array("h", (int(9000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(samples))).tobytes()


def webm_opus(seconds: float = 1.0) -> bytes:
    """A real WebM file with one Opus stream, as MediaRecorder records one."""
    out = io.BytesIO()
    with av.open(out, "w", format="webm") as container:
        stream = container.add_stream("libopus", rate=48_000)
        stream.layout = "mono"
        pcm = tone(seconds, 48_000)
        step = 960 * 2  # 20 ms of 16-bit mono
        for pts, offset in enumerate(range(0, len(pcm), step)):
            chunk = pcm[offset : offset + step]
            frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk) // 2)
            frame.planes[0].update(chunk)
            frame.sample_rate, frame.pts = 48_000, pts * 960
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def wav(seconds: float = 1.0, rate: int = 16_000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(tone(seconds, rate))
    return out.getvalue()


def audio_facts(data: bytes) -> dict[str, Any]:
    """What a player finds in the file: container, codec, seconds of sound."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return {
            "format": container.format.name,
            "codec": stream.codec_context.name,
            "seconds": samples / stream.codec_context.sample_rate,
        }


async def voice_note(inbox: Stack, agent: Any, conv: dict[str, Any], data: bytes, name: str, mime: str) -> Any:
    fields = {"conversationId": conv["id"], "voice": "true", "clientId": uuid.uuid4().hex}
    return await send_file(agent, fields, name, data, mime)


async def test_a_webm_recording_leaves_as_an_ogg_opus_voice_note(media_inbox: Stack) -> None:
    inbox = media_inbox
    agent = await account(inbox)
    conv = await invited_conversation(inbox, agent)
    recording = webm_opus(1.0)
    assert audio_facts(recording) == {
        "format": "matroska,webm",
        "codec": "opus",
        "seconds": pytest.approx(1.0, abs=0.03),
    }

    r = await voice_note(inbox, agent, conv, recording, "blob", "audio/webm;codecs=opus")
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["type"] == "audio" and msg["content"] == ""
    assert msg["media"]["voice"] is True and msg["media"]["mimeType"] == "audio/ogg"

    # Uploaded to Meta as OGG with the Opus packets as recorded (a remux), then sent as a voice note.
    [upload] = inbox.meta.uploads
    assert upload["contentType"] == "audio/ogg" and upload["type"] == "audio/ogg"
    assert upload["filename"] == "voice-note.ogg"
    uploaded = inbox.meta.media[upload["id"]]["data"]
    assert uploaded[:4] == b"OggS"
    assert audio_facts(uploaded) == {"format": "ogg", "codec": "opus", "seconds": pytest.approx(1.0, abs=0.03)}
    [call] = [q for q in inbox.meta.requests if q["json"] and q["json"].get("type") == "audio"]
    assert call["path"] == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert call["json"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": conv["phoneNumber"].lstrip("+"),
        "type": "audio",
        "audio": {"id": upload["id"], "voice": True},
    }

    # The dashboard plays the same OGG file.
    r = await agent.get(f"/api/media/{msg['media']['id']}")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/ogg" and r.content == uploaded

    async def sent() -> Any:
        [m] = [m for m in await agent.messages(conv["id"]) if m["id"] == msg["id"]]
        return m["status"] in ("sent", "delivered", "read") and m

    assert await eventually(sent)


async def test_other_recordings_are_transcoded_to_opus(media_inbox: Stack) -> None:
    """Safari records MP4/AAC; any audio FFmpeg reads (here 16 kHz PCM WAV) becomes Opus."""
    inbox = media_inbox
    agent = await account(inbox)
    conv = await invited_conversation(inbox, agent)
    r = await voice_note(inbox, agent, conv, wav(1.0), "memo.wav", "audio/wav")
    assert r.status_code == 201, r.text
    [upload] = inbox.meta.uploads
    facts = audio_facts(inbox.meta.media[upload["id"]]["data"])
    assert facts == {"format": "ogg", "codec": "opus", "seconds": pytest.approx(1.0, abs=0.05)}


@pytest.mark.parametrize(
    "data,words",
    [
        (b"", "the recording is empty"),
        (b"this is not a recording" * 20, "could not be read as audio"),
    ],
)
async def test_what_is_not_sound_is_refused(media_inbox: Stack, data: bytes, words: str) -> None:
    inbox = media_inbox
    agent = await account(inbox)
    conv = await invited_conversation(inbox, agent)
    r = await voice_note(inbox, agent, conv, data, "blob", "audio/webm")
    assert r.status_code == 422, r.text
    assert r.json()["code"] in ("invalid_voice_note", "file_empty") and words in r.json()["error"]
    assert inbox.meta.uploads == []
    assert [m["type"] for m in await agent.messages(conv["id"])] == ["text"]


async def test_the_stand_in_plays_only_ogg_as_a_voice_note(media_inbox: Stack) -> None:
    """Meta shows a voice note only for OGG/Opus: the stand-in refuses `voice: true` on an MP3."""
    inbox = media_inbox
    media_id = inbox.meta.register_media(b"ID3" + bytes(64), "audio/mpeg", "song.mp3")
    r = await inbox.http.post(
        f"{inbox.meta_url}/v21.0/{PHONE_NUMBER_ID}/messages",
        headers={"Authorization": f"Bearer {inbox.settings.whatsapp_access_token}"},
        json={
            "messaging_product": "whatsapp",
            "to": "255700000001",
            "type": "audio",
            "audio": {"id": media_id, "voice": True},
        },
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == 131009
    assert "OGG" in r.json()["error"]["error_data"]["details"]
