// edgeauth demo page: register, sign in, profile, sessions, password change, sign out, and the
// screens mails link to (reset password, confirm address, confirm a new address).
//
// Token handling, the point of the demo:
// - The access token lives only in this script's memory: never in localStorage, sessionStorage
//   or a cookie a script could read. A reload forgets it.
// - The refresh token is the HttpOnly cookie __Host-edgeauth_rt, which this page never sees.
//   POST /api/refresh with an empty body makes the server use it; that restores the session on
//   load, renews the access token shortly before it expires, and retries a request once on 401.
// - Tabs share the cookie, so they must not rotate it at the same time. Every refresh runs
//   under the Web Lock "edgeauth-refresh"; the tab that refreshed hands its fresh access token
//   to the others over the BroadcastChannel "edgeauth", and a tab that waited for the lock uses
//   that token instead of refreshing again. The server's grace window for racing refreshes is
//   only the safety net.
// - A refresh whose answer never arrives (network cut, proxy error) is retried at once, well
//   within the server's windows: until the new token has been used, the server answers the old
//   one with the same new token instead of treating it as stolen, so a lost answer does not
//   end the session.
'use strict';

const LOCK_NAME = 'edgeauth-refresh';
const CHANNEL_NAME = 'edgeauth';
/** Renew this long before the access token expires (at most a fifth of its lifetime). */
const RENEW_EARLY_MS = 60_000;
/** After a failed background renewal (network, 503), try again this much later. */
const RETRY_MS = 15_000;
/**
 * A refresh that got no answer, or a gateway error, is tried again after these pauses (ms): far
 * inside the server's grace window (10 s by default), where presenting the same cookie again is
 * always safe.
 */
const REFRESH_RETRY_PAUSES_MS = [300, 1_500];
/** Statuses after which the refresh may not have reached the origin, or its answer was lost. */
const RETRYABLE_STATUSES = new Set([502, 503, 504]);

const state = { token: null, expiresAt: 0, lifetimeMs: 0, user: null, sessionId: null };
let renewTimer = 0;
let refreshing = null;
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL_NAME) : null;

// ------------------------------------------------------------------ errors in plain words

