// Shared set-up for keydesk's browser tests: Debian's Chromium (never a downloaded one), a
// fresh profile per browser, trust in exactly the test server's key, console and CSP watching,
// sign-in helpers, screenshots, and the audit log the server wrote.
//
// run.sh starts keydesk and sets: KEYDESK_URL, KEYDESK_SPKI (base64 SHA-256 of the server's
// SubjectPublicKeyInfo), KEYDESK_AUDIT_DIR, KEYDESK_SCREENSHOTS, KD_CHROMIUM and
// NODE_EXTRA_CA_CERTS (the test CA, for requests made from Node).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests with tests/browser/run.sh`);
  return value;
}

export const BASE_URL = required('KEYDESK_URL');
export const ORIGIN = new URL(BASE_URL).origin;
const SPKI = required('KEYDESK_SPKI');
const CHROMIUM = process.env.KD_CHROMIUM || '/usr/bin/chromium';
const SCREENSHOTS = process.env.KEYDESK_SCREENSHOTS || '';
const AUDIT_DIR = process.env.KEYDESK_AUDIT_DIR || '';

// Fixtures of tests/directory/slapd (see its README).
export const USERS = {
  helpdesk: { username: 'helpdesk1', password: 'Helpdesk1-Pass!', displayName: 'Hana Helpdesk' },
  auditor: { username: 'auditor1', password: 'Auditor1-Pass!', displayName: 'Aldo Auditor' },
  security: { username: 'security1', password: 'Security1-Pass!', displayName: 'Sita Security' },
  admin: { username: 'admin1', password: 'Admin1-Pass!', displayName: 'Ada Admin' },
};

export const KEYS = {
  K1: {
    keyId: '063EA4E1-220C-4293-BA01-4754620A96E7',
    computer: 'LAPTOP-0042',
    volume: '9F1C2D3E-4B5A-6978-8796-A5B4C3D2E1F0',
    password: '466895-217492-569250-069608-104434-135707-527241-083622',
  },
  K2: {
    keyId: '063EA4E1-9A7B-4C1D-8E2F-0123456789AB',
    computer: 'LAPTOP-0042',
    volume: '9F1C2D3E-4B5A-6978-8796-A5B4C3D2E1F0',
    password: '309540-054054-123915-625218-602910-100716-346984-130779',
  },
  K3: {
    keyId: '1F5A63B3-0000-4000-8000-000000000001',
    computer: 'WS-0007',
    volume: '11111111-2222-3333-4444-555555555555',
    password: '612062-085217-178486-321860-089188-571923-071489-318747',
  },
  K4: {
    keyId: '1F5A63B3-1111-4111-8111-111111111111',
    computer: 'SRV-0003',
    volume: 'BBBBBBBB-CCCC-DDDD-EEEE-FFFFFFFFFFFF',
    password: '067155-192005-417549-604307-207977-169829-444763-260568',
  },
  K5: {
    keyId: 'A1B2C3D4-E5F6-4789-9ABC-DEF012345678',
    computer: 'WS-0007',
    volume: '66666666-7777-8888-9999-AAAAAAAAAAAA',
    password: '148577-270864-536910-140470-090519-085932-296945-715726',
  },
};

// The test server's configuration (run.sh): a ticket is required and must match ^INC[0-9]{7}$.
export const TICKET = 'INC0012345';

// Chromium flags the project requires (issue 5), plus the one that makes Chromium trust exactly
// the test server's key. Playwright gives each launch a fresh temporary --user-data-dir and
// deletes it on close.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  `--ignore-certificate-errors-spki-list=${SPKI}`,
];

export async function launchBrowser() {
  assert.ok(fs.existsSync(CHROMIUM), `no browser at ${CHROMIUM}`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
}

// One browser per process: the suite (tests/suite.mjs) runs every file in one process, and each
// file also runs alone. Every test file closes it in a top-level after() hook.
let shared = null;
export function sharedBrowser() {
  shared ??= launchBrowser();
  return shared;
}
export async function closeSharedBrowser() {
  const browser = shared;
  shared = null;
  if (browser) await (await browser).close();
}

// A fresh context (own cookies, own permissions). ignoreHTTPSErrors stays false: the page loads
// only because Chromium trusts the server's key through the SPKI flag.
export async function newContext(browser, { clipboard = false, ...options } = {}) {
  const context = await browser.newContext({
    ignoreHTTPSErrors: false,
    locale: 'en-GB',
    timezoneId: 'Europe/Berlin',
    viewport: { width: 1280, height: 860 },
    ...options,
  });
  context.setDefaultTimeout(10_000);
  if (clipboard) await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: ORIGIN });
  if (process.env.KD_WEB_DIR) await serveWebFromDisk(context, process.env.KD_WEB_DIR);
  return context;
}

