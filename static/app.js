// Entry point: login, the dashboard shell (header, tabs), and wiring the views to live updates.

import { api, logoutRequest, onOtherTab, onUnauthorized, tellOtherTabs } from './api.js';
import { $ } from './dom.js';
import { initChat, startChat, resetChat, applyEvent, pollFallback, onChatShown, resolveOpen, stepConversation, toggleNoteMode, openConversation } from './chat.js';
import { initAgents, loadAgents, resetAgents, startAgents } from './agents.js';
import { initWhatsappAdmin, loadWhatsappAdmin, resetWhatsappAdmin, startWhatsappAdmin } from './admin-whatsapp.js';
import { initShortcuts } from './shortcuts.js';
import { initInvitations, startInvitations, resetInvitations, loadInvitations } from './invitations.js';
import { startLive, stopLive } from './live.js';
import { forgetThisDevice, initNotify, notifyEvent, startNotify, stopNotify } from './notify.js';
import { initPwa, openLinkedConversation, waitForServer } from './pwa.js';

const STATUS_TEXT = { live: 'Live', polling: 'Polling every 3 s', offline: 'Offline' };

let activeTab = 'chat';
let inSession = false;

function showLogin(message = '') {
  $('#app-view').hidden = true;
  $('#login-view').hidden = false;
  const error = $('#login-error');
  error.textContent = message;
  error.hidden = !message;
  $('#login-password').value = '';
  $('#login-submit').disabled = false;
  (($('#login-email').value && $('#login-password')) || $('#login-email')).focus();
}

async function startSession() {
  let me;
  try {
    me = await api('/api/me');
  } catch (err) {
    if (err.status === 0) {
      waitForServer(startSession); // unreachable: keep the session, say "Offline", try again
      return;
    }
    showLogin(err.status === 401 ? '' : err.message);
    return;
  }
  if (inSession) return; // another tab's login and this tab's own start crossed
  inSession = true;
  $('#login-view').hidden = true;
  $('#app-view').hidden = false;
  showMe(me);
  $('#user-email').textContent = me.email || '';
  $('#user-email').title = me.isAdmin ? 'Administrator' : '';
  $('#app-view').dataset.admin = me.isAdmin ? 'true' : 'false';

  startChat(me);
  startInvitations(me);
  startAgents(me);
  startWhatsappAdmin(me);
  selectTab('chat');
  startNotify(me);
  startLive({
    onEvent: (event) => {
      applyEvent(event);
      notifyEvent(event);
    },
    onFallbackPoll: pollFallback,
    onUnauthorized: (reason) => endSession(signedOutText(reason)),
    onStatus: setConnectionStatus,
  });
  openLinkedConversation();
}

/** The header's name (the signed-in user can rename themselves in the Team tab). */
function showMe(me) {
  $('#user-name').textContent = me.name || '';
  $('#app-view').dataset.admin = me.isAdmin ? 'true' : 'false';
}

/** What the login form says when the server ended the session (the websocket's close reason). */
function signedOutText(reason = '') {
  if (reason.includes('logged out')) return 'You signed out in another tab or window.';
  if (reason.includes('deactivated')) return 'Your account was deactivated. Ask an admin if this is a mistake.';
  if (reason.includes('password')) return 'Your password was changed. Please sign in with the new one.';
  return 'Your session has expired. Please sign in again.';
}

async function logout() {
  await forgetThisDevice().catch(() => {}); // this device's push subscription: needs the session
  endSession();
  await logoutRequest();
  tellOtherTabs('logout');
}

function endSession(message = '') {
  if (!inSession) {
    showLogin(message);
    return;
  }
  inSession = false;
  stopLive();
  stopNotify();
  resetChat();
  resetWhatsappAdmin();
  resetInvitations();
  resetAgents();
  setConnectionStatus('offline');
  showLogin(message);
}

function setConnectionStatus(mode) {
  const status = $('#connection-status');
  status.dataset.mode = mode;
  status.querySelector('.label').textContent = STATUS_TEXT[mode];
}

function selectTab(name) {
  activeTab = name;
  for (const button of document.querySelectorAll('[data-tab]')) {
    const selected = button.dataset.tab === name;
    button.classList.toggle('active', selected);
    button.setAttribute('aria-selected', String(selected));
  }
  for (const panel of document.querySelectorAll('[data-panel]')) panel.hidden = panel.dataset.panel !== name;
  if (name === 'invitations') loadInvitations();
  if (name === 'team') {
    loadAgents();
    loadWhatsappAdmin();
  }
  if (name === 'chat') onChatShown();
}

async function login(event) {
  event.preventDefault();
  const email = $('#login-email').value.trim();
  const password = $('#login-password').value;
  const error = $('#login-error');
  error.hidden = true;
  if (!email || !password) {
    error.textContent = 'Enter your email and password.';
    error.hidden = false;
    return;
  }
  $('#login-submit').disabled = true;
  try {
    // The session comes back as an HttpOnly cookie, shared by every tab of this browser.
    const res = await api('/api/auth/login', { method: 'POST', body: { email, password, cookie: true }, auth: false });
    if (!res || !res.ok) throw new Error('The server did not start a session.');
    await startSession();
    tellOtherTabs('login');
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
  } finally {
    $('#login-submit').disabled = false;
  }
}

function init() {
  $('#login-form').addEventListener('submit', login);
  $('#logout').addEventListener('click', logout);
  for (const button of document.querySelectorAll('[data-tab]')) {
    button.addEventListener('click', () => selectTab(button.dataset.tab));
  }
  initChat({ isActive: () => inSession && activeTab === 'chat', meChanged: showMe });
  initWhatsappAdmin();
  initInvitations();
  initAgents({ meChanged: showMe });
  const openById = (id) => (selectTab('chat'), openConversation(id));
  initNotify({ open: openById });
  initPwa({ open: openById });
  initShortcuts({
    enabled: () => inSession,
    search: () => (selectTab('chat'), $('#conversation-search').focus()),
    step: (delta) => activeTab === 'chat' && stepConversation(delta),
    resolve: () => activeTab === 'chat' && resolveOpen(),
    note: () => activeTab === 'chat' && toggleNoteMode(),
    assign: () => activeTab === 'chat' && $('#assignee-menu') && $('#assignee-menu').focus(),
  });
  // Any 401 from the API means the session is gone or expired.
  // (Once signed out, a late 401 of a request still on its way must not clear the reason shown.)
  onUnauthorized(() => inSession && endSession(signedOutText()));
  onOtherTab((kind) => {
    if (kind === 'logout' && inSession) endSession(signedOutText('logged out'));
    if (kind === 'login' && !inSession) startSession();
  });

  // Signed in already (in this tab before a reload, another tab, or before the browser restarted)?
  startSession();
}

init();