/** An API failure, with the message to show. */
class ApiError extends Error {
  constructor(status, code, message, fields = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

/** The session is over; the page has already switched to the sign-in form and said why. */
class SessionEnded extends Error {}

const PLAIN_WORDS = {
  validation_failed: 'Some details need another look.',
  invalid_credentials: 'That email address and password do not match an account.',
  invalid_token: 'Your session has ended. Please sign in again.',
  invalid_refresh_token: 'Your session has ended. Please sign in again.',
  refresh_token_reused:
    'For your safety, this session was signed out: an old sign-in token was used again. Please sign in again.',
  forbidden: 'The request was refused because it did not come from this page.',
  not_found: 'That no longer exists. The list has been updated.',
  payload_too_large: 'That is more text than the server accepts.',
  unsupported_media_type: 'The page sent something the server does not understand. Reload and try again.',
  bad_request: 'The page sent something the server does not understand. Reload and try again.',
  revocation_unavailable: 'Your session cannot be checked right now. Try again in a moment.',
  service_unavailable: 'The service is not available right now. Try again in a moment.',
  internal_error: 'Something went wrong on the server. Try again in a moment.',
  invalid_or_expired_token:
    'This link no longer works: it was already used, has expired or was replaced by a newer one. Ask for a new one.',
  email_unverified:
    'Please confirm your email address first: open the link we mailed you, or ask for a new one under "Forgot your password?".',
};

const FIELD_LABELS = {
  username: 'Username',
  email: 'Email',
  password: 'Password',
  current_password: 'Current password',
  new_password: 'New password',
  new_email: 'New email address',
};

async function errorFrom(response) {
  let error = {};
  try {
    error = (await response.json()).error ?? {};
  } catch {
    // Not JSON: fall back to the status below.
  }
  const code = error.code ?? `http_${response.status}`;
  const fields = Array.isArray(error.fields) ? error.fields : [];
  let message;
  if (code === 'rate_limited') {
    const seconds = Number(response.headers.get('retry-after'));
    message = seconds > 0
      ? `Too many attempts. Try again in ${waitText(seconds)}.`
      : 'Too many attempts. Try again in a little while.';
  } else if (code === 'conflict') {
    // The server names what is taken (email or username) in a sentence meant for people.
    message = error.message || 'That account already exists.';
  } else {
    message = PLAIN_WORDS[code] ?? (error.message || `The server answered with an error (${response.status}).`);
  }
  return new ApiError(response.status, code, message, fields);
}

function waitText(seconds) {
  if (seconds < 90) return `${Math.ceil(seconds)} seconds`;
  return `${Math.ceil(seconds / 60)} minutes`;
}

// ------------------------------------------------------------------ talking to the API

async function send(method, path, body, withToken) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (withToken && state.token) headers.authorization = `Bearer ${state.token}`;
  try {
    return await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network', 'The server could not be reached. Check your connection and try again.');
  }
}

/**
 * Calls the API and returns the JSON body (null for 204). With `auth`, sends the access token
 * and, on a 401, renews it once through the cookie and retries.
 */
async function api(method, path, { body, auth = false } = {}) {
  const used = state.token;
  let response = await send(method, path, body, auth);
  if (auth && await tokenRefused(response)) {
    await renewOrEnd(used);
    response = await send(method, path, body, auth);
    if (await tokenRefused(response)) {
      endSession(PLAIN_WORDS.invalid_token, { tellOtherTabs: true });
      throw new SessionEnded();
    }
  }
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}

/** A 401 about the access token itself (not, say, a wrong current password). */
async function tokenRefused(response) {
  if (response.status !== 401) return false;
  try {
    return (await response.clone().json()).error?.code === 'invalid_token';
  } catch {
    return true;
  }
}

/** Renews the access token or, if the session is over, switches to the sign-in form. */
async function renewOrEnd(staleToken) {
  const outcome = await refresh(staleToken);
  if (outcome.ended) throw new SessionEnded();
  if (outcome.error) throw outcome.error;
}

/**
 * Gets a fresh access token through the refresh cookie, at most one tab at a time. Resolves to
 * `{}` on success, `{ended: true}` if the session is over, `{error}` if the server could not
 * answer (the current token, if any, is kept).
 */
function refresh(staleToken) {
  refreshing ??= withRefreshLock(() => refreshHoldingLock(staleToken)).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

function withRefreshLock(task) {
  // Web Locks exist in every current browser's secure contexts (https, localhost).
  return navigator.locks ? navigator.locks.request(LOCK_NAME, task) : task();
}

async function refreshHoldingLock(staleToken) {
  // While this tab waited for the lock, another one may have refreshed and shared its token.
  if (state.token && state.token !== staleToken && !renewalDue()) return {};
  const response = await postRefresh();
  if (!response) {
    return { error: new ApiError(0, 'network', 'The server could not be reached. Check your connection and try again.') };
  }
  if (response.ok) {
    adopt(await response.json(), { tellOtherTabs: true });
    return {};
  }
  const error = await errorFrom(response);
  if (response.status === 401 || response.status === 403) {
    // No usable cookie: never signed in here, signed out, revoked or expired.
    if (state.user) endSession(error.message, { tellOtherTabs: true });
    return { ended: true };
  }
  return { error };
}

/** POST /api/refresh with the cookie, retried when no answer arrived; null if none ever did. */
async function postRefresh() {
  let response = null;
  for (const pause of [0, ...REFRESH_RETRY_PAUSES_MS]) {
    if (pause) await new Promise((resolve) => { setTimeout(resolve, pause); });
    try {
      response = await fetch('/api/refresh', { method: 'POST', credentials: 'same-origin', cache: 'no-store' });
    } catch {
      response = null;
      continue;
    }
    if (!RETRYABLE_STATUSES.has(response.status)) break;
  }
  return response;
}

function renewalDue() {
  return Date.now() >= state.expiresAt - renewEarlyMs();
}

function renewEarlyMs() {
  return Math.min(RENEW_EARLY_MS, state.lifetimeMs / 5 || RENEW_EARLY_MS);
}

/** Takes a token response (`access_token`, `expires_in`, `user`) as this tab's session. */
function adopt(tokens, { tellOtherTabs }) {
  const lifetimeMs = Number(tokens.expires_in) * 1000;
  setSession({
    token: tokens.access_token,
    expiresAt: Date.now() + lifetimeMs,
    lifetimeMs,
    user: tokens.user,
  });
  if (tellOtherTabs) {
    channel?.postMessage({
      type: 'token',
      token: state.token,
      expiresAt: state.expiresAt,
      lifetimeMs: state.lifetimeMs,
      user: state.user,
    });
  }
}

function setSession({ token, expiresAt, lifetimeMs, user }) {
  const wasSignedIn = Boolean(state.user);
  const sameUser = state.user?.id === user.id;
  Object.assign(state, { token, expiresAt, lifetimeMs, user });
  scheduleRenewal();
  if (!wasSignedIn || !sameUser) showSignedIn();
}

function scheduleRenewal(delayMs) {
  clearTimeout(renewTimer);
  if (!state.token) return;
  const due = delayMs ?? Math.max(0, state.expiresAt - renewEarlyMs() - Date.now());
  renewTimer = setTimeout(async () => {
    const outcome = await refresh(state.token);
    if (outcome.error) scheduleRenewal(RETRY_MS);
  }, due);
}

function endSession(message, { tellOtherTabs }) {
  clearTimeout(renewTimer);
  Object.assign(state, { token: null, expiresAt: 0, lifetimeMs: 0, user: null, sessionId: null });
  if (tellOtherTabs) channel?.postMessage({ type: 'signed-out', message: message ?? 'You signed out in another tab.' });
  showSignedOut();
  if (message) say(message);
}

channel?.addEventListener('message', ({ data }) => {
  if (data?.type === 'token' && typeof data.token === 'string' && data.user) {
    setSession(data);
  } else if (data?.type === 'signed-out' && state.user) {
    endSession(data.message, { tellOtherTabs: false });
  }
});

// ------------------------------------------------------------------ the page

const $ = (selector) => document.querySelector(selector);

/** Builds an element: `el('li', {class: 'x'}, 'text', child)`. No HTML strings anywhere. */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value == null) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(...children.filter((c) => c != null && c !== false));
  return node;
}