// Development aid (KD_WEB_DIR=web): answer the UI's files from disk instead of the binary's
// embedded copy, keeping the server's headers (CSP included). The suite itself never sets it.
async function serveWebFromDisk(context, dir) {
  const files = {
    '/': 'index.html',
    '/assets/app.js': 'app.js',
    '/assets/dom.js': 'dom.js',
    '/assets/audit.js': 'audit.js',
    '/assets/reports.js': 'reports.js',
    '/assets/app.css': 'app.css',
    '/assets/favicon.svg': 'favicon.svg',
  };
  await context.route((url) => url.origin === ORIGIN && url.pathname in files, async (route) => {
    const url = new URL(route.request().url());
    const response = await route.fetch({ headers: { ...route.request().headers(), 'if-none-match': '' } });
    const body = await fsp.readFile(path.join(dir, files[url.pathname]));
    const headers = { ...response.headers() };
    delete headers.etag;
    delete headers['content-length'];
    await route.fulfill({ status: 200, headers, body });
  });
}

// Watches a page for anything the console or the CSP would report. Every test asserts at its
// end that nothing unexpected showed up (see assertQuiet).
export function watch(page) {
  const seen = { console: [], errors: [], violations: [] };
  page.on('console', (message) => {
    seen.console.push({ type: message.type(), text: message.text(), url: message.location().url || '' });
  });
  page.on('pageerror', (error) => seen.errors.push(String(error && error.stack ? error.stack : error)));
  // API requests still on their way (see apiIdle).
  seen.pending = new Set();
  page.on('request', (request) => {
    if (new URL(request.url()).pathname.startsWith('/api/')) seen.pending.add(request);
  });
  // An answer counts once its headers are in (a body nobody reads never "finishes").
  page.on('response', (response) => seen.pending.delete(response.request()));
  for (const done of ['requestfinished', 'requestfailed']) page.on(done, (request) => seen.pending.delete(request));
  page.addInitScript(() => {
    window.__kdViolations = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__kdViolations.push({
        directive: event.violatedDirective,
        blocked: event.blockedURI,
        sample: event.sample,
        source: event.sourceFile,
      });
    });
  });
  page.kdSeen = seen;
  return seen;
}

export async function newPage(context) {
  const page = await context.newPage();
  watch(page);
  return page;
}

