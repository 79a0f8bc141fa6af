// The demo page in a real browser: Debian's Chromium driven by playwright-core against a running
// edge (wrangler dev). The Rust end-to-end suite runs this file against its own stack
// (tests/e2e/suite/browser.rs); to run it against `make dev`:
//
//   EDGEAUTH_EDGE_URL=http://127.0.0.1:8787 node --test tests/browser/*.test.mjs
//
// Environment: EDGEAUTH_EDGE_URL (required), EDGEAUTH_CHROMIUM (default /usr/bin/chromium),
// EDGEAUTH_ARTIFACTS_DIR (screenshots; default tests/artifacts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const EDGE = (process.env.EDGEAUTH_EDGE_URL ?? '').replace(/\/$/, '');
const CHROMIUM = process.env.EDGEAUTH_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = process.env.EDGEAUTH_ARTIFACTS_DIR
  ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'artifacts');
const COOKIE = '__Host-edgeauth_rt';
const PHONE = { width: 390, height: 844 };
const STEP_MS = 15_000;

assert.ok(/^http:\/\/(127\.0\.0\.1|localhost):\d+$/.test(EDGE),
  `EDGEAUTH_EDGE_URL must be the local edge, like http://127.0.0.1:8787 (got ${JSON.stringify(EDGE)})`);
const EDGE_URL = new URL(EDGE);
// The same host on another port is another origin but the *same site*: SameSite=Strict still
// attaches the cookie, so only the edge's Origin check protects it. The other loopback name is
// another site altogether: the browser withholds the cookie.
const OTHER_HOST = EDGE_URL.hostname === '127.0.0.1' ? 'localhost' : '127.0.0.1';

let browser;
let elsewhere;
/** Console errors about CSP or Trusted Types on the demo page, and uncaught page errors. */
const problems = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  elsewhere = await serveElsewhere();
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  elsewhere?.close();
});

// ------------------------------------------------------------------ helpers

function newUser() {
  const tag = randomBytes(6).toString('hex');
  return { username: `b_${tag}`, email: `${tag}@browser.example`, password: `lantern orbit ${tag} meadow` };
}

/**
 * Each browser profile claims its own client address, the way the Rust suite's clients do:
 * wrangler dev passes CF-Connecting-IP through, and the origin's per-address rate limits
 * (registrations, logins, refreshes) then never mix up tests or repeated runs. Only demo
 * pages send it: on a cross-origin request it would force a CORS preflight.
 */
const deviceAddresses = new WeakMap();
function deviceAddress(context) {
  if (!deviceAddresses.has(context)) {
    const [a, b, c] = randomBytes(3);
    deviceAddresses.set(context, `198.${18 + (a & 1)}.${b}.${c}`);
  }
  return deviceAddresses.get(context);
}

