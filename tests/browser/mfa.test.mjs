// Second factors in a real browser (issue 19): the hosted sign-in asks for the TOTP code as a
// second form step (no JavaScript needed; axe-core finds no violations on it), and a rule with
// "mfa": true (the dev table's /notes/api/secure) sends a password-only session's navigation
// to sign in again, which passes once the code is given. Codes are computed here (RFC 6238).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const EDGE = (process.env.EDGEAUTH_EDGE_URL ?? '').replace(/\/$/, '');
const CHROMIUM = process.env.EDGEAUTH_CHROMIUM ?? '/usr/bin/chromium';
const STEP_MS = 15_000;
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const SECURE = '/notes/api/secure';

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
after(async () => {
  await browser?.close();
});

function newUser() {
  const tag = randomBytes(6).toString('hex');
  return { username: `m_${tag}`, email: `${tag}@mfa.example`, password: `lantern orbit ${tag} meadow` };
}

async function newContext() {
  const context = await browser.newContext({ bypassCSP: true });
  const [a, b, c] = randomBytes(3);
  context.address = `198.${18 + (a & 1)}.${b}.${c}`;
  return context;
}

async function newTab(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  await page.setExtraHTTPHeaders({ 'cf-connecting-ip': context.address });
  return page;
}

async function api(context, path, body, token) {
  const headers = { 'content-type': 'application/json', 'cf-connecting-ip': context.address };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${EDGE}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: response.status, body: await response.json().catch(() => null) };
}

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const char of text.replace(/=+$/, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(char);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 (SHA-1, 6 digits, 30 s): the code of time step `step`. */
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', secret).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const number = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(number).padStart(6, '0');
}

async function assertAccessible(page, what) {
  await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const summary = results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(summary, [], `axe violations on ${what}`);
}

async function signInByForm(page, user, next) {
  await page.goto(`${EDGE}/auth/sign-in?next=${encodeURIComponent(next)}`);
  await page.locator('#email').fill(user.email);
  await page.locator('#password').fill(user.password);
  await page.locator('button[type=submit]').click();
}

test('an mfa rule sends a password-only session to sign in; the code step lets it through', { timeout: 90_000 }, async () => {
  const context = await newContext();
  const user = newUser();
  assert.equal((await api(context, '/api/register', user)).status, 201);
  const login = await api(context, '/api/login', { email: user.email, password: user.password });
  assert.equal(login.status, 200, JSON.stringify(login.body));

  // A password-only browser session reaches the notes app, but not its mfa route.
  const page = await newTab(context);
  await signInByForm(page, user, '/notes/');
  await page.waitForURL(`${EDGE}/notes/`);
  await page.goto(`${EDGE}${SECURE}`);
  await page.waitForURL((url) => url.pathname === '/auth/sign-in');
  assert.equal(new URL(page.url()).searchParams.get('next'), SECURE);

  // TOTP on (through the API, with a code computed here).
  const enrollment = await api(context, '/api/mfa/totp/enroll', {}, login.body.access_token);
  assert.equal(enrollment.status, 200, JSON.stringify(enrollment.body));
  const secret = base32Decode(enrollment.body.secret);
  let step = Math.floor(Date.now() / 1000 / 30);
  const confirmed = await api(context, '/api/mfa/totp/confirm', { code: totp(secret, step) }, login.body.access_token);
  assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));

  // Signing in again: the password, then the code step.
  await page.locator('#email').fill(user.email);
  await page.locator('#password').fill(user.password);
  await page.locator('button[type=submit]').click();
  await page.locator('#code').waitFor();
  assert.equal(await page.locator('input[name=mfa_ticket][type=hidden]').count(), 1);
  assert.equal(await page.locator('#password').count(), 0);
  await assertAccessible(page, 'the code step');
  await page.locator('#code').fill(totp(secret, step + 40));
  await page.locator('button[type=submit]').click();
  await page.locator('[role=alert]').waitFor();
  await assertAccessible(page, 'the code step with an error');
  step += 1;
  await page.locator('#code').fill(totp(secret, step));
  await page.locator('button[type=submit]').click();
  await page.waitForURL(`${EDGE}${SECURE}`);
  const seen = JSON.parse(await page.locator('body').innerText());
  assert.equal(seen.claims.sub, login.body.user.id, 'the notes app saw the user');
  await context.close();
});
