// Browsers navigating protected pages (issue 17) in a real browser: the hosted sign-in pages
// (forms that work without JavaScript), the notes app's HTML page behind the edge, silent
// refresh, links from another site, and the CSRF and clickjacking defences, with axe-core on
// every page at phone and desktop widths. The Rust suite runs it against its stack
// (tests/e2e/suite/browser.rs), which also starts a second edge whose origin issues access
// tokens of a few seconds (EDGEAUTH_SHORT_ACCESS_EDGE_URL): the silent-refresh test waits for
// the browser's own cookie expiry there. Against `make dev`:
//
//   EDGEAUTH_EDGE_URL=http://127.0.0.1:8787 node --test tests/browser/navigation.test.mjs
//
// (the short-lifetime test is skipped then, unless EDGEAUTH_SHORT_ACCESS_EDGE_URL names an
// edge of an origin started with EDGEAUTH_ACCESS_TTL_SECS=3 or so).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const EDGE = (process.env.EDGEAUTH_EDGE_URL ?? '').replace(/\/$/, '');
// An edge whose origin issues short-lived access tokens (a few seconds), or empty.
const SHORT_EDGE = (process.env.EDGEAUTH_SHORT_ACCESS_EDGE_URL ?? '').replace(/\/$/, '');
const CHROMIUM = process.env.EDGEAUTH_CHROMIUM ?? '/usr/bin/chromium';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1100, height: 900 };
const STEP_MS = 15_000;
const REFRESH_COOKIE = '__Host-edgeauth_rt';
const ACCESS_COOKIE = '__Host-edgeauth_at';
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

assert.ok(/^http:\/\/(127\.0\.0\.1|localhost):\d+$/.test(EDGE), `EDGEAUTH_EDGE_URL: ${JSON.stringify(EDGE)}`);
assert.ok(SHORT_EDGE === '' || new URL(SHORT_EDGE).hostname === new URL(EDGE).hostname,
  `EDGEAUTH_SHORT_ACCESS_EDGE_URL: ${JSON.stringify(SHORT_EDGE)}`);
const EDGE_URL = new URL(EDGE);
// `localhost` and `127.0.0.1` are different sites; another port of the same host is the same
// site but another origin.
const OTHER_HOST = EDGE_URL.hostname === '127.0.0.1' ? 'localhost' : '127.0.0.1';

let browser;
let attacker;
before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  attacker = await serveAttacker();
});
after(async () => {
  await browser?.close();
  attacker?.close();
});

// ------------------------------------------------------------------ helpers

function newUser() {
  const tag = randomBytes(6).toString('hex');
  return { username: `n_${tag}`, email: `${tag}@nav.example`, password: `lantern orbit ${tag} meadow` };
}

/** A browser profile with its own client address (per-address budgets never mix up tests). */
async function newContext({ viewport = DESKTOP, javaScriptEnabled = true, bypassCSP = false } = {}) {
  const context = await browser.newContext({ viewport, javaScriptEnabled, bypassCSP });
  const [a, b, c] = randomBytes(3);
  context.address = `198.${18 + (a & 1)}.${b}.${c}`;
  return context;
}

async function newTab(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  // The attacker's server sees it too, which is harmless; no test here fetches cross-origin
  // from a page (where it would force a preflight).
  await page.setExtraHTTPHeaders({ 'cf-connecting-ip': context.address });
  return page;
}

async function cookie(context, name, edge = EDGE) {
  return (await context.cookies(edge)).find((c) => c.name === name);
}

async function fillSignIn(page, user) {
  await page.locator('#email').fill(user.email);
  await page.locator('#password').fill(user.password);
  await page.locator('button[type=submit]').click();
}

async function registerByForm(page, user, next = '/') {
  await page.goto(`${EDGE}/auth/register?next=${encodeURIComponent(next)}`);
  await page.locator('#username').fill(user.username);
  await page.locator('#email').fill(user.email);
  await page.locator('#password').fill(user.password);
  await page.locator('button[type=submit]').click();
  await page.waitForURL((url) => !url.pathname.startsWith('/auth/register'));
}