/** A tab on the demo page that records CSP violations and script errors. */
async function openDemo(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  await page.setExtraHTTPHeaders({ 'cf-connecting-ip': deviceAddress(context) });
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy|Trusted Type/i.test(message.text())) {
      problems.push(`${page.url()}: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`${page.url()}: ${error.message}`));
  await page.goto(`${EDGE}/`);
  await settled(page);
  return page;
}

/** Waits until the page has decided whether it is signed in. */
async function settled(page) {
  await page.waitForFunction(() => document.querySelector('#who')?.textContent !== 'Checking your session…');
}

const signedIn = (page) => page.locator('#signed-in').waitFor({ state: 'visible' });
const signedOut = (page) => page.locator('#signed-out').waitFor({ state: 'visible' });

async function register(page, user) {
  await page.click('#show-register');
  const form = page.locator('#register-form');
  await form.locator('[name=username]').fill(user.username);
  await form.locator('[name=email]').fill(user.email);
  await form.locator('[name=password]').fill(user.password);
  await form.locator('button[type=submit]').click();
}

async function logIn(page, user) {
  await page.click('#show-login');
  const form = page.locator('#login-form');
  await form.locator('[name=email]').fill(user.email);
  await form.locator('[name=password]').fill(user.password);
  await form.locator('button[type=submit]').click();
}

/** A new browser profile (another device) with `user` signed in on the demo page. */
async function deviceSignedIn(user, { registerFirst = false, viewport } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await openDemo(context);
  await (registerFirst ? register(page, user) : logIn(page, user));
  await signedIn(page);
  await page.locator('#sessions li').first().waitFor();
  return { context, page };
}

async function refreshCookie(context) {
  return (await context.cookies(EDGE)).find((c) => c.name === COOKIE);
}

async function sessionCount(page) {
  await page.click('#reload-sessions');
  await page.waitForFunction(() => !document.querySelector('#reload-sessions').disabled);
  return page.locator('#sessions li').count();
}

async function text(page, selector) {
  return (await page.locator(selector).textContent())?.trim();
}

/** A throwaway site on another port: the page a CSRF attacker controls. */
function serveElsewhere() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>another site</title><h1>Nothing to see here</h1>'
      + `<form id="logout" method="post" action="${EDGE}/api/logout"></form>`);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/**
 * The request headers exactly as Chromium put them on the wire (Cookie and Origin included),
 * by URL. Playwright's own request events may miss those for no-cors requests.
 */
async function wireHeaders(context, page) {
  const cdp = await context.newCDPSession(page);
  const urls = new Map();
  const seen = [];
  cdp.on('Network.requestWillBeSent', ({ requestId, request }) => urls.set(requestId, request.url));
  cdp.on('Network.requestWillBeSentExtraInfo', ({ requestId, headers }) => {
    seen.push({ requestId, headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])) });
  });
  await cdp.send('Network.enable');
  return (url) => seen.filter((s) => urls.get(s.requestId) === url).map((s) => s.headers);
}

function assertNoProblems() {
  assert.deepEqual(problems.splice(0), [], 'the demo page ran into CSP violations or script errors');
}

// ------------------------------------------------------------------ tests

test('register and log in through the form; a reload keeps the session; the cookie stays hidden', { timeout: 90_000 }, async () => {
  const user = newUser();
  const context = await browser.newContext();
  const page = await openDemo(context);
  await signedOut(page);

  await register(page, user);
  await signedIn(page);
  assert.match(await text(page, '#notice'), /account is ready/);
  assert.equal(await text(page, '#profile-username'), user.username);
  assert.equal(await text(page, '#profile-email'), user.email.toLowerCase());
  await page.locator('#sessions li.current').waitFor();

  const cookie = await refreshCookie(context);
  assert.ok(cookie, 'the refresh cookie is set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.secure, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.path, '/');
  assert.ok(cookie.expires > Date.now() / 1000 + 6 * 24 * 3600, 'lives as long as the idle lifetime');
  const storage = await page.evaluate(() => ({
    cookie: document.cookie,
    local: localStorage.length,
    session: sessionStorage.length,
  }));
  assert.equal(storage.cookie, '', 'document.cookie shows nothing');
  assert.equal(storage.local, 0, 'nothing in localStorage');
  assert.equal(storage.session, 0, 'nothing in sessionStorage');

  // A reload forgets the in-memory access token; the cookie brings the session back.
  await page.reload();
  await settled(page);
  await signedIn(page);
  assert.equal(await text(page, '#who'), `Signed in as ${user.username}`);
  await page.locator('#sessions li.current').waitFor();

  // Log out, then log in again through the sign-in form.
  await page.click('#logout');
  await signedOut(page);
  assert.equal(await text(page, '#notice'), 'You are signed out.');
  assert.equal(await refreshCookie(context), undefined, 'logout deletes the cookie');
  await page.reload();
  await settled(page);
  await signedOut(page);
  await logIn(page, user);
  await signedIn(page);
  assert.match(await text(page, '#notice'), /Welcome back/);

  assertNoProblems();
  await context.close();
});

test('API errors are shown in plain words', { timeout: 60_000 }, async () => {
  const user = newUser();
  const context = await browser.newContext();
  const page = await openDemo(context);
  await signedOut(page);

  await register(page, { ...user, username: 'no spaces!', password: 'short' });
  await page.locator('#problem').waitFor();
  assert.equal(await text(page, '#problem'), 'Some details need another look.');
  assert.match(await text(page, '#register-form [data-field=username]'), /^Username may only contain/);
  assert.match(await text(page, '#register-form [data-field=password]'), /^Password must be 8 to 128 characters long/);
  assert.equal(await page.getAttribute('#register-form [name=username]', 'aria-invalid'), 'true');

  await register(page, user);
  await signedIn(page);
  await page.click('#logout');
  await signedOut(page);
  await register(page, { ...user, username: `${user.username}x` });
  await page.locator('#problem').waitFor();
  assert.equal(await text(page, '#problem'), 'An account with this email already exists.');

  await logIn(page, { ...user, password: 'not the password' });
  await page.locator('#problem').waitFor();
  assert.equal(await text(page, '#problem'), 'That email address and password do not match an account.');

  assertNoProblems();
  await context.close();
});

test('two tabs renewing at the same moment both stay signed in', { timeout: 90_000 }, async () => {
  const user = newUser();
  const { context, page: first } = await deviceSignedIn(user, { registerFirst: true });
  const second = await openDemo(context);
  await signedIn(second);

  // Every refresh the two tabs make, with when it started and ended.
  const refreshes = [];
  context.on('request', (request) => {
    if (request.url().endsWith('/api/refresh')) refreshes.push({ request, start: performance.now(), end: Infinity });
  });
  const finished = (request) => {
    const entry = refreshes.find((r) => r.request === request);
    if (entry) entry.end = performance.now();
  };
  context.on('requestfinished', finished);
  context.on('requestfailed', finished);

  // Force a renewal in both tabs at once.
  await Promise.all([first, second].map((page) => page.evaluate(() => document.querySelector('#renew').click())));
  for (const page of [first, second]) {
    await page.locator('#notice', { hasText: 'Access token renewed.' }).waitFor();
  }
  assert.ok(refreshes.length >= 1, 'at least one tab refreshed');
  for (const { request } of refreshes) {
    assert.equal((await request.response())?.status(), 200, 'every refresh succeeded');
  }
  // The Web Lock serialises refreshes across tabs: they never overlap.
  const sorted = [...refreshes].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i += 1) {
    assert.ok(sorted[i].start >= sorted[i - 1].end, `refresh ${i} started before refresh ${i - 1} finished`);
  }

  // Both tabs keep working, on the one session, and a reload still finds a valid cookie.
  for (const page of [first, second]) {
    assert.equal(await sessionCount(page), 1);
    await signedIn(page);
  }
  await second.reload();
  await settled(second);
  await signedIn(second);

  // The safety net: refreshes that bypass the page's lock and race with the same cookie
  // land in the server's grace window; both succeed and nothing is revoked. The browser holds
  // each request until both are issued, so the two are on their way to the edge together.
  const flights = [];
  let bothIssued;
  const barrier = new Promise((resolve, reject) => {
    bothIssued = resolve;
    setTimeout(() => reject(new Error(`only ${flights.length} of 2 refreshes were issued`)), STEP_MS);
  });
  await context.route('**/api/refresh', (route) => {
    if (flights.length === 1) bothIssued();
    flights.push((async () => {
      await barrier;
      const sent = performance.now();
      await route.continue();
      await route.request().response();
      return { sent, answered: performance.now() };
    })());
  });
  const raced = await Promise.all([first, second].map((page) => page.evaluate(async () => {
    const response = await fetch('/api/refresh', { method: 'POST' });
    return response.status;
  })));
  assert.deepEqual(raced, [200, 200]);
  assert.equal(flights.length, 2, 'both tabs sent their refresh');
  const [a, b] = await Promise.all(flights);
  await context.unroute('**/api/refresh');
  assert.ok(a.sent < b.answered && b.sent < a.answered, 'each refresh was sent before the other was answered');
  for (const page of [first, second]) {
    await page.reload();
    await settled(page);
    await signedIn(page);
  }
  assert.equal(await sessionCount(first), 1);

  assertNoProblems();
  await context.close();
});

test('a refresh whose answer is lost is retried, and the session survives', { timeout: 60_000 }, async () => {
  const user = newUser();
  const { context, page } = await deviceSignedIn(user, { registerFirst: true });
  const before = (await refreshCookie(context)).value;

  // The next refresh reaches the server, which rotates the token, but its answer never reaches
  // the page: the test sends the page's request itself and cuts the page's connection.
  let rotated = null;
  let attempts = 0;
  await page.route('**/api/refresh', async (route) => {
    attempts += 1;
    if (rotated) {
      await route.continue();
      return;
    }
    const response = await fetch(route.request().url(), {
      method: 'POST',
      headers: {
        cookie: `${COOKIE}=${before}`,
        origin: EDGE,
        'cf-connecting-ip': deviceAddress(context),
      },
    });
    rotated = { status: response.status, body: await response.json() };
    await route.abort('connectionreset');
  });
  await page.click('#renew');
  await page.locator('#notice', { hasText: 'Access token renewed.' }).waitFor();
  assert.equal(rotated?.status, 200, 'the lost refresh rotated the token on the server');
  assert.ok(attempts >= 2, `the page retried (${attempts} attempts)`);
  // The retry presented the old cookie and got the very same successor: one session, no reuse.
  const after = (await refreshCookie(context)).value;
  assert.notEqual(after, before);
  assert.equal(after, rotated.body.refresh_token, 'the retry got the same successor');
  await page.unroute('**/api/refresh');
  assert.equal(await sessionCount(page), 1);
  await page.reload();
  await settled(page);
  await signedIn(page);

  assertNoProblems();
  await context.close();
});

test('the page renews its access token shortly before expiry, and after a 401', { timeout: 60_000 }, async () => {
  const user = newUser();
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  // The page's clock is under the test's control; the server's is not, so tokens stay valid.
  await page.clock.install();
  await page.setExtraHTTPHeaders({ 'cf-connecting-ip': deviceAddress(context) });
  page.on('pageerror', (error) => problems.push(`${page.url()}: ${error.message}`));
  await page.goto(`${EDGE}/`);
  await settled(page);
  await register(page, user);
  await signedIn(page);
  await page.locator('#sessions li').first().waitFor();

  // Fifteen-minute tokens are renewed a minute early: nothing at 13 minutes, a refresh by 14.
  let renewals = 0;
  page.on('request', (request) => {
    if (request.url().endsWith('/api/refresh')) renewals += 1;
  });
  await page.clock.fastForward('13:00');
  // Timers due by now fired inside fastForward, and a renewal asks for the page's Web Lock
  // before anything else (it holds it until its response is in): none is held or waited for.
  const locks = await page.evaluate(async () => {
    const { held, pending } = await navigator.locks.query();
    return [...held, ...pending].map((lock) => lock.name);
  });
  assert.deepEqual(locks, [], 'no renewal is under way with two minutes left');
  assert.equal(renewals, 0, 'no renewal with two minutes left');
  const refreshed = page.waitForResponse((r) => r.url().endsWith('/api/refresh'));
  await page.clock.fastForward('01:05');
  assert.equal((await refreshed).status(), 200);
  assert.equal(renewals, 1);
  await page.waitForFunction(() => /valid for 1[45] min/.test(document.querySelector('#token-expiry').textContent));

  // An API call refused with 401 invalid_token (as after the token expired) renews once and
  // is retried, invisibly to the person.
  let refusals = 0;
  await page.route('**/api/sessions', async (route) => {
    if (refusals++ > 0) return route.continue();
    return route.fulfill({
      status: 401,
      contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'invalid_token', message: 'expired' } }),
    });
  });
  const renewal = page.waitForResponse((r) => r.url().endsWith('/api/refresh'));
  await page.click('#reload-sessions');
  assert.equal((await renewal).status(), 200);
  await page.waitForFunction(() => !document.querySelector('#reload-sessions').disabled);
  assert.equal(refusals, 2, 'the call was retried once');
  await signedIn(page);
  assert.equal(await page.locator('#sessions li').count(), 1);
  assert.equal(await page.locator('#problem').isVisible(), false);

  assertNoProblems();
  await context.close();
});

test('log out everywhere signs out the other tab and, at its next request, another device', { timeout: 90_000 }, async () => {
  const user = newUser();
  const { context, page: tab } = await deviceSignedIn(user, { registerFirst: true });
  const otherTab = await openDemo(context);
  await signedIn(otherTab);
  const { context: phoneContext, page: phone } = await deviceSignedIn(user, { viewport: PHONE });
  assert.equal(await sessionCount(tab), 2);

  await tab.click('#logout-all');
  await signedOut(tab);
  assert.equal(await text(tab, '#notice'), 'You are signed out on every device.');
  await signedOut(otherTab);
  assert.match(await text(otherTab, '#notice'), /another tab/);

  // The other device still shows its page and holds an unexpired access token; its next
  // request is refused at the edge and the page falls back to the sign-in form.
  await signedIn(phone);
  const refused = phone.waitForResponse((r) => r.url().endsWith('/api/sessions'));
  await phone.click('#reload-sessions');
  assert.equal((await refused).status(), 401);
  await signedOut(phone);
  assert.equal(await text(phone, '#notice'), 'Your session has ended. Please sign in again.');
  assert.equal(await refreshCookie(phoneContext), undefined, 'the failed refresh deleted the cookie');

  assertNoProblems();
  await context.close();
  await phoneContext.close();
});

test('revoking another session from the list, and changing the password', { timeout: 90_000 }, async () => {
  const user = newUser();
  const { context, page } = await deviceSignedIn(user, { registerFirst: true });
  const { context: laptopContext, page: laptop } = await deviceSignedIn(user);
  const { context: phoneContext, page: phone } = await deviceSignedIn(user, { viewport: PHONE });
  assert.equal(await sessionCount(page), 3);

  // Revoke the laptop from the first device's list.
  const laptopSession = await laptop.evaluate(async () => {
    const item = document.querySelector('#sessions li.current');
    return item?.getAttribute('data-session-id');
  });
  await page.click(`#sessions button[data-session="${laptopSession}"]`);
  await page.locator('#notice', { hasText: 'Signed out' }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('#sessions li').length === 2);
  await laptop.click('#reload-sessions');
  await signedOut(laptop);

  // A wrong current password is explained next to the field.
  const form = page.locator('#password-form');
  await form.locator('[name=current_password]').fill('not my password');
  await form.locator('[name=new_password]').fill(`${user.password} again`);
  await form.locator('button[type=submit]').click();
  await page.locator('#problem').waitFor();
  assert.match(await text(page, '#problem'), /current password/i);

  // The right one: this session stays, the phone's ends.
  await form.locator('[name=current_password]').fill(user.password);
  await form.locator('[name=new_password]').fill(`${user.password} again`);
  await form.locator('button[type=submit]').click();
  await page.locator('#notice', { hasText: 'Password changed' }).waitFor();
  assert.equal(await sessionCount(page), 1);
  await phone.click('#reload-sessions');
  await signedOut(phone);
  await logIn(phone, { ...user, password: `${user.password} again` });
  await signedIn(phone);

  assertNoProblems();
  await context.close();
  await laptopContext.close();
  await phoneContext.close();
});

