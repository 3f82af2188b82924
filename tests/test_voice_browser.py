"""Recording a voice note in real Chromium: its fake microphone (a steady beep) feeds
MediaRecorder, the composer shows a running timer with Cancel and Send, and what reaches
the stand-in is an OGG/Opus file sent with `voice: true`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright, expect

from tests.servers import Stack
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, invited, login, open_page, screenshot, web  # noqa: F401
from tests.test_voice import audio_facts

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Chromium with a fake microphone that needs no permission prompt."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (make test installs Debian's chromium package)")
    args = [*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield b
        finally:
            await b.close()


def voice_calls(web: Stack, phone: str) -> list[dict[str, Any]]:
    return [
        q["json"]
        for q in web.meta.requests
        if q["json"] and q["json"].get("type") == "audio" and q["json"]["to"] == phone.lstrip("+")
    ]


async def test_record_cancel_then_send_a_voice_note(open_page: Any, web: Stack) -> None:
    page = (await open_page()).page
    agent = await web.user()
    phone = await invited(web, agent, "Listener")
    await web.customer_writes(phone.lstrip("+"), "Can you tell me the way?", name="Listener")
    await login(page, agent)
    await page.locator("#conversation-list .conversation-item", has_text="Listener").click()

    mic, bar, timer = page.locator("#voice-record"), page.locator("#voice-bar"), page.locator("#voice-timer")
    await expect(mic).to_be_enabled()
    await expect(bar).to_be_hidden()

    # A recording that is cancelled sends nothing.
    await mic.click()
    await expect(bar).to_be_visible()
    await expect(page.locator("#composer-input")).to_be_hidden()
    await page.locator("#voice-cancel").click()
    await expect(bar).to_be_hidden()
    await expect(page.locator("#composer-input")).to_be_visible()
    uploads_before = len(web.meta.uploads)

    await mic.click()
    await expect(timer).to_have_text("0:00")
    await expect(timer).to_have_text("0:01")  # the timer runs while recording
    await screenshot(page, "voice-recording")
    await page.locator("#voice-send").click()
    bubble = page.locator("#thread-messages .message.outbound").last
    await expect(bubble.locator("audio.media")).to_be_attached()
    await expect(bubble.locator(".voice-note-label")).to_have_text("🎤 Voice message")
    await expect(bar).to_be_hidden()

    [call] = voice_calls(web, phone)
    [upload] = web.meta.uploads[uploads_before:]
    assert call["audio"] == {"id": upload["id"], "voice": True}
    assert upload["contentType"] == "audio/ogg"
    facts = audio_facts(web.meta.media[upload["id"]]["data"])
    assert facts["format"] == "ogg" and facts["codec"] == "opus" and facts["seconds"] > 0.5
    # The thread's player loads the stored OGG file.
    await expect(bubble.locator("audio.media")).to_have_js_property("readyState", 4)


async def test_no_recording_into_a_closed_window(open_page: Any, web: Stack) -> None:
    page = (await open_page()).page
    agent = await web.user()
    phone = await invited(web, agent, "Asleep")
    await web.customer_writes(phone.lstrip("+"), "hi", name="Asleep", timestamp=int(time.time()) - 26 * 3600)
    await login(page, agent)
    await page.locator("#conversation-list .conversation-item", has_text="Asleep").click()
    await expect(page.locator("#voice-record")).to_be_disabled()