/** axe-core on the page as it is now: no violations. Needs a context with bypassCSP. */
async function assertAccessible(page, what) {
  await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const summary = results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(summary, [], `axe violations on ${what}`);
}

/**
 * The attacker's pages, served on both loopback names: on OTHER_HOST they are another site
 * (no SameSite cookie goes with their requests); on the edge's own host they are the same site
 * on another port (the cookies do go along; only the Origin check stops them).
 */
function serveAttacker() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const target = url.searchParams.get('target') ?? '/';
    const page = {
      '/sign-in': `<form method="post" action="${EDGE}/auth/sign-in">
          <input name="email" value="${url.searchParams.get('email') ?? ''}">
          <input name="password" value="${url.searchParams.get('password') ?? ''}">
          <input name="next" value="/">
          <button id="go">Win a prize</button></form>`,
      '/frame': `<iframe id="victim" title="victim" src="${EDGE}/auth/sign-in"></iframe>`,
      '/link': `<a id="go" href="${EDGE}${target}">Your notes</a>`,
      '/post': `<form method="post" action="${EDGE}${target}">
          <input name="text" value="planted by another site"><button id="go">Go</button></form>`,
    }[url.pathname] ?? '';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="en"><title>another site</title><main>${page}</main></html>`);
  });
  return new Promise((resolve) => {
    server.listen({ port: 0, host: '::', ipv6Only: false }, () => resolve(server));
  });
}

const attackerUrl = (host, path) => `http://${host}:${attacker.address().port}${path}`;

// ------------------------------------------------------------------ the hosted pages

test('the hosted pages sign up, in and out without JavaScript, and next never leaves the site', { timeout: 90_000 }, async () => {
  const user = newUser();
  // bypassCSP only so the test can put a sign-out form on an edge page (Trusted Types refuse
  // the injected markup otherwise); nothing here relies on the CSP.
  const context = await newContext({ javaScriptEnabled: false, bypassCSP: true });
  const page = await newTab(context);

  await registerByForm(page, user, '/auth/signed-out?from=register');
  assert.equal(new URL(page.url()).pathname + new URL(page.url()).search, '/auth/signed-out?from=register');
  const refresh = await cookie(context, REFRESH_COOKIE);
  assert.ok(refresh?.value, 'registering by form signs in: the refresh cookie is set');
  assert.equal(refresh.httpOnly, true);
  assert.equal(refresh.sameSite, 'Strict');

  // A wrong password: the form again, in plain words, with the email kept and next intact.
  await page.goto(`${EDGE}/auth/sign-in?next=${encodeURIComponent('/auth/signed-out?x=1')}`);
  await fillSignIn(page, { ...user, password: 'not the password' });
  assert.equal(await page.locator('[role=alert]').textContent(), 'The email or password is not correct.');
  assert.equal(await page.locator('#email').inputValue(), user.email);
  assert.equal(await page.locator('#password').inputValue(), '');
  await page.locator('#password').fill(user.password);
  await page.locator('button[type=submit]').click();
  await page.waitForURL(`${EDGE}/auth/signed-out?x=1`);

  // Only same-site paths: everything else lands on the home page.
  for (const evil of ['//evil.example', 'https://evil.example', '/\\evil.example', '/%2f%2fevil.example']) {
    await page.goto(`${EDGE}/auth/sign-in?next=${encodeURIComponent(evil)}`);
    await fillSignIn(page, user);
    await page.waitForURL((url) => url.pathname !== '/auth/sign-in');
    assert.equal(page.url(), `${EDGE}/`, `next=${evil}`);
  }

  // Sign out through a plain form post from one of the edge's pages (the notes page has this
  // button; here a minimal copy on the signed-out page).
  const before = (await cookie(context, REFRESH_COOKIE)).value;
  await page.goto(`${EDGE}/auth/signed-out`);
  await page.setContent('<form method="post" action="/auth/sign-out"><button id="out">Sign out</button></form>');
  const [signOut] = await Promise.all([
    page.waitForResponse(`${EDGE}/auth/sign-out`),
    page.click('#out'),
  ]);
  assert.equal(signOut.status(), 303, 'Origin: null with Sec-Fetch-Site: same-origin passes');
  await page.waitForLoadState();
  assert.equal(await page.locator('h1').textContent(), 'Signed out');
  assert.equal(await cookie(context, REFRESH_COOKIE), undefined, 'signing out deletes the cookie');
  const replay = await fetch(`${EDGE}/api/refresh`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': context.address },
    body: JSON.stringify({ refresh_token: before }),
  });
  assert.equal(replay.status, 401, 'the session is over');
  await context.close();
});