test('the notes panel keeps notes in the example app behind the edge', { timeout: 90_000 }, async () => {
  const user = newUser();
  const { context, page } = await deviceSignedIn(user, { registerFirst: true });
  await page.click('#reload-notes');
  await page.waitForFunction(() => document.querySelector('#notes-status')?.textContent === 'No notes yet.');
  const form = page.locator('#note-form');
  await form.locator('[name=text]').fill('Written through the edge');
  await form.locator('button[type=submit]').click();
  await page.locator('#notes li', { hasText: 'Written through the edge' }).waitFor();
  assert.equal(await page.locator('#notes li').count(), 1);
  await context.close();
});

test('a page on another origin cannot use the cookie', { timeout: 90_000 }, async () => {
  const user = newUser();
  const { context, page: victim } = await deviceSignedIn(user, { registerFirst: true });
  const before = await refreshCookie(context);
  const port = elsewhere.address().port;

  // Same site, other port: the browser attaches the cookie; the edge refuses with 403.
  // Another site: the browser does not attach it at all, so there is nothing to refuse.
  for (const [host, sameSite] of [[EDGE_URL.hostname, true], [OTHER_HOST, false]]) {
    const attacker = await context.newPage();
    attacker.setDefaultTimeout(STEP_MS);
    const sent = await wireHeaders(context, attacker);
    const site = `http://${host}:${port}`;
    await attacker.goto(`${site}/`);
    for (const route of ['/api/refresh', '/api/logout']) {
      const url = `${EDGE}${route}`;
      const seen = attacker.waitForResponse((r) => r.url() === url);
      await attacker.evaluate(async (target) => {
        // The classic CSRF shape: a "simple" request needs no preflight, and no-cors hides the
        // answer from this page, but the request itself is still sent.
        await fetch(target, { method: 'POST', mode: 'no-cors', credentials: 'include', body: '' }).catch(() => {});
      }, url);
      const response = await seen;
      const [headers] = sent(url).slice(-1);
      const what = `${route} from ${site}`;
      assert.equal(headers?.origin, site, `${what}: the browser names the page's origin`);
      if (sameSite) {
        assert.match(headers.cookie ?? '', new RegExp(`${COOKIE}=`), `${what}: the browser sent the cookie`);
        assert.equal(response.status(), 403, `${what}: refused at the edge`);
      } else {
        assert.doesNotMatch(headers.cookie ?? '', new RegExp(COOKIE), `${what}: no cookie cross-site`);
        assert.equal(response.status(), 401, `${what}: without the cookie there is nothing to act on`);
      }
    }
    // A top-level form POST (no script needed) fares no better.
    const [navigation] = await Promise.all([
      attacker.waitForNavigation(),
      attacker.evaluate(() => document.getElementById('logout').submit()),
    ]);
    assert.equal(navigation.status(), sameSite ? 403 : 401, `form POST from ${site}`);
    if (sameSite) assert.match(await attacker.textContent('body'), /"code":"forbidden"/);
    await attacker.close();
  }

  // The victim's session is untouched: same cookie, still signed in after a reload.
  assert.equal((await refreshCookie(context))?.value, before.value, 'the cookie was neither rotated nor deleted');
  await victim.reload();
  await settled(victim);
  await signedIn(victim);
  assert.equal(await sessionCount(victim), 1);

  assertNoProblems();
  await context.close();
});

