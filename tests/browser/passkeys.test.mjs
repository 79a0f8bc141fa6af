// Passkeys in a real browser (Debian's Chromium through playwright-core) with a virtual
// authenticator (Chrome DevTools Protocol `WebAuthn.enable` + `WebAuthn.addVirtualAuthenticator`:
// ctap2, internal transport, resident keys, user verification): register a passkey, sign out,
// sign in with it from the hosted sign-in page without typing anything, delete it; and axe-core
// on the sign-in page with its passkey button. WebAuthn refuses IP addresses as relying-party
// id, so the pages are opened at `localhost`. The Rust suite runs it (tests/e2e/suite/browser.rs,
// `EDGEAUTH_BROWSER_ONLY=passkeys`); against `make dev`:
//
//   EDGEAUTH_EDGE_URL=http://localhost:8787 node --test tests/browser/passkeys.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const EDGE_RAW = (process.env.EDGEAUTH_EDGE_URL ?? '').replace(/\/$/, '');
const CHROMIUM = process.env.EDGEAUTH_CHROMIUM ?? '/usr/bin/chromium';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1100, height: 900 };
const STEP_MS = 15_000;
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

assert.ok(/^http:\/\/(127\.0\.0\.1|localhost):\d+$/.test(EDGE_RAW), `EDGEAUTH_EDGE_URL: ${JSON.stringify(EDGE_RAW)}`);
// The relying-party id is `localhost`: the same edge, by name.
const EDGE = EDGE_RAW.replace('://127.0.0.1:', '://localhost:');

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
});
after(async () => { await browser?.close(); });

async function newPage({ viewport = DESKTOP, bypassCSP = false } = {}) {
  const context = await browser.newContext({ viewport, bypassCSP });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const [a, b, c] = randomBytes(3);
  await page.setExtraHTTPHeaders({ 'cf-connecting-ip': `198.${18 + (a & 1)}.${b}.${c}` });
  return { context, page };
}

/** A platform authenticator with a user who always verifies (PIN or biometric). */
async function virtualAuthenticator(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

/** Registers an account and signs in through the API, in the page (same origin). */
async function signUp(page) {
  const tag = randomBytes(6).toString('hex');
  const user = { username: `p_${tag}`, email: `${tag}@passkey.example`, password: `lantern orbit ${tag} meadow` };
  return page.evaluate(async (user) => {
    const post = async (path, body) => {
      const r = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, body: await r.json().catch(() => null) };
    };
    const registered = await post('/api/register', user);
    if (registered.status !== 201) throw new Error(`register: ${registered.status} ${JSON.stringify(registered.body)}`);
    const login = await post('/api/login', { email: user.email, password: user.password });
    if (login.status !== 200) throw new Error(`login: ${login.status} ${JSON.stringify(login.body)}`);
    return login.body.access_token;
  }, user);
}

/** Registers a passkey for the session `access` in the page, as the demo page does. */
async function registerPasskey(page, access, name) {
  return page.evaluate(async ({ access, name }) => {
    const dec = (t) => Uint8Array.from(atob(t.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((t.length + 3) % 4)), (c) => c.charCodeAt(0)).buffer;
    const enc = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const auth = { Authorization: `Bearer ${access}`, 'Content-Type': 'application/json' };
    const start = await fetch('/api/passkeys/register/start', { method: 'POST', headers: auth, body: '{}' });
    if (start.status !== 200) throw new Error(`register/start: ${start.status} ${await start.text()}`);
    const { publicKey } = await start.json();
    publicKey.challenge = dec(publicKey.challenge);
    publicKey.user.id = dec(publicKey.user.id);
    publicKey.excludeCredentials = (publicKey.excludeCredentials ?? []).map((c) => ({ ...c, id: dec(c.id) }));
    const cred = await navigator.credentials.create({ publicKey });
    const credential = {
      id: cred.id,
      rawId: enc(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: enc(cred.response.attestationObject),
        clientDataJSON: enc(cred.response.clientDataJSON),
      },
      extensions: cred.getClientExtensionResults(),
    };
    const finish = await fetch('/api/passkeys/register/finish', { method: 'POST', headers: auth, body: JSON.stringify({ name, credential }) });
    return { status: finish.status, body: await finish.json().catch(() => null) };
  }, { access, name });
}