function say(message) {
  showBox($('#notice'), message);
  showBox($('#problem'), null);
}

function complain(message) {
  showBox($('#problem'), message);
  showBox($('#notice'), null);
}

function showBox(box, message) {
  box.textContent = message ?? '';
  box.hidden = !message;
}

function clearMessages(form) {
  showBox($('#notice'), null);
  showBox($('#problem'), null);
  if (!form) return;
  for (const p of form.querySelectorAll('.field-error')) p.textContent = '';
  for (const input of form.querySelectorAll('input')) input.removeAttribute('aria-invalid');
}

/** Shows an error next to the fields it concerns and in the alert box. */
function report(error, form) {
  if (error instanceof SessionEnded) return;
  if (error?.name === 'NotAllowedError' || error?.name === 'AbortError') {
    complain('The passkey request was cancelled or timed out.');
    return;
  }
  if (!(error instanceof ApiError)) {
    console.error(error);
    complain('Something went wrong in this page. Reload it and try again.');
    return;
  }
  let firstInvalid = null;
  for (const { field, message } of error.fields) {
    const slot = form?.querySelector(`.field-error[data-field="${CSS.escape(field)}"]`);
    const input = form?.elements.namedItem(field);
    const text = `${FIELD_LABELS[field] ?? field} ${message}.`;
    if (slot) slot.textContent = text;
    if (input instanceof HTMLInputElement) {
      input.setAttribute('aria-invalid', 'true');
      firstInvalid ??= input;
    }
  }
  const summary = error.fields.length && !form
    ? error.fields.map((f) => `${FIELD_LABELS[f.field] ?? f.field} ${f.message}.`).join(' ')
    : error.message;
  complain(summary);
  firstInvalid?.focus();
}

/** Runs a form's action with its button disabled; errors land next to the fields. */
function onSubmit(form, action) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearMessages(form);
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await action(Object.fromEntries(new FormData(form)));
    } catch (error) {
      report(error, form);
    } finally {
      button.disabled = false;
    }
  });
}

function onClick(selector, action) {
  const button = $(selector);
  button.addEventListener('click', async () => {
    clearMessages();
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      report(error);
    } finally {
      button.disabled = false;
    }
  });
}