test('the page obeys its CSP, fits a phone screen, and leaves a screenshot', { timeout: 90_000 }, async () => {
  const user = newUser();
  const { context, page } = await deviceSignedIn(user, { registerFirst: true, viewport: PHONE });

  const response = await page.request.get(`${EDGE}/`);
  const csp = response.headers()['content-security-policy'] ?? '';
  for (const directive of ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]) {
    assert.ok(csp.includes(directive), `page CSP has ${directive}: ${csp}`);
  }
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  const api = await page.request.get(`${EDGE}/healthz`);
  assert.equal(api.headers()['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");

  // Injected markup cannot run script: every string-to-code sink throws under Trusted Types.
  // And a script that ran anyway could not send anything to another server (connect-src).
  const elsewhereUrl = `http://${EDGE_URL.hostname}:${elsewhere.address().port}/leak`;
  const injected = await page.evaluate(async (leak) => {
    const refused = (action) => {
      try {
        action();
        return 'accepted';
      } catch (error) {
        return error.name;
      }
    };
    return {
      sinks: [
        refused(() => { document.body.insertAdjacentHTML('beforeend', '<img src=x onerror="alert(1)">'); }),
        refused(() => { document.createElement('script').textContent = 'alert(1)'; }),
        refused(() => { document.createElement('img').setAttribute('onerror', 'alert(1)'); }),
      ],
      leak: await fetch(leak, { mode: 'no-cors' }).then(() => 'sent', (error) => error.name),
    };
  }, elsewhereUrl);
  assert.deepEqual(injected, { sinks: ['TypeError', 'TypeError', 'TypeError'], leak: 'TypeError' });
  problems.splice(0); // those refusals were logged, and were the point

  const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  assert.ok(fits, 'no horizontal scrolling at phone width');

  const phoneShot = path.join(ARTIFACTS, 'demo-signed-in-phone.png');
  await page.screenshot({ path: phoneShot, fullPage: true });
  await page.setViewportSize({ width: 1100, height: 900 });
  const desktopShot = path.join(ARTIFACTS, 'demo-signed-in.png');
  await page.screenshot({ path: desktopShot, fullPage: true });
  console.log(`screenshots: ${desktopShot} ${phoneShot}`);

  assertNoProblems();
  await context.close();
});
