// The new-message chime: two short tones made with WebAudio (no sound file to ship or load).
//
// Browsers start an AudioContext only after the user has interacted with the page, so the
// context is created (or resumed) on the first click or key press, and again lazily when the
// chime plays; a chime before any interaction may stay silent, which is the browser's rule.

let ctx = null;

function context() {
  if (ctx) return ctx;
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return null;
  try {
    ctx = new Ctx();
  } catch {
    ctx = null;
  }
  return ctx;
}

/** Creates/resumes the audio context on the first user gesture, so later chimes can sound. */
export function unlockSound() {
  const unlock = () => {
    const c = context();
    if (c && c.state === 'suspended') c.resume().catch(() => {});
    window.removeEventListener('pointerdown', unlock, true);
    window.removeEventListener('keydown', unlock, true);
  };
  window.addEventListener('pointerdown', unlock, true);
  window.addEventListener('keydown', unlock, true);
}

/** Plays the chime (about a quarter of a second). Returns false when audio is unavailable. */
export function playChime() {
  const c = context();
  if (!c) return false;
  if (c.state === 'suspended') c.resume().catch(() => {});
  const t0 = c.currentTime + 0.01;
  [880, 1318.5].forEach((frequency, i) => {
    const osc = c.createOscillator();
    const gain = c.createGain();
    osc.type = 'sine';
    osc.frequency.value = frequency;
    const start = t0 + i * 0.13;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.2, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.12);
    osc.connect(gain).connect(c.destination);
    osc.start(start);
    osc.stop(start + 0.13);
  });
  return true;
}