function showSignedOut() {
  $('#reset-screen').hidden = true;
  $('#signed-in').hidden = true;
  $('#signed-out').hidden = false;
  $('#who').textContent = 'Not signed in';
  $('#sessions').replaceChildren();
  $('#notes').replaceChildren();
  $('#passkeys').replaceChildren();
  $('#notes-status').textContent = 'Press Load to see them.';
  for (const form of document.querySelectorAll('form')) form.reset();
}

function showSignedIn() {
  const { user } = state;
  $('#reset-screen').hidden = true;
  $('#signed-out').hidden = true;
  $('#signed-in').hidden = false;
  $('#who').textContent = `Signed in as ${user.username}`;
  $('#profile-username').textContent = user.username;
  $('#profile-email').textContent = user.email;
  $('#profile-verified').textContent = user.email_verified ? 'Yes' : 'Not yet: open the link we mailed you';
  $('#profile-created').textContent = formatDate(user.created_at);
  $('#profile-id').textContent = user.id;
  showExpiry();
  loadProfileAndSessions().catch((error) => report(error));
}

function showForm(which) {
  const login = which === 'login';
  $('#login-form').hidden = !login;
  $('#register-form').hidden = which !== 'register';
  $('#forgot-form').hidden = which !== 'forgot';
  $('#show-login').setAttribute('aria-pressed', String(login));
  $('#show-register').setAttribute('aria-pressed', String(which === 'register'));
  clearMessages();
}

// ------------------------------------------------------------------ links from mails
//
// Mails link to this page with the token in the fragment (`#reset=…`, `#verify=…`,
// `#confirm-email=…`): browsers never send a fragment to a server or in a Referer. The page
// takes the token into memory and removes it from the address bar and the history at once.

const LINK_PATTERN = /^#(reset|verify|confirm-email)=([A-Za-z0-9_-]{1,128})$/;
let resetToken = null;

function takeLinkFromFragment() {
  const match = LINK_PATTERN.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, '', location.pathname + location.search);
  return { screen: match[1], token: match[2] };
}

async function followLink(link) {
  try {
    if (link.screen === 'verify') {
      await api('POST', '/api/email/verify', { body: { token: link.token } });
      if (state.user) {
        state.user.email_verified = true;
        $('#profile-verified').textContent = 'Yes';
      }
      say('Thank you: your email address is confirmed.');
    } else if (link.screen === 'confirm-email') {
      await api('POST', '/api/email/change/confirm', { body: { token: link.token } });
      say('Your account now uses the new email address. Sign in with it from now on.');
      if (state.user) await loadProfileAndSessions();
    } else {
      resetToken = link.token;
      showReset();
    }
  } catch (error) {
    report(error);
  }
}

function showReset() {
  $('#signed-in').hidden = true;
  $('#signed-out').hidden = true;
  $('#reset-screen').hidden = false;
  $('#who').textContent = state.user ? `Signed in as ${state.user.username}` : 'Not signed in';
  $('#reset-form [name=new_password]').focus();
}

async function loadProfileAndSessions() {
  const profile = await api('GET', '/api/profile', { auth: true });
  state.sessionId = profile.session_id;
  state.user = profile.user;
  $('#profile-email').textContent = profile.user.email;
  $('#profile-verified').textContent = profile.user.email_verified ? 'Yes' : 'Not yet: open the link we mailed you';
  await loadSessions();
  if (passkeysSupported) await loadPasskeys();
}

/**
 * Loaded on demand (the Load button, or after adding a note), so signing in costs the page no
 * extra request. The notes app is optional: without a `/notes/` route the panel hides itself.
 */
async function loadNotes() {
  const status = $('#notes-status');
  try {
    const { notes } = await api('GET', '/notes/api/notes', { auth: true });
    $('#notes-panel').hidden = false;
    status.textContent = notes.length ? '' : 'No notes yet.';
    $('#notes').replaceChildren(...notes.map((note) => el('li', {}, el('span', {}, note.text))));
  } catch (error) {
    if (error instanceof SessionEnded) throw error;
    if (error.status === 404) {
      $('#notes-panel').hidden = true;
      return;
    }
    status.textContent = 'The notes app is not reachable right now.';
  }
}

