// The Team tab: who is on the team; admins add agents, change roles and deactivate them; every
// user changes their own name and password.

import { api } from './api.js';
import { $, h } from './dom.js';

let me = null;
let users = [];
let onMeChanged = () => {};

export function initAgents({ meChanged }) {
  onMeChanged = meChanged;
  $('#user-form').addEventListener('submit', (e) => {
    e.preventDefault();
    addUser();
  });
  $('#account-form').addEventListener('submit', (e) => {
    e.preventDefault();
    saveAccount();
  });
}

export function startAgents(user) {
  me = user;
  $('#user-form').hidden = !me.isAdmin;
  $('#account-name').value = me.name || '';
  $('#account-current').value = '';
  $('#account-password').value = '';
  setMessage('#account-message', '');
}

export function resetAgents() {
  me = null;
  users = [];
  $('#user-rows').replaceChildren();
}

export async function loadAgents() {
  if (!me) return;
  try {
    users = await api('/api/users');
    renderUsers();
  } catch (err) {
    setMessage('#user-list-status', err.message, true);
  }
}

/** A user changed elsewhere (user.updated event): redraw if the tab has loaded. */
export function userChanged(user) {
  const i = users.findIndex((u) => u.id === user.id);
  if (i >= 0) users[i] = user;
  else if (users.length) users.push(user);
  renderUsers();
}

function setMessage(selector, text, isError = false) {
  const node = $(selector);
  node.textContent = text;
  node.hidden = !text;
  node.classList.toggle('error', isError);
}

function renderUsers() {
  if (!me) return;
  $('#user-rows').replaceChildren(...users.map(userRow));
  setMessage('#user-list-status', '');
}

function userRow(u) {
  const self = u.id === me.id;
  const cells = [
    h('td', { class: 'user-name', text: self ? `${u.name} (you)` : u.name }),
    h('td', { text: u.email }),
  ];
  if (me.isAdmin) {
    const role = h(
      'select',
      { 'aria-label': `Role of ${u.name}`, onchange: () => patch(u, { role: role.value }) },
      h('option', { value: 'agent', text: 'Agent' }),
      h('option', { value: 'admin', text: 'Admin' }),
    );
    role.value = u.role;
    cells.push(h('td', {}, role));
    cells.push(
      h(
        'td',
        {},
        h('button', {
          type: 'button',
          class: u.active ? 'danger' : '',
          text: u.active ? 'Deactivate' : 'Activate',
          'aria-label': `${u.active ? 'Deactivate' : 'Activate'} ${u.name}`,
          onclick: () => patch(u, { active: !u.active }),
        }),
      ),
    );
  } else {
    cells.push(h('td', { text: u.role === 'admin' ? 'Admin' : 'Agent' }));
    cells.push(h('td', { text: u.active ? 'Active' : 'Deactivated' }));
  }
  return h('tr', { dataset: { userId: u.id, active: String(u.active) } }, cells);
}

async function patch(u, body) {
  try {
    const updated = await api(`/api/users/${encodeURIComponent(u.id)}`, { method: 'PATCH', body });
    userChanged(updated);
  } catch (err) {
    setMessage('#user-list-status', err.message, true);
    renderUsers();
  }
}

async function addUser() {
  const body = {
    email: $('#new-user-email').value.trim(),
    name: $('#new-user-name').value.trim(),
    password: $('#new-user-password').value,
    role: $('#new-user-role').value,
  };
  try {
    const created = await api('/api/users', { method: 'POST', body });
    $('#user-form').reset();
    setMessage('#user-form-message', `${created.name} can now sign in.`);
    userChanged(created);
  } catch (err) {
    setMessage('#user-form-message', err.message, true);
  }
}

async function saveAccount() {
  const body = { name: $('#account-name').value.trim() };
  const password = $('#account-password').value;
  if (password) {
    body.password = password;
    body.currentPassword = $('#account-current').value;
  }
  try {
    const updated = await api(`/api/users/${encodeURIComponent(me.id)}`, { method: 'PATCH', body });
    $('#account-current').value = '';
    $('#account-password').value = '';
    setMessage('#account-message', password ? 'Saved, with your new password.' : 'Saved.');
    me = { ...me, name: updated.name };
    onMeChanged(me);
    userChanged(updated);
  } catch (err) {
    setMessage('#account-message', err.message, true);
  }
}
