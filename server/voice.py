"""Voice notes recorded in the dashboard, made into what WhatsApp plays as a voice note.

WhatsApp shows an audio message as a voice note (play button, waveform, transcript) only
for an OGG file with the Opus codec sent with `voice: true`. Browsers record WebM/Opus
(Chromium, Firefox's newer builds) or MP4/AAC (Safari). The Opus packets of a WebM
recording are moved into an OGG container as they are (a remux: no quality lost, about a
millisecond of work); anything else is decoded and encoded to Opus. PyAV does both: it
binds FFmpeg's libraries and ships them (libopus included) inside its wheels, so there is no
system ffmpeg to install or to keep in step, and it is maintained alongside FFmpeg.
"""

from __future__ import annotations

import importlib
import io
from types import ModuleType
from typing import Any

from .errors import Invalid

OPUS_RATE = 48_000
VOICE_NAME = "voice-note.ogg"
VOICE_MIME = "audio/ogg"


def _av() -> ModuleType:
    """PyAV with the FFmpeg libraries it maps is ~27 MB of RSS: loaded with the first voice
    note, not by every server process at start (as passwords.py loads zxcvbn)."""
    importlib.import_module("av.error")
    return importlib.import_module("av")


def to_ogg_opus(data: bytes) -> bytes:
    """The recording as an OGG/Opus file, or a 422 when it holds no readable sound."""
    if not data:
        raise Invalid("the recording is empty", "invalid_voice_note")
    av = _av()
    try:
        with av.open(io.BytesIO(data), mode="r") as source:
            audio = next((s for s in source.streams if s.type == "audio"), None)
            if audio is None:
                raise Invalid("the recording holds no sound", "invalid_voice_note")
            out = io.BytesIO()
            with av.open(out, mode="w", format="ogg") as target:
                if audio.codec_context.name == "opus":
                    _remux(source, audio, target)
                else:
                    _transcode(source, audio, target)
    except av.error.FFmpegError as exc:
        reason = exc.strerror or type(exc).__name__
        raise Invalid(f"the recording could not be read as audio: {reason}", "invalid_voice_note") from None
    result = out.getvalue()
    if len(result) < 64:
        raise Invalid("the recording holds no sound", "invalid_voice_note")
    return result


def _remux(source: Any, audio: Any, target: Any) -> None:
    """Opus packets from one container into the other, untouched."""
    stream = target.add_stream_from_template(audio)
    for packet in source.demux(audio):
        if packet.dts is None:  # the demuxer's flush packet
            continue
        packet.stream = stream
        target.mux(packet)


def _transcode(source: Any, audio: Any, target: Any) -> None:
    """Any other audio decoded, resampled to 48 kHz mono and encoded to Opus in its
    20 ms frames (libopus takes only whole frames)."""
    av = _av()
    stream = target.add_stream("libopus", rate=OPUS_RATE)
    stream.layout = "mono"
    stream.bit_rate = 32_000
    resampler = av.AudioResampler(format="s16", layout="mono", rate=OPUS_RATE)
    fifo = av.AudioFifo()
    frame_size = stream.codec_context.frame_size or 960

    def encode(frame: Any) -> None:
        for packet in stream.encode(frame):
            target.mux(packet)

    for frame in source.decode(audio):
        for resampled in resampler.resample(frame):
            fifo.write(resampled)
        while fifo.samples >= frame_size:
            encode(fifo.read(frame_size))
    for resampled in resampler.resample(None):
        fifo.write(resampled)
    rest = fifo.read()
    if rest is not None and rest.samples:
        encode(rest)
    encode(None)