async function loadSessions() {
  const { sessions } = await api('GET', '/api/sessions', { auth: true });
  sessions.sort((a, b) => Number(b.current) - Number(a.current) || b.last_used_at - a.last_used_at);
  $('#sessions').replaceChildren(...sessions.map(sessionItem));
}

function sessionItem(session) {
  const revoke = session.current
    ? null
    : el('button', { type: 'button', class: 'danger small', 'data-session': session.id }, 'Revoke');
  revoke?.addEventListener('click', async () => {
    clearMessages();
    revoke.disabled = true;
    try {
      await api('DELETE', `/api/sessions/${encodeURIComponent(session.id)}`, { auth: true });
      say(`Signed out ${deviceName(session.user_agent)} (${session.ip}).`);
    } catch (error) {
      report(error);
    }
    await loadSessions().catch((error) => report(error));
  });
  return el('li', { class: session.current ? 'current' : null, 'data-session-id': session.id },
    el('div', { class: 'session-main' },
      el('strong', {}, deviceName(session.user_agent)),
      session.current ? el('span', { class: 'badge' }, 'This device') : null,
      el('span', { class: 'muted session-meta' },
        `${session.ip} · signed in ${formatAgo(session.created_at)} · last active ${formatAgo(session.last_used_at)}`)),
    revoke);
}

// ------------------------------------------------------------------ passkeys
//
// WebAuthn JSON (base64url binary fields) to and from what navigator.credentials takes and gives.

const passkeysSupported = typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
const b64 = {
  decode: (text) => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4)), (c) => c.charCodeAt(0)).buffer,
  encode: (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
};

function requestOptions(json) {
  return {
    ...json,
    challenge: b64.decode(json.challenge),
    allowCredentials: (json.allowCredentials ?? []).map((c) => ({ ...c, id: b64.decode(c.id) })),
  };
}

function assertionJson(credential) {
  const r = credential.response;
  return {
    id: credential.id,
    rawId: b64.encode(credential.rawId),
    type: credential.type,
    response: {
      authenticatorData: b64.encode(r.authenticatorData),
      clientDataJSON: b64.encode(r.clientDataJSON),
      signature: b64.encode(r.signature),
      userHandle: r.userHandle ? b64.encode(r.userHandle) : null,
    },
    extensions: credential.getClientExtensionResults(),
  };
}

async function passkeySignIn() {
  const { ceremony, publicKey } = await api('POST', '/api/passkeys/login/start', { body: {} });
  const credential = await navigator.credentials.get({ publicKey: requestOptions(publicKey) });
  return api('POST', '/api/passkeys/login/finish', { body: { ceremony, credential: assertionJson(credential) } });
}

async function addPasskey(name) {
  const { publicKey } = await api('POST', '/api/passkeys/register/start', { auth: true, body: {} });
  publicKey.challenge = b64.decode(publicKey.challenge);
  publicKey.user.id = b64.decode(publicKey.user.id);
  publicKey.excludeCredentials = (publicKey.excludeCredentials ?? []).map((c) => ({ ...c, id: b64.decode(c.id) }));
  const created = await navigator.credentials.create({ publicKey });
  const credential = {
    id: created.id,
    rawId: b64.encode(created.rawId),
    type: created.type,
    response: {
      attestationObject: b64.encode(created.response.attestationObject),
      clientDataJSON: b64.encode(created.response.clientDataJSON),
    },
    extensions: created.getClientExtensionResults(),
  };
  return api('POST', '/api/passkeys/register/finish', { auth: true, body: { name, credential } });
}

/** A passkey step-up for this session (removing a passkey needs a recent authentication). */
async function passkeyStepUp() {
  const { ceremony, publicKey } = await api('POST', '/api/passkeys/reauthenticate/start', { auth: true, body: {} });
  const credential = await navigator.credentials.get({ publicKey: requestOptions(publicKey) });
  const tokens = await api('POST', '/api/reauthenticate', { auth: true, body: { passkey: { ceremony, credential: assertionJson(credential) } } });
  adopt(tokens, { tellOtherTabs: true });
}

async function loadPasskeys() {
  const { passkeys } = await api('GET', '/api/passkeys', { auth: true });
  $('#passkeys').replaceChildren(...passkeys.map(passkeyItem));
}