test('a form on another page cannot sign the browser in, and the pages cannot be framed', { timeout: 90_000 }, async () => {
  const user = newUser();
  const context = await newContext();
  const page = await newTab(context);
  // Land on a page without scripts: the demo page at `/` restores its session with a refresh
  // on load, whose answer could set a new refresh cookie after clearCookies (a flaky failure).
  await registerByForm(page, user, '/auth/signed-out');
  await page.goto('about:blank');
  await context.clearCookies();

  for (const host of [OTHER_HOST, EDGE_URL.hostname]) {
    const query = `?email=${encodeURIComponent(user.email)}&password=${encodeURIComponent(user.password)}`;
    await page.goto(attackerUrl(host, `/sign-in${query}`));
    const [response] = await Promise.all([
      page.waitForResponse(`${EDGE}/auth/sign-in`),
      page.click('#go'),
    ]);
    assert.equal(response.status(), 403, `a form on ${host} is refused`);
    assert.equal(await cookie(context, REFRESH_COOKIE), undefined, `no session from a form on ${host}`);
  }

  // Framed by another site, the sign-in page never renders (frame-ancestors 'none', DENY).
  // (`goto` waits for the load event, which waits for the frame's own load or failure.)
  await page.goto(attackerUrl(OTHER_HOST, '/frame'));
  const frame = page.frames().find((f) => f !== page.mainFrame());
  assert.ok(frame, 'the other site has its frame');
  assert.equal(await frame.locator('form').count(), 0, 'the sign-in form rendered inside another site');
  await context.close();
});

test('the hosted pages have no axe-core violations at phone and desktop widths', { timeout: 90_000 }, async () => {
  for (const viewport of [PHONE, DESKTOP]) {
    const context = await newContext({ viewport, bypassCSP: true });
    const page = await newTab(context);
    const width = `${viewport.width}px`;
    await page.goto(`${EDGE}/auth/sign-in?next=%2Fnotes%2F`);
    await assertAccessible(page, `sign-in (${width})`);
    await fillSignIn(page, { email: 'nobody@nav.example', password: 'not the password' });
    await page.locator('[role=alert]').waitFor();
    await assertAccessible(page, `sign-in with an error (${width})`);
    await page.goto(`${EDGE}/auth/register`);
    await assertAccessible(page, `register (${width})`);
    await page.locator('#username').fill('no spaces!');
    await page.locator('#email').fill('a@nav.example');
    await page.locator('#password').fill('short');
    await page.locator('button[type=submit]').click();
    await page.locator('#username-error').waitFor();
    await assertAccessible(page, `register with field errors (${width})`);
    await page.goto(`${EDGE}/auth/signed-out`);
    await assertAccessible(page, `signed out (${width})`);
    const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    assert.ok(fits, `no horizontal scrolling at ${width}`);
    await context.close();
  }
});
// ------------------------------------------------------------------ navigating the notes app