// Waits until the page has no API request on its way (e.g. before signing out, so that a page's
// loads do not end in a 401 after the session is gone).
export async function apiIdle(page, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let quietSince = 0;
  for (;;) {
    if (page.kdSeen.pending.size === 0) {
      quietSince ||= Date.now();
      if (Date.now() - quietSince >= 150) return;
    } else {
      quietSince = 0;
    }
    assert.ok(Date.now() < deadline, `API requests still pending: ${[...page.kdSeen.pending].map((r) => r.url()).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

// Asserts no CSP violation, no uncaught error and no console message, except console messages
// matching one of `allow` (e.g. the 401 Chromium logs for a deliberately wrong password).
export async function assertQuiet(page, { allow = [] } = {}) {
  const seen = page.kdSeen;
  let violations = [];
  if (!page.isClosed()) {
    violations = await page.evaluate(() => window.__kdViolations || []).catch(() => []);
  }
  assert.deepEqual(violations, [], 'Content-Security-Policy violations');
  assert.deepEqual(seen.errors, [], 'uncaught errors in the page');
  // Chromium's own note that it honoured the sign-out's Clear-Site-Data header is expected.
  const always = [/^Clear-Site-Data header on '[^']*\/api\/v1\/session': Cleared data types/];
  const unexpected = seen.console.filter(
    (m) => !(m.type === 'info' && always.some((re) => re.test(m.text))) &&
      !allow.some((re) => re.test(`${m.text} ${m.url}`)));
  assert.deepEqual(unexpected, [], 'console messages');
}

// The console line Chromium writes when a fetch gets an HTTP error status.
export function httpErrorMessage(status, pathname) {
  return new RegExp(`Failed to load resource: the server responded with a status of ${status}\\b.*${pathname.replace(/[/.]/g, '\\$&')}`);
}

export async function screenshot(page, name, options = {}) {
  if (!SCREENSHOTS) return;
  await fsp.mkdir(SCREENSHOTS, { recursive: true });
  // Caret and countdown animations would make screenshots differ from run to run.
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), caret: 'hide', animations: 'disabled', ...options });
}

// Opens the page and signs in through the form (mouse and keyboard as a user would).
export async function signIn(page, user) {
  await page.goto(BASE_URL);
  await page.getByLabel('User name').fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#account').waitFor({ state: 'visible' });
}

// Signs in with an API call made by the context (same cookie jar), no page involved.
export async function signInByApi(context, user) {
  const response = await context.request.post(`${BASE_URL}/api/v1/session`, {
    data: { username: user.username, password: user.password },
    headers: { Origin: ORIGIN },
  });
  assert.equal(response.status(), 200, await response.text());
  return response.json();
}

// A ticket number no other test uses (the server's pattern: ^INC[0-9]{7}$), to find one's own
// records in a log the other tests write to as well.
let ticketCounter = 0;
export function uniqueTicket() {
  const n = (Date.now() % 100000) * 100 + (process.pid % 10) * 10 + (ticketCounter++ % 10);
  return `INC${String(n % 10_000_000).padStart(7, '0')}`;
}

// Calls the API with a context's cookie (signed in with signInByApi): method, path, body.
export async function apiCall(context, csrf, method, pathname, data) {
  const response = await context.request.fetch(`${BASE_URL}/api/v1${pathname}`, {
    method,
    data,
    headers: { Origin: ORIGIN, 'X-CSRF-Token': csrf || '', ...(data === undefined ? {} : { 'Content-Type': 'application/json' }) },
  });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status(), json, text, headers: response.headers() };
}

// A helpdesk reveal made through the API (no page): resolves to its audit record.
export async function revealByApi(browser, key, { ticket = uniqueTicket(), reason = 'lost_pin' } = {}) {
  const context = await browser.newContext({ ignoreHTTPSErrors: false });
  try {
    const session = await signInByApi(context, USERS.helpdesk);
    const lookup = await apiCall(context, session.csrf_token, 'POST', '/lookups', { key_id: key.keyId.slice(0, 8), ticket });
    assert.equal(lookup.status, 200, lookup.text);
    const reveal = await apiCall(context, session.csrf_token, 'POST', '/reveals', { key_id: key.keyId, reason, ticket });
    assert.equal(reveal.status, 200, reveal.status === 200 ? '' : reveal.text);
    assert.equal(reveal.json.recovery_password, key.password);
    const record = await waitForAudit((r) => r.event === 'key.reveal' && r.outcome === 'success' && r.ticket === ticket);
    assert.ok(record, `the key.reveal record of ticket ${ticket}`);
    return record;
  } finally {
    await context.close();
  }
}

// The audit log's folder (run.sh: KEYDESK_AUDIT_DIR).
export function auditDir() {
  return AUDIT_DIR;
}

// The audit log's records, in order.
export function auditRecords() {
  if (!AUDIT_DIR) return [];
  const records = [];
  for (const name of fs.readdirSync(AUDIT_DIR)) {
    const file = path.join(AUDIT_DIR, name);
    if (!fs.statSync(file).isFile()) continue;
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        records.push(JSON.parse(line));
      } catch {
        // a partial last line while the server writes: skip
      }
    }
  }
  return records.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
}

// Waits (briefly) for an audit record matching `predicate`: the server makes the record durable
// before it answers, so it is normally there already.
export async function waitForAudit(predicate, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = auditRecords().find(predicate);
    if (found) return found;
    if (Date.now() > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// The element that has keyboard focus, described for assertions.
export async function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { id: '', tag: 'body', text: '' };
    return {
      id: el.id || '',
      tag: el.tagName.toLowerCase(),
      text: (el.getAttribute('aria-label') || el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 120),
      keyId: el.dataset ? el.dataset.keyId || '' : '',
    };
  });
}

