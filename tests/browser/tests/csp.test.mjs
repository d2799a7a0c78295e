// Content-Security-Policy and resources: through every page and dialog, the browser reports no
// CSP violation and the console stays empty; the page loads nothing from elsewhere and has no
// inline script or style; files come with their type, ETag and caching, API answers no-store. Plus the checks that make the result trustworthy: the detector does
// see a violation when there is one, and Chromium trusts the test server only through the
// pinned key.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import {
  BASE_URL, CHROMIUM_ARGS, KEYS, ORIGIN, TICKET, USERS, apiIdle, assertQuiet, closeSharedBrowser,
  newContext, newPage, sharedBrowser, signInByApi,
} from '../lib/keydesk.mjs';

// Inline code or style anywhere in the live document.
function inlineProblems() {
  const problems = [];
  for (const s of document.querySelectorAll('script')) {
    if (!s.src) problems.push(`inline <script>: ${s.textContent.slice(0, 60)}`);
  }
  for (const s of document.querySelectorAll('style')) problems.push(`<style>: ${s.textContent.slice(0, 60)}`);
  for (const e of document.querySelectorAll('*')) {
    for (const a of e.getAttributeNames()) {
      if (a === 'style' || a.startsWith('on')) problems.push(`<${e.tagName.toLowerCase()} ${a}>`);
    }
    for (const a of ['href', 'src', 'action']) {
      const v = e.getAttribute(a);
      if (v && /^\s*javascript:/i.test(v)) problems.push(`<${e.tagName.toLowerCase()} ${a}="${v}">`);
    }
  }
  return problems;
}


after(closeSharedBrowser);

describe('content security policy', () => {
  let browser;
  before(async () => {
    browser = await sharedBrowser();
  });

  test('no CSP violation and no console message on any page; headers of files and API answers', async () => {
    const context = await newContext(browser, { clipboard: true });
    // Signed in before the page loads, so that even the first GET /api/v1/session succeeds:
    // any console line at all is a failure here.
    await signInByApi(context, USERS.helpdesk);
    const page = await newPage(context);
    const answers = [];
    page.on('response', (r) => answers.push(r));
    const response = await page.goto(BASE_URL);
    const csp = response.headers()['content-security-policy'] || '';
    assert.match(csp, /default-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);

    await page.locator('#lookup-panel').waitFor();
    await page.getByLabel('Key ID or computer name').fill('063ea4e1');
    await page.getByLabel('Ticket (optional)').fill(TICKET);
    await page.keyboard.press('Enter');
    await page.locator('#results-body tr').nth(1).waitFor();
    await page.getByRole('button', { name: new RegExp(`key ID ${KEYS.K1.keyId}`) }).click();
    await page.locator('#reveal-dialog').getByLabel('Reason').selectOption('bios_changed');
    await page.getByRole('button', { name: 'Reveal', exact: true }).click();
    await page.locator('#reveal-password .password-group').first().waitFor();
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByRole('button', { name: 'Read aloud' }).click();
    await page.locator('#reveal-spell').waitFor();
    assert.deepEqual(await page.evaluate(inlineProblems), []);
    await page.getByRole('button', { name: 'Close' }).first().click();
    await page.getByLabel('Key ID or computer name').fill('LAPTOP-0042');
    await page.keyboard.press('Enter');
    await page.locator('#results-status', { hasText: 'computer LAPTOP-0042' }).waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#signin-form').waitFor();
    // Signing in through the page (a 200), as an admin: every page of the navigation.
    await page.getByLabel('User name').fill(USERS.admin.username);
    await page.getByLabel('Password', { exact: true }).fill(USERS.admin.password);
    await page.keyboard.press('Enter');
    await page.locator('#lookup-panel').waitFor();
    for (const name of ['Audit log', 'Reports', 'Recovery keys']) {
      await page.getByRole('link', { name }).click();
      await page.waitForFunction((n) => document.title.startsWith(n), name);
      await apiIdle(page); // the audit and report pages load their data
      assert.deepEqual(await page.evaluate(inlineProblems), [], name);
    }
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#signin-notice', { hasText: 'You have signed out.' }).waitFor();

    assert.deepEqual(await page.evaluate(inlineProblems), []);
    // Everything the page loaded came from keydesk itself.
    const foreign = await page.evaluate((origin) => performance.getEntriesByType('resource')
      .map((e) => e.name).filter((u) => new URL(u).origin !== origin), ORIGIN);
    assert.deepEqual(foreign, []);
    await assertQuiet(page); // nothing allowed: no violation, no error, no console line

    // Static files: right type, ETag, cached; the page itself revalidated; API answers never stored.
    const seen = new Map();
    for (const r of answers) {
      const url = new URL(r.url());
      if (url.origin !== ORIGIN || r.status() !== 200) continue;
      const key = url.pathname.startsWith('/api/') ? `${r.request().method()} ${url.pathname}` : url.pathname;
      if (!seen.has(key)) seen.set(key, await r.allHeaders());
    }
    const js = /^(text|application)\/javascript\b/;
    const types = { '/': /^text\/html; charset=utf-8$/, '/assets/app.js': js, '/assets/dom.js': js,
      '/assets/audit.js': js, '/assets/reports.js': js,
      '/assets/app.css': /^text\/css\b/, '/assets/favicon.svg': /^image\/svg\+xml\b/ };
    for (const [path, type] of Object.entries(types)) {
      const h = seen.get(path);
      assert.ok(h, `${path} was loaded`);
      assert.match(h['content-type'] || '', type, `${path} content-type`);
      assert.match(h.etag || '', /^(W\/)?".+"$/, `${path} ETag`);
      // Everything is revalidated (a 304 when unchanged): the page and its modules never mix versions.
      assert.match(h['cache-control'] || '', /no-cache/, `${path} Cache-Control`);
      assert.equal(h['x-content-type-options'], 'nosniff');
    }
    const api = [...seen.keys()].filter((k) => k.includes('/api/'));
    assert.ok(api.length >= 4, api.join(', '));
    for (const key of api) assert.equal(seen.get(key)['cache-control'], 'no-store', `${key} Cache-Control`);
    await context.close();
  });

  test('the violation detector works (control)', async () => {
    const context = await newContext(browser);
    const page = await newPage(context);
    await page.goto(BASE_URL);
    await page.locator('#signin-form').waitFor();
    await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__kdInlineRan = true;';
      document.body.append(s);
      const d = document.createElement('div');
      d.setAttribute('style', 'color: red');
      document.body.append(d);
    });
    await page.waitForFunction(() => (window.__kdViolations || []).length >= 2);
    assert.equal(await page.evaluate(() => window.__kdInlineRan === true), false, 'the inline script was blocked');
    await assert.rejects(assertQuiet(page), /Content-Security-Policy violations/);
    await context.close();
  });

  test('Chromium trusts the test server only through the pinned key', async () => {
    const unpinned = await chromium.launch({
      executablePath: process.env.KD_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS.filter((a) => !a.startsWith('--ignore-certificate-errors-spki-list')),
    });
    try {
      const page = await unpinned.newPage();
      await assert.rejects(page.goto(BASE_URL), /ERR_CERT_AUTHORITY_INVALID/);
    } finally {
      await unpinned.close();
    }
  });
});