async function api(page, method, path, access) {
  return page.evaluate(async ({ method, path, access }) => {
    const r = await fetch(path, { method, headers: { Authorization: `Bearer ${access}` } });
    return { status: r.status, body: r.status === 204 ? null : await r.json().catch(() => null) };
  }, { method, path, access });
}

test('a passkey registers, signs in from the hosted page without a username, and is deleted', { timeout: 120_000 }, async () => {
  const { context, page } = await newPage();
  try {
    const { cdp, authenticatorId } = await virtualAuthenticator(context, page);
    await page.goto(`${EDGE}/auth/sign-in`);
    const access = await signUp(page);

    const registered = await registerPasskey(page, access, 'Virtual laptop');
    assert.equal(registered.status, 201, `register/finish: ${JSON.stringify(registered.body)}`);
    assert.equal(registered.body.name, 'Virtual laptop');
    const listed = await api(page, 'GET', '/api/passkeys', access);
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.passkeys.map((p) => p.id), [registered.body.id]);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1, 'one credential on the authenticator');
    assert.equal(credentials[0].isResidentCredential, true, 'a discoverable credential');
    const counterAfterRegistration = credentials[0].signCount;

    // Sign out: the browser forgets the session; the authenticator keeps the passkey.
    await context.clearCookies();
    await page.goto(`${EDGE}/auth/sign-in?next=/`);
    const email = page.locator('#email');
    assert.equal(await email.getAttribute('autocomplete'), 'username webauthn');
    const button = page.getByRole('button', { name: 'Sign in with a passkey' });
    const landed = page.waitForURL(`${EDGE}/`, { timeout: STEP_MS });
    // The conditional (autofill) request may finish the sign-in (and leave the page) before the
    // button is even visible: wait for whichever comes first.
    await Promise.race([button.waitFor({ state: 'visible' }), landed]);
    if (new URL(page.url()).pathname === '/auth/sign-in') {
      await button.click().catch(() => {});
    }
    await landed;
    const cookies = await context.cookies(EDGE);
    const at = cookies.find((c) => c.name === '__Host-edgeauth_at');
    assert.ok(at, `an access cookie after the passkey sign-in: ${cookies.map((c) => c.name)}`);
    const token = claims(at.value);
    assert.ok(token.amr.includes('hwk') && token.amr.includes('mfa'), `amr: ${token.amr}`);
    assert.ok(!token.amr.includes('pwd'), `amr: ${token.amr}`);

    const after = await api(page, 'GET', '/api/passkeys', at.value);
    assert.equal(after.body.passkeys[0].last_used_at > 0, true, 'the use was recorded');
    const { credentials: used } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.ok(used[0].signCount > counterAfterRegistration, 'the authenticator counted the use');

    // A step-up with the passkey (POST /api/reauthenticate): a new pair for the same session.
    const stepped = await page.evaluate(async (access) => {
      const dec = (t) => Uint8Array.from(atob(t.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((t.length + 3) % 4)), (c) => c.charCodeAt(0)).buffer;
      const enc = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      const auth = { Authorization: `Bearer ${access}`, 'Content-Type': 'application/json' };
      const start = await fetch('/api/passkeys/reauthenticate/start', { method: 'POST', headers: auth, body: '{}' });
      const { ceremony, publicKey } = await start.json();
      publicKey.challenge = dec(publicKey.challenge);
      publicKey.allowCredentials = publicKey.allowCredentials.map((c) => ({ ...c, id: dec(c.id) }));
      const cred = await navigator.credentials.get({ publicKey });
      const credential = {
        id: cred.id, rawId: enc(cred.rawId), type: cred.type,
        response: {
          authenticatorData: enc(cred.response.authenticatorData),
          clientDataJSON: enc(cred.response.clientDataJSON),
          signature: enc(cred.response.signature),
          userHandle: cred.response.userHandle ? enc(cred.response.userHandle) : null,
        },
        extensions: cred.getClientExtensionResults(),
      };
      const r = await fetch('/api/reauthenticate', { method: 'POST', headers: auth, body: JSON.stringify({ passkey: { ceremony, credential } }) });
      return { status: r.status, body: await r.json().catch(() => null) };
    }, at.value);
    assert.equal(stepped.status, 200, `passkey step-up: ${JSON.stringify(stepped.body)}`);
    const fresh = claims(stepped.body.access_token);
    assert.equal(fresh.sid, token.sid, 'the same session');
    assert.ok(fresh.amr.includes('hwk') && fresh.amr.includes('mfa'), `amr after the step-up: ${fresh.amr}`);

    // Just stepped up: recent enough to remove it.
    const removed = await api(page, 'DELETE', `/api/passkeys/${registered.body.id}`, stepped.body.access_token);
    assert.equal(removed.status, 204, `delete: ${JSON.stringify(removed.body)}`);
    const empty = await api(page, 'GET', '/api/passkeys', stepped.body.access_token);
    assert.deepEqual(empty.body.passkeys, []);
  } finally {
    await context.close();
  }
});

