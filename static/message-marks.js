// What the server stores about a message beyond its body (issue 16), drawn the way WhatsApp
// draws it: an edited message says "edited", a deleted one "This message was deleted", a
// Flow reply lists its answers, a message from a click-to-WhatsApp ad shows the ad, a
// forwarded one says so, and the customer's system events ("changed their phone number")
// are a line across the thread. messages.js calls these; they only read `msg`.

import { clockTime, fullDateTime, h } from './dom.js';
import { safeLink } from './links.js';

const dataOf = (msg) => (msg && msg.data && typeof msg.data === 'object' && !Array.isArray(msg.data) ? msg.data : null);

export function isDeleted(msg) {
  const data = dataOf(msg);
  return !!(data && data.deleted);
}

/** A system event of the customer's (new number, new user id) as a line across the thread. */
export function systemLine(msg) {
  const data = dataOf(msg);
  const text = msg.content || (data && data.body) || 'The customer’s WhatsApp account changed';
  return h(
    'div',
    { class: 'message activity system', dataset: { id: msg.id, type: 'system', system: data && data.type }, role: 'note' },
    h('span', { class: 'activity-text', title: fullDateTime(msg.createdAt), text: `${text} · ${clockTime(msg.createdAt)}` }),
  );
}

/** The body instead of the usual one, or null: a deleted message, a Flow's answers. */
export function specialBody(msg) {
  const data = dataOf(msg);
  if (isDeleted(msg)) return [h('div', { class: 'text deleted', text: '🚫 This message was deleted' })];
  if (msg.type === 'interactive' && data && data.kind === 'nfm_reply') {
    const answers = data.answers && typeof data.answers === 'object' ? Object.entries(data.answers) : [];
    if (!answers.length) return [h('div', { class: 'text flow-reply', text: msg.content || 'Form sent' })];
    return [
      h('div', { class: 'secondary flow-label', text: '📋 Form answers' }),
      h(
        'dl',
        { class: 'flow-answers' },
        answers.map(([label, value]) => [h('dt', { text: label }), h('dd', { text: String(value) })]),
      ),
    ];
  }
  return null;
}

/** Marks above the body: "Forwarded", and the ad a customer came from. */
export function marksAbove(msg) {
  const data = dataOf(msg);
  if (!data || isDeleted(msg)) return [];
  const out = [];
  if (data.forwarded) out.push(h('div', { class: 'forwarded-mark', text: '↪ Forwarded' }));
  const ref = data.referral && typeof data.referral === 'object' ? data.referral : null;
  if (ref) out.push(referralCard(ref));
  return out;
}

function referralCard(ref) {
  const source = ref.source_type === 'ad' ? 'ad' : ref.source_type === 'post' ? 'post' : ref.source_type || 'ad';
  const url = safeLink(ref.source_url);
  return h(
    'div',
    { class: 'referral-card', dataset: { sourceType: ref.source_type } },
    h('div', { class: 'referral-label', text: `📣 From a click-to-WhatsApp ${source}` }),
    ref.headline && h('div', { class: 'referral-headline', text: ref.headline }),
    ref.body && h('div', { class: 'referral-body', text: ref.body }),
    url && h('a', { class: 'referral-source', href: url, target: '_blank', rel: 'noopener noreferrer', text: url }),
  );
}

/** "edited" in the bubble's time line. */
export function editedMark(msg) {
  const data = dataOf(msg);
  if (!data || !data.edited || isDeleted(msg)) return null;
  return h('span', { class: 'edited-mark', title: data.editedAt ? `Edited ${fullDateTime(new Date(data.editedAt).toISOString())}` : 'Edited', text: 'edited' });
}

