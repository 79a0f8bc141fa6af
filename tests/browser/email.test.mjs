// The demo page's mail screens in a real browser (Debian's Chromium through playwright-core):
// forgot password → the link from maildev's inbox → a new password → signed in; the verify link;
// and axe-core finds no accessibility violations on these screens at phone and desktop widths.
// The Rust suite runs it against its stack (tests/e2e/suite/browser.rs); against `make dev`:
//
//   EDGEAUTH_EDGE_URL=http://127.0.0.1:8787 EDGEAUTH_MAILDEV_URL=http://127.0.0.1:1080 \
//     node --test tests/browser/email.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const EDGE = (process.env.EDGEAUTH_EDGE_URL ?? '').replace(/\/$/, '');
const MAILDEV = (process.env.EDGEAUTH_MAILDEV_URL ?? '').replace(/\/$/, '');
const CHROMIUM = process.env.EDGEAUTH_CHROMIUM ?? '/usr/bin/chromium';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1100, height: 900 };
const STEP_MS = 15_000;
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

assert.ok(/^http:\/\/(127\.0\.0\.1|localhost):\d+$/.test(EDGE), `EDGEAUTH_EDGE_URL: ${JSON.stringify(EDGE)}`);
assert.ok(/^http:\/\/(127\.0\.0\.1|localhost):\d+$/.test(MAILDEV), `EDGEAUTH_MAILDEV_URL: ${JSON.stringify(MAILDEV)}`);

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

function newUser() {
  const tag = randomBytes(6).toString('hex');
  return { username: `m_${tag}`, email: `${tag}@mail.example`, password: `lantern orbit ${tag} meadow` };
}

/** A browser profile with its own client address (per-address limits never mix up tests). */
async function newPage({ viewport = DESKTOP, bypassCSP = false } = {}) {
  const context = await browser.newContext({ viewport, bypassCSP });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const [a, b, c] = randomBytes(3);
  await page.setExtraHTTPHeaders({ 'cf-connecting-ip': `198.${18 + (a & 1)}.${b}.${c}` });
  return { context, page };
}

async function newTab(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const [a, b, c] = randomBytes(3);
  await page.setExtraHTTPHeaders({ 'cf-connecting-ip': `198.${18 + (a & 1)}.${b}.${c}` });
  return page;
}

async function settled(page) {
  await page.waitForFunction(() => document.querySelector('#who')?.textContent !== 'Checking your session…');
}

/** The newest mail to `address` whose subject contains `subject`, from maildev's REST API. */
async function mailTo(address, subject) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const mails = await (await fetch(`${MAILDEV}/api/email`)).json();
    const found = mails.filter((m) => m.subject.includes(subject)
      && (m.to ?? []).some((t) => t.address.toLowerCase() === address.toLowerCase()));
    if (found.length) return found[found.length - 1];
    assert.ok(Date.now() < deadline, `no "${subject}" mail to ${address}`);
    await new Promise((resolve) => { setTimeout(resolve, 200); });
  }
}

function linkIn(mail, screen) {
  const match = new RegExp(`(https?://\\S+/#${screen}=[A-Za-z0-9_-]+)`).exec(mail.text);
  assert.ok(match, `no #${screen}= link in ${mail.text}`);
  return match[1];
}

/** axe-core on the page as it is now: no violations. CSP is bypassed in this context only so
 * the audit script can be injected. */
async function assertAccessible(page, what) {
  await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const summary = results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(summary, [], `axe violations on ${what}`);
}

async function register(page, user) {
  await page.goto(`${EDGE}/`);
  await settled(page);
  await page.click('#show-register');
  const form = page.locator('#register-form');
  await form.locator('[name=username]').fill(user.username);
  await form.locator('[name=email]').fill(user.email);
  await form.locator('[name=password]').fill(user.password);
  await form.locator('button[type=submit]').click();
  await page.locator('#signed-in').waitFor({ state: 'visible' });
}