function passkeyItem(passkey) {
  const rename = el('button', { type: 'button', class: 'small' }, 'Rename');
  const remove = el('button', { type: 'button', class: 'danger small' }, 'Remove');
  rename.setAttribute('aria-label', `Rename ${passkey.name}`);
  remove.setAttribute('aria-label', `Remove ${passkey.name}`);
  rename.addEventListener('click', async () => {
    clearMessages();
    const name = window.prompt('New name for this passkey', passkey.name);
    if (!name) return;
    try {
      await api('PATCH', `/api/passkeys/${encodeURIComponent(passkey.id)}`, { auth: true, body: { name } });
      await loadPasskeys();
    } catch (error) {
      report(error);
    }
  });
  remove.addEventListener('click', async () => {
    clearMessages();
    remove.disabled = true;
    const path = `/api/passkeys/${encodeURIComponent(passkey.id)}`;
    try {
      try {
        await api('DELETE', path, { auth: true });
      } catch (error) {
        if (error.code !== 'step_up_required') throw error;
        await passkeyStepUp();
        await api('DELETE', path, { auth: true });
      }
      say(`Removed the passkey ${passkey.name}.`);
    } catch (error) {
      report(error);
    }
    await loadPasskeys().catch((error) => report(error));
  });
  const used = passkey.last_used_at ? `last used ${formatAgo(passkey.last_used_at)}` : 'not used yet';
  return el('li', { 'data-passkey-id': passkey.id },
    el('div', { class: 'session-main' },
      el('strong', {}, passkey.name),
      passkey.backup_eligible ? el('span', { class: 'badge' }, 'Synced') : null,
      el('span', { class: 'muted session-meta' }, `added ${formatAgo(passkey.created_at)} · ${used}`)),
    el('div', { class: 'actions' }, rename, remove));
}