/** axe-core on the page as it is now: no violations. Needs a context with bypassCSP. */
async function assertNoAxeViolations(page, what) {
  await page.addScriptTag({ content: AXE_SOURCE });
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const summary = results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(summary, [], `axe violations on ${what}`);
}

test('the sign-in page with its passkey button has no axe-core violations at phone and desktop widths', { timeout: 60_000 }, async () => {
  for (const viewport of [PHONE, DESKTOP]) {
    const { context, page } = await newPage({ viewport, bypassCSP: true });
    try {
      await page.goto(`${EDGE}/auth/sign-in`);
      await page.getByRole('button', { name: 'Sign in with a passkey' }).waitFor({ state: 'visible' });
      await assertNoAxeViolations(page, `the sign-in page at ${viewport.width} px`);
    } finally {
      await context.close();
    }
  }
});

test('the demo page adds, lists, renames, signs in with and removes a passkey, with no axe-core violations', { timeout: 120_000 }, async () => {
  const { context, page } = await newPage({ bypassCSP: true });
  try {
    await virtualAuthenticator(context, page);
    await page.goto(`${EDGE}/`);
    await page.waitForFunction(() => document.querySelector('#who')?.textContent !== 'Checking your session…');
    const tag = randomBytes(6).toString('hex');
    const user = { username: `d_${tag}`, email: `${tag}@demo-passkey.example`, password: `lantern orbit ${tag} meadow` };
    await page.click('#show-register');
    const form = page.locator('#register-form');
    await form.locator('[name=username]').fill(user.username);
    await form.locator('[name=email]').fill(user.email);
    await form.locator('[name=password]').fill(user.password);
    await form.locator('button[type=submit]').click();
    await page.locator('#signed-in').waitFor({ state: 'visible' });

    const add = page.locator('#passkey-form');
    await add.locator('[name=name]').fill('Demo key');
    await add.locator('button[type=submit]').click();
    await page.locator('#passkeys li', { hasText: 'Demo key' }).waitFor();
    for (const viewport of [PHONE, DESKTOP]) {
      await page.setViewportSize(viewport);
      await assertNoAxeViolations(page, `the demo page with a passkey at ${viewport.width} px`);
    }

    page.once('dialog', (dialog) => dialog.accept('Renamed key'));
    await page.getByRole('button', { name: 'Rename Demo key' }).click();
    await page.locator('#passkeys li', { hasText: 'Renamed key' }).waitFor();

    await page.click('#logout');
    await page.locator('#signed-out').waitFor({ state: 'visible' });
    await page.click('#show-login');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.locator('#signed-in').waitFor({ state: 'visible' });
    assert.equal((await page.textContent('#who'))?.trim(), `Signed in as ${user.username}`);

    await page.getByRole('button', { name: 'Remove Renamed key' }).click();
    await page.locator('#passkeys li').waitFor({ state: 'detached' });
    assert.equal(await page.locator('#passkeys li').count(), 0);
  } finally {
    await context.close();
  }
});