test('a reset link from the inbox leads to a new password and a signed-in page', { timeout: 120_000 }, async () => {
  const user = newUser();
  const { context, page } = await newPage();
  await register(page, user);
  await page.click('#logout');
  await page.locator('#signed-out').waitFor({ state: 'visible' });

  await page.click('#show-login');
  await page.click('#show-forgot');
  await page.locator('#forgot-form [name=email]').fill(user.email);
  await page.locator('#forgot-form button[type=submit]').click();
  await page.waitForFunction(() => /on its way/.test(document.querySelector('#notice')?.textContent ?? ''));

  const link = linkIn(await mailTo(user.email, 'Reset your password'), 'reset');
  assert.ok(link.startsWith(`${EDGE}/#reset=`), link);
  // Opened from the mail: a fresh tab.
  await page.close();
  const tab = await newTab(context);
  const opened = await tab.goto(link);
  assert.ok(opened, 'the link loads the page');
  assert.equal(opened.headers()['referrer-policy'], 'no-referrer');
  await settled(tab);
  await tab.locator('#reset-screen').waitFor({ state: 'visible' });
  assert.equal(new URL(tab.url()).hash, '', 'the token leaves the address bar at once');

  const password = `${user.password} renewed`;
  await tab.locator('#reset-form [name=new_password]').fill(password);
  await tab.locator('#reset-form button[type=submit]').click();
  await tab.locator('#login-form').waitFor({ state: 'visible' });
  await tab.waitForFunction(() => /new password is set/.test(document.querySelector('#notice')?.textContent ?? ''));

  await tab.locator('#login-form [name=email]').fill(user.email);
  await tab.locator('#login-form [name=password]').fill(password);
  await tab.locator('#login-form button[type=submit]').click();
  await tab.locator('#signed-in').waitFor({ state: 'visible' });
  assert.equal(await tab.textContent('#profile-username'), user.username);

  // The same link again: refused in plain words.
  await tab.goto(link);
  await settled(tab);
  await tab.locator('#reset-screen').waitFor({ state: 'visible' });
  await tab.locator('#reset-form [name=new_password]').fill(`${password} again`);
  await tab.locator('#reset-form button[type=submit]').click();
  await tab.locator('#problem').waitFor({ state: 'visible' });
  assert.match(await tab.textContent('#problem'), /no longer works/);
  await context.close();
});

test('the verify link confirms the address shown in the profile', { timeout: 90_000 }, async () => {
  const user = newUser();
  const { context, page } = await newPage();
  await register(page, user);
  await page.waitForFunction(() => document.querySelector('#profile-verified')?.textContent.startsWith('Not yet'));
  const link = linkIn(await mailTo(user.email, 'Confirm your email address'), 'verify');
  await page.goto(link);
  await settled(page);
  await page.waitForFunction(() => /confirmed/.test(document.querySelector('#notice')?.textContent ?? ''));
  await page.waitForFunction(() => document.querySelector('#profile-verified')?.textContent === 'Yes');
  await context.close();
});

test('the mail screens have no axe-core violations at phone and desktop widths', { timeout: 120_000 }, async () => {
  const user = newUser();
  for (const viewport of [PHONE, DESKTOP]) {
    const { context, page } = await newPage({ viewport, bypassCSP: true });
    await page.goto(`${EDGE}/`);
    await settled(page);
    await page.click('#show-forgot');
    await assertAccessible(page, `the forgot-password form (${viewport.width}px)`);
    await page.goto(`${EDGE}/#reset=${'A'.repeat(43)}`);
    await settled(page);
    await page.locator('#reset-screen').waitFor({ state: 'visible' });
    await assertAccessible(page, `the reset screen (${viewport.width}px)`);
    await context.close();
  }
  const { context, page } = await newPage({ viewport: PHONE, bypassCSP: true });
  await register(page, user);
  await assertAccessible(page, 'the signed-in page with the email forms (390px)');
  await context.close();
});