/** "Chrome on Linux" from a User-Agent, or the raw string when it is unfamiliar. */
function deviceName(userAgent = '') {
  const browser = [[/Edg\//, 'Edge'], [/Firefox\//, 'Firefox'], [/Chrome\//, 'Chrome'], [/Safari\//, 'Safari']]
    .find(([pattern]) => pattern.test(userAgent))?.[1];
  const system = [[/Android/, 'Android'], [/iPhone|iPad/, 'iOS'], [/Windows/, 'Windows'], [/Mac OS X/, 'macOS'], [/Linux/, 'Linux']]
    .find(([pattern]) => pattern.test(userAgent))?.[1];
  if (browser && system) return `${browser} on ${system}`;
  return userAgent.slice(0, 60) || 'Unknown device';
}

function formatDate(seconds) {
  return new Date(Number(seconds) * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
function formatAgo(seconds) {
  const diff = Number(seconds) - Date.now() / 1000;
  const steps = [[60, 'second'], [60, 'minute'], [24, 'hour'], [Infinity, 'day']];
  let value = diff;
  for (const [size, unit] of steps) {
    if (Math.abs(value) < size) return relative.format(Math.round(value), unit);
    value /= size;
  }
  return formatDate(seconds);
}

function showExpiry() {
  const left = Math.max(0, Math.round((state.expiresAt - Date.now()) / 1000));
  const text = left >= 60 ? `valid for ${Math.floor(left / 60)} min ${left % 60} s` : `valid for ${left} s`;
  $('#token-expiry').textContent = state.token ? `${text} (kept in memory only)` : '';
}

// ------------------------------------------------------------------ actions

function wire() {
  $('#show-login').addEventListener('click', () => showForm('login'));
  $('#show-register').addEventListener('click', () => showForm('register'));
  $('#show-forgot').addEventListener('click', () => showForm('forgot'));

  onSubmit($('#forgot-form'), async ({ email }) => {
    await api('POST', '/api/password/forgot', { body: { email } });
    say('If an account uses this address, a link to choose a new password is on its way. It works once, for 30 minutes.');
  });

  onClick('#resend-verification', async () => {
    const email = $('#forgot-form [name=email]').value;
    await api('POST', '/api/email/verify/resend', { body: { email } });
    say('If an unconfirmed account uses this address, a new confirmation link is on its way.');
  });

  onSubmit($('#reset-form'), async ({ new_password }) => {
    await api('POST', '/api/password/reset', { body: { token: resetToken, new_password } });
    resetToken = null;
    endSession(null, { tellOtherTabs: true });
    showForm('login');
    say('Your new password is set, and every session was signed out. Sign in with the new password.');
  });

  onSubmit($('#email-form'), async ({ new_email, current_password }) => {
    try {
      await api('POST', '/api/email/change', { auth: true, body: { new_email, current_password } });
    } catch (error) {
      if (error.code !== 'invalid_credentials') throw error;
      throw new ApiError(error.status, error.code, 'Your current password is not right.',
        [{ field: 'current_password', message: 'is not right' }]);
    }
    $('#email-form').reset();
    say('We mailed a confirmation link to the new address; the change happens when you open it. Your current address was told too.');
  });

  onSubmit($('#login-form'), async ({ email, password }) => {
    const tokens = await api('POST', '/api/login', { body: { email, password } });
    adopt(tokens, { tellOtherTabs: true });
    say(`Welcome back, ${tokens.user.username}.`);
  });

  onSubmit($('#register-form'), async ({ username, email, password }) => {
    await api('POST', '/api/register', { body: { username, email, password } });
    const tokens = await api('POST', '/api/login', { body: { email, password } });
    adopt(tokens, { tellOtherTabs: true });
    say(`Welcome, ${tokens.user.username}. Your account is ready and you are signed in.`);
  });

  onSubmit($('#password-form'), async ({ current_password, new_password }) => {
    try {
      await api('POST', '/api/password', { auth: true, body: { current_password, new_password } });
    } catch (error) {
      if (error.code !== 'invalid_credentials') throw error;
      throw new ApiError(error.status, error.code, 'Your current password is not right.',
        [{ field: 'current_password', message: 'is not right' }]);
    }
    $('#password-form').reset();
    say('Password changed. Every other session was signed out; this one stays signed in.');
    await loadSessions();
  });

  onClick('#renew', async () => {
    await renewOrEnd(state.token);
    showExpiry();
    say('Access token renewed.');
  });

  onClick('#reload-sessions', async () => {
    await loadSessions();
  });

  if (passkeysSupported) {
    $('#passkey-login').hidden = false;
    $('#passkeys-panel').hidden = false;
    onClick('#passkey-login', async () => {
      const tokens = await passkeySignIn();
      adopt(tokens, { tellOtherTabs: true });
      say(`Welcome back, ${tokens.user.username}.`);
    });
    onClick('#reload-passkeys', async () => {
      await loadPasskeys();
    });
    onSubmit($('#passkey-form'), async ({ name }) => {
      const added = await addPasskey(name);
      say(`Added the passkey ${added.name}. Next time, sign in with it.`);
      await loadPasskeys();
    });
  }

  onClick('#reload-notes', async () => {
    await loadNotes();
  });

  onSubmit($('#note-form'), async ({ text }) => {
    await api('POST', '/notes/api/notes', { auth: true, body: { text } });
    $('#note-form').reset();
    await loadNotes();
  });

  onClick('#logout', async () => {
    await api('POST', '/api/logout', { auth: true });
    endSession('You are signed out.', { tellOtherTabs: false });
    channel?.postMessage({ type: 'signed-out', message: 'You signed out in another tab.' });
  });

  onClick('#logout-all', async () => {
    await api('POST', '/api/logout-all', { auth: true });
    endSession('You are signed out on every device.', { tellOtherTabs: false });
    channel?.postMessage({ type: 'signed-out', message: 'You signed out everywhere from another tab.' });
  });

  setInterval(() => state.token && showExpiry(), 1000);
  document.addEventListener('visibilitychange', () => {
    // Timers are throttled in background tabs; catch up when the tab is shown again.
    if (document.visibilityState === 'visible' && state.token && renewalDue()) scheduleRenewal(0);
  });
}

async function start() {
  wire();
  const link = takeLinkFromFragment();
  // Restore the session from the refresh cookie, if there is one.
  const outcome = await refresh(null);
  if (!state.user) {
    showSignedOut();
    if (outcome.error) complain(outcome.error.message);
  }
  if (link) await followLink(link);
  // A link opened while this page is already open only changes the fragment.
  window.addEventListener('hashchange', () => {
    const next = takeLinkFromFragment();
    if (next) followLink(next);
  });
}

start();
