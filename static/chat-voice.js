// Voice notes (#voice-record): the mic button records with MediaRecorder, shows a running
// timer (#voice-timer) with Cancel (#voice-cancel) and Send (#voice-send), and posts the
// recording as multipart/form-data with voice=true. Browsers record WebM/Opus (Safari
// MP4/AAC); the server turns it into the OGG/Opus file WhatsApp plays as a voice note.
// chat-composer.js calls updateVoice() when the 24-hour window may have changed.

import { api, uuid } from './api.js';
import { h } from './dom.js';

let hooks = { conversation: () => null, onSent: () => {}, onError: () => {} };
const el = {};
let windowClosed = false;
let recording = null; // { recorder, stream, chunks, started, timer, conversationId, cancelled }
let sending = false;

const PREFERRED = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm', 'audio/mp4'];

/** Adds the mic button beside the send button, and the bar shown while recording. */
export function initVoice(options) {
  hooks = { ...hooks, ...options };
  const send = document.getElementById('composer-send');
  if (!send) return;
  el.button = h('button', {
    id: 'voice-record',
    type: 'button',
    class: 'send-button voice-button',
    title: 'Record a voice note',
    'aria-label': 'Record a voice note',
    text: '🎤',
    onclick: () => start(),
  });
  el.timer = h('span', { id: 'voice-timer', class: 'voice-timer', role: 'timer', 'aria-live': 'off', text: '0:00' });
  el.cancel = h('button', { id: 'voice-cancel', type: 'button', class: 'voice-cancel', 'aria-label': 'Cancel the recording', text: '✕', onclick: () => stop(true) });
  el.send = h('button', { id: 'voice-send', type: 'button', class: 'send-button', 'aria-label': 'Send the voice note', text: '➤', onclick: () => stop(false) });
  el.bar = h(
    'div',
    { id: 'voice-bar', class: 'voice-bar', hidden: true },
    el.cancel,
    h('span', { class: 'voice-dot', 'aria-hidden': 'true' }),
    h('span', { class: 'voice-label', text: 'Recording' }),
    el.timer,
    el.send,
  );
  send.after(el.button);
  send.closest('.composer-row').after(el.bar);
  render();
}

/** No recording while the window is closed; a conversation switch cancels one in progress. */
export function updateVoice(windowState) {
  windowClosed = windowState === 'closed';
  const conv = hooks.conversation();
  if (recording && (!conv || String(conv.id) !== String(recording.conversationId))) stop(true);
  render();
}

function render() {
  if (!el.button) return;
  const supported = !!(navigator.mediaDevices && window.MediaRecorder);
  el.button.hidden = !supported;
  el.button.disabled = windowClosed || sending || !!recording;
  el.button.setAttribute('aria-busy', sending ? 'true' : 'false');
  el.bar.hidden = !recording;
  el.bar.closest('.composer').dataset.recording = recording ? 'true' : 'false';
}

function elapsed() {
  const seconds = Math.floor((performance.now() - recording.started) / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

async function start() {
  const conv = hooks.conversation();
  if (!conv || recording || windowClosed) return;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    hooks.onError(`The microphone is not available: ${err.message || err.name}`);
    return;
  }
  const mimeType = PREFERRED.find((t) => MediaRecorder.isTypeSupported(t));
  const recorder = new MediaRecorder(stream, mimeType ? { mimeType } : undefined);
  recording = { recorder, stream, chunks: [], started: performance.now(), conversationId: conv.id, cancelled: false };
  const current = recording;
  recorder.addEventListener('dataavailable', (e) => e.data && e.data.size && current.chunks.push(e.data));
  recorder.addEventListener('stop', () => finished(current));
  recorder.start(250);
  current.timer = setInterval(() => (el.timer.textContent = elapsed()), 250);
  el.timer.textContent = '0:00';
  render();
}

function stop(cancel) {
  if (!recording) return;
  recording.cancelled = cancel;
  clearInterval(recording.timer);
  if (recording.recorder.state !== 'inactive') recording.recorder.stop();
  else finished(recording);
}

async function finished(current) {
  current.stream.getTracks().forEach((t) => t.stop());
  if (recording === current) recording = null;
  render();
  if (current.cancelled || !current.chunks.length) return;
  const type = current.recorder.mimeType || current.chunks[0].type || 'audio/webm';
  const blob = new Blob(current.chunks, { type });
  const ext = type.includes('mp4') ? 'm4a' : type.includes('ogg') ? 'ogg' : 'webm';
  const form = new FormData();
  form.append('conversationId', String(current.conversationId));
  form.append('clientId', uuid());
  form.append('voice', 'true');
  form.append('file', blob, `voice-note.${ext}`);
  sending = true;
  render();
  try {
    hooks.onSent(await api('/api/conversations/send', { method: 'POST', body: form }));
  } catch (err) {
    if (err.status !== 401) hooks.onError(err.message);
  } finally {
    sending = false;
    render();
  }
}