async function registerByApi(context, user, edge = EDGE) {
  const response = await fetch(`${edge}/api/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': context.address },
    body: JSON.stringify(user),
  });
  assert.equal(response.status, 201, await response.text());
}

/** Whether the tab shows the hosted sign-in page, asked to return to `next`. */
function onSignIn(page, next = '/notes/', edge = EDGE) {
  const url = new URL(page.url());
  return url.origin === edge && url.pathname === '/auth/sign-in' && url.searchParams.get('next') === next;
}

/**
 * Waits until the tab shows the hosted sign-in page (a typed URL is `Sec-Fetch-Site: none`, so
 * a signed-out visit first gets the edge's same-site bounce page), asked to return to `next`.
 */
async function landsOnSignIn(page, next = '/notes/', edge = EDGE) {
  await page.waitForURL((url) => url.pathname === '/auth/sign-in');
  assert.ok(onSignIn(page, next, edge), page.url());
}

/** Opens /notes/ signed out, signs in on the hosted page, and lands back on /notes/. */
async function signInThroughNotes(page, user, edge = EDGE) {
  await page.goto(`${edge}/notes/`);
  await landsOnSignIn(page, '/notes/', edge);
  await fillSignIn(page, user);
  await page.waitForURL(`${edge}/notes/`);
  assert.equal(await page.locator('#who strong').textContent(), user.username);
}

/** What the browser does when the access cookie's Max-Age (the token's lifetime) runs out. */
async function expireAccessCookie(context) {
  assert.ok(await cookie(context, ACCESS_COOKIE), 'the access cookie was set');
  await context.clearCookies({ name: ACCESS_COOKIE });
}

for (const javaScriptEnabled of [true, false]) {
  const js = javaScriptEnabled ? 'JavaScript on' : 'JavaScript off';

  test(`signed out, /notes/ → sign-in → back on /notes/ as the user, and out again (${js})`, { timeout: 90_000 }, async () => {
    const user = newUser();
    const context = await newContext({ javaScriptEnabled });
    const page = await newTab(context);
    await registerByApi(context, user);
    await signInThroughNotes(page, user);
    assert.equal(await page.locator('#notes-empty').textContent(), 'No notes yet.');

    // The page's own form: a same-origin POST through the edge's CSRF rule, then 303 back.
    await page.locator('#text').fill(`first note <b>${js}</b>`);
    await page.locator('form[action="/notes/"] button').click();
    await page.waitForURL(`${EDGE}/notes/`);
    assert.equal(await page.locator('#notes li').first().textContent(), `first note <b>${js}</b>`);

    // Scripts never see the session: both cookies are HttpOnly.
    if (javaScriptEnabled) {
      assert.equal(await page.evaluate(() => document.cookie), '');
    }
    for (const name of [REFRESH_COOKIE, ACCESS_COOKIE]) {
      assert.equal((await cookie(context, name))?.httpOnly, true, name);
    }

    await page.locator('form[action="/auth/sign-out"] button').click();
    await page.waitForURL(`${EDGE}/auth/signed-out`);
    assert.equal(await cookie(context, REFRESH_COOKIE), undefined);
    assert.equal(await cookie(context, ACCESS_COOKIE), undefined);
    await page.goto(`${EDGE}/notes/`);
    await landsOnSignIn(page);
    await context.close();
  });

  test(`a link on another site leads to /notes/ signed in after the access cookie expired (${js})`, { timeout: 90_000 }, async () => {
    const user = newUser();
    const context = await newContext({ javaScriptEnabled });
    const page = await newTab(context);
    await registerByApi(context, user);
    await signInThroughNotes(page, user);
    const firstAccess = (await cookie(context, ACCESS_COOKIE)).value;
    await expireAccessCookie(context);

    // The link's navigation is cross-site: the Strict refresh cookie stays home, so the edge
    // bounces once same-site, where it goes along and refreshes the session silently.
    await page.goto(attackerUrl(OTHER_HOST, '/link?target=/notes/'));
    await page.click('#go');
    await page.waitForURL(`${EDGE}/notes/`);
    await page.locator('#who strong').waitFor();
    assert.equal(await page.locator('#who strong').textContent(), user.username);
    const renewed = await cookie(context, ACCESS_COOKIE);
    assert.ok(renewed?.value && renewed.value !== firstAccess, 'a new access cookie');
    await context.close();
  });
}

/**
 * Waits until the browser itself dropped the access cookie (its Max-Age is the token's lifetime)
 * and a little past the token's expiry; returns the cookies it had before.
 */
async function waitPastAccessExpiry(context, edge) {
  const access = await cookie(context, ACCESS_COOKIE, edge);
  const refresh = await cookie(context, REFRESH_COOKIE, edge);
  assert.ok(access?.value && refresh?.value, 'both session cookies are set');
  const left = access.expires * 1000 - Date.now();
  assert.ok(left > 0 && left < 30_000, `the access cookie expires in ${left} ms: not a short lifetime`);
  await new Promise((resolve) => setTimeout(resolve, left + 1_100));
  assert.equal(await cookie(context, ACCESS_COOKIE, edge), undefined, 'the browser dropped the expired access cookie');
  return { access: access.value, refresh: refresh.value };
}

/**
 * Every main-frame document the tab loads while `navigate` runs, as `status url`: a reload that
 * went through the bounce page or sign-in shows more than the one page, and a redirect shows
 * its 3xx.
 */
async function documentsDuring(page, navigate) {
  const documents = [];
  const seen = (response) => {
    const request = response.request();
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) {
      documents.push(`${response.status()} ${response.url()}`);
    }
  };
  page.on('response', seen);
  try {
    const response = await navigate();
    // A bounce page navigates again by itself: give it the time to show up here.
    await page.waitForLoadState('load');
    await page.waitForTimeout(300);
    return { response, documents };
  } finally {
    page.off('response', seen);
  }
}

/** The tab shows the notes page signed in, reached directly (no redirect, no page in between). */
function assertShownDirectly(page, { response, documents }, user, edge, what) {
  assert.deepEqual(documents, [`200 ${edge}/notes/`], `${what}: the documents the tab loaded`);
  assert.equal(response.status(), 200, `${what}: no visible redirect: the page itself`);
  assert.equal(response.request().redirectedFrom(), null, `${what}: no redirect on the way`);
  assert.equal(page.url(), `${edge}/notes/`, what);
  return page.locator('#who strong').textContent().then((who) => assert.equal(who, user.username, what));
}

test('with a short access lifetime, a reload past expiry shows the page without a visible redirect and with new cookies; two tabs at once both stay signed in', {
  timeout: 90_000,
  skip: SHORT_EDGE === '' && 'EDGEAUTH_SHORT_ACCESS_EDGE_URL is not set (the Rust suite sets it)',
}, async () => {
  const user = newUser();
  const context = await newContext();
  const page = await newTab(context);
  await registerByApi(context, user, SHORT_EDGE);
  await signInThroughNotes(page, user, SHORT_EDGE);
  const historyBefore = await page.evaluate(() => history.length);

  const before = await waitPastAccessExpiry(context, SHORT_EDGE);
  const reload = await documentsDuring(page, () => page.reload());
  await assertShownDirectly(page, reload, user, SHORT_EDGE, 'the reload');
  assert.equal(await page.evaluate(() => history.length), historyBefore, 'no entry added to the history');
  const renewed = {
    access: (await cookie(context, ACCESS_COOKIE, SHORT_EDGE))?.value,
    refresh: (await cookie(context, REFRESH_COOKIE, SHORT_EDGE))?.value,
  };
  assert.ok(renewed.access && renewed.access !== before.access, 'a new access cookie');
  assert.ok(renewed.refresh && renewed.refresh !== before.refresh, 'a rotated refresh cookie');

  // Two tabs navigating at the same instant after the next expiry share the rotation (grace
  // window): no reuse alarm, both shown directly.
  await waitPastAccessExpiry(context, SHORT_EDGE);
  const second = await newTab(context);
  const [a, b] = await Promise.all([
    documentsDuring(page, () => page.goto(`${SHORT_EDGE}/notes/`)),
    documentsDuring(second, () => second.goto(`${SHORT_EDGE}/notes/`)),
  ]);
  await assertShownDirectly(page, a, user, SHORT_EDGE, 'the first tab');
  await assertShownDirectly(second, b, user, SHORT_EDGE, 'the second tab');

  // The session survived: after another expiry it still refreshes.
  const last = await waitPastAccessExpiry(context, SHORT_EDGE);
  await assertShownDirectly(page, await documentsDuring(page, () => page.reload()), user, SHORT_EDGE, 'the last reload');
  assert.notEqual((await cookie(context, REFRESH_COOKIE, SHORT_EDGE))?.value, last.refresh, 'rotated again');
  await context.close();
});

test('log out everywhere in one tab: the other tab and another device go to sign-in next', { timeout: 90_000 }, async () => {
  const user = newUser();
  const context = await newContext();
  const notesTab = await newTab(context);
  await registerByApi(context, user);
  await signInThroughNotes(notesTab, user);
  const device = await newContext();
  const deviceTab = await newTab(device);
  await signInThroughNotes(deviceTab, user);

  const demo = await newTab(context);
  await demo.goto(`${EDGE}/`);
  await demo.locator('#signed-in').waitFor({ state: 'visible' });
  await demo.click('#logout-all');
  await demo.locator('#signed-out').waitFor({ state: 'visible' });

  await notesTab.reload();
  await landsOnSignIn(notesTab);
  // The other device still holds an unexpired access cookie: the session check refuses it.
  assert.ok(await cookie(device, ACCESS_COOKIE));
  await deviceTab.goto(`${EDGE}/notes/`);
  await landsOnSignIn(deviceTab);
  assert.equal(await cookie(device, ACCESS_COOKIE), undefined, 'the dead session\'s cookies are cleared');
  await context.close();
  await device.close();
});

test('other pages cannot post notes or open the WebSocket with the cookies', { timeout: 90_000 }, async () => {
  const user = newUser();
  const context = await newContext({ bypassCSP: true });
  const page = await newTab(context);
  await registerByApi(context, user);
  await signInThroughNotes(page, user);

  // Another site: no cookie goes along; nothing is stored and the browser ends at sign-in.
  await page.goto(attackerUrl(OTHER_HOST, '/post?target=/notes/'));
  await page.click('#go');
  await landsOnSignIn(page);

  // Another origin of the same site (another port): the cookies do go along; the CSRF rule
  // refuses the POST.
  await page.goto(attackerUrl(EDGE_URL.hostname, '/post?target=/notes/'));
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${EDGE}/notes/` && r.request().method() === 'POST'),
    page.click('#go'),
  ]);
  assert.equal(refused.status(), 403);

  // Cross-site WebSocket hijacking: same cookies, foreign Origin → 403. The same handshake from
  // the edge's own page opens (so the refusal is the Origin's doing).
  const wsUrl = `ws://${EDGE_URL.host}/notes/ws`;
  const openFrom = (tab) => tab.evaluate((url) => new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.onopen = () => { ws.close(); resolve('open'); };
    ws.onerror = () => resolve('refused');
  }), wsUrl);
  await page.goto(attackerUrl(EDGE_URL.hostname, '/post?target=/notes/'));
  const failures = [];
  page.on('console', (m) => failures.push(m.text()));
  assert.equal(await openFrom(page), 'refused', 'a WebSocket from another origin');
  assert.ok(failures.some((t) => /403/.test(t)), `the handshake got 403: ${failures.join(' | ')}`);
  await page.goto(`${EDGE}/notes/`);
  assert.equal(await openFrom(page), 'open', 'the same WebSocket from the edge\'s own page');

  // Nothing the other pages sent was stored.
  await page.goto(`${EDGE}/notes/`);
  assert.equal(await page.locator('#notes-empty').textContent(), 'No notes yet.');
  await context.close();
});

test('the notes page has no axe-core violations at phone and desktop widths', { timeout: 90_000 }, async () => {
  const user = newUser();
  const context = await newContext({ bypassCSP: true });
  const page = await newTab(context);
  await registerByApi(context, user);
  await signInThroughNotes(page, user);
  await page.locator('#text').fill('a note to audit');
  await page.locator('form[action="/notes/"] button').click();
  await page.waitForURL(`${EDGE}/notes/`);
  for (const viewport of [PHONE, DESKTOP]) {
    await page.setViewportSize(viewport);
    await assertAccessible(page, `/notes/ (${viewport.width}px)`);
    const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    assert.ok(fits, `no horizontal scrolling at ${viewport.width}px`);
  }
  await context.close();
});
