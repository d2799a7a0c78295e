// The Reports page: charts drawn in the page as SVG (title, description, the numbers in a
// table beneath, a CSV link each), a helpdesk reveal counted per staff member, per computer and
// per day, the revealed key listed as not rotated, an empty period, dates the wrong way round,
// and who may see it. Every report view is audited.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  BASE_URL, KEYS, USERS, apiIdle, assertQuiet, auditRecords, closeSharedBrowser, focused,
  httpErrorMessage, newContext, newPage, revealByApi, screenshot, sharedBrowser, signIn,
  uniqueTicket,
} from '../lib/keydesk.mjs';

const TABLES = ['per_day', 'per_staff', 'top_computers', 'failed_sign_ins', 'after_hours_reveals', 'unusual_volume'];
const PASSWORDS = Object.values(KEYS).map((k) => k.password);

// The numbers of one row of a report table, by column label.
async function tableRow(page, section, firstCell) {
  const rows = await page.locator(`${section} tbody tr`).evaluateAll((trs) => trs.map((tr) =>
    Object.fromEntries([...tr.cells].map((td) => [td.dataset.label, td.textContent]))));
  return rows.find((r) => Object.values(r)[0] === firstCell) || null;
}

async function load(page) {
  await page.getByRole('button', { name: 'Load' }).click();
  await page.waitForFunction(() => !document.querySelector('#reports-submit').classList.contains('is-busy'));
  await apiIdle(page);
}

after(closeSharedBrowser);

describe('reports page', () => {
  let browser;
  before(async () => {
    browser = await sharedBrowser();
  });

  test('charts and tables count a reveal; the revealed key is listed as not rotated', async () => {
    const started = Date.now();
    const context = await newContext(browser);
    const page = await newPage(context);
    await signIn(page, USERS.security);
    await page.getByRole('link', { name: 'Reports' }).click();
    await page.locator('#security-title').waitFor();
    assert.equal(await page.title(), 'Reports – keydesk');
    assert.equal((await focused(page)).id, 'security-title');
    await page.locator('#report-per_day').waitFor();
    await apiIdle(page);
    // The last 30 days by default (UTC): today and the 29 before.
    const today = new Date().toISOString().slice(0, 10);
    const monthAgo = new Date(Date.now() - 29 * 86400000).toISOString().slice(0, 10);
    assert.equal(await page.locator('#reports-form').getByLabel('To (UTC, inclusive)').inputValue(), today);
    assert.equal(await page.locator('#reports-form').getByLabel('From (UTC)').inputValue(), monthAgo);
    const before = await tableRow(page, '#report-per_staff', USERS.helpdesk.username);
    const revealsBefore = before ? Number(before.Reveals) : 0;

    const ticket = uniqueTicket();
    await revealByApi(browser, KEYS.K5, { ticket, reason: 'lost_passphrase' });
    await load(page);

    assert.match(await page.locator('#reports-status').textContent(),
      new RegExp(`^Report from .* to .*: [\\d,]+ lookups?, [\\d,]+ reveals?, [\\d,]+ failed sign-ins?\\.$`));
    assert.equal(await page.locator('#reports-hours').textContent(), 'Business hours: 08:00–18:00, Mon, Tue, Wed, Thu, Fri (UTC).');

    // Per staff member: the reveal is counted.
    const staff = await tableRow(page, '#report-per_staff', USERS.helpdesk.username);
    assert.ok(staff, 'helpdesk1 in the per-staff table');
    assert.ok(Number(staff.Reveals) >= revealsBefore + 1, `${staff.Reveals} reveals, ${revealsBefore} before`);
    assert.ok(Number(staff.Lookups) >= 1);
    // Per computer and per day too.
    const computer = await tableRow(page, '#report-top_computers', KEYS.K5.computer);
    assert.ok(computer && Number(computer.Reveals) >= 1, JSON.stringify(computer));
    const rows = await page.locator('#report-per_day tbody tr').count();
    assert.ok(rows >= 1);
    const perDay = (await page.locator('#report-per_day td[data-label="Reveals"]').allTextContents()).map(Number);
    assert.ok(perDay.some((n) => n >= 1), `a day with a reveal: ${perDay}`);

    // The charts: inline SVG, labelled by their title and description, the numbers beneath.
    for (const [name, title] of [['per_day', 'Lookups and reveals per day'], ['per_staff', 'Per staff member'],
      ['top_computers', 'Top computers']]) {
      const chart = page.locator(`#report-${name} svg`);
      assert.equal(await chart.count(), 1, name);
      assert.equal(await chart.getAttribute('role'), 'img');
      assert.equal(await chart.locator('title').first().textContent(), title);
      assert.match(await chart.locator('desc').textContent(), /^Bar chart of .*The numbers are in the table below\.$/);
      assert.equal(await page.getByRole('img', { name: title }).count(), 1, `${name}: an accessible name`);
      assert.ok(await chart.locator('rect.series--reveals').count() >= 1, `${name}: a reveal bar`);
      assert.ok(await page.locator(`#report-${name} table caption`).textContent());
    }
    assert.equal(await page.locator('#report-per_day svg rect.chart__bar').evaluateAll((bars) =>
      bars.every((b) => Number(b.getAttribute('height')) > 0 && Number(b.getAttribute('width')) > 0)), true);
    assert.ok((await page.locator('#report-per_staff svg text').allTextContents()).includes(USERS.helpdesk.username));
    assert.match(await page.locator('#report-per_day svg desc').textContent(), /[\d,]+ reveals? in all/);
    // Nothing came from elsewhere, nothing set a style attribute (CSP: style-src 'self').
    assert.equal(await page.locator('#page-security [style]').count(), 0);

    // A CSV link per table, with the period on screen.
    const from = await page.locator('#reports-form').getByLabel('From (UTC)').inputValue();
    for (const name of TABLES) {
      const href = await page.locator(`#report-${name} a.download-link`).getAttribute('href');
      assert.equal(href, `/api/v1/reports/summary?format=csv&table=${name}&from=${from}&to=${today}`);
    }
    const [download] = await Promise.all([page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download CSV: per staff member' }).click()]);
    assert.match(download.suggestedFilename(), /\.csv$/);
    const csv = fs.readFileSync(await download.path(), 'utf8');
    assert.match(csv.split(/\r?\n/)[0], /actor/);
    assert.match(csv, new RegExp(`^${USERS.helpdesk.username},`, 'm'));

    // Revealed keys not rotated: the key just revealed, with who and how often.
    await page.locator('#unrotated-table tbody tr').first().waitFor();
    assert.match(await page.locator('#unrotated-explain').textContent(),
      /^These recovery passwords were disclosed and the volume has not been re-keyed since/);
    const unrotated = await tableRow(page, '#unrotated-table', KEYS.K5.keyId);
    assert.ok(unrotated, 'the revealed key is listed');
    assert.equal(unrotated.Computer, KEYS.K5.computer);
    assert.match(unrotated['Revealed by'], /\bhelpdesk1\b/);
    assert.ok(Number(unrotated.Reveals) >= 1);
    assert.match(unrotated['Days in force'], /^\d+$/);
    assert.match(unrotated['First revealed'], /UTC$/);
    const firsts = await page.locator('#unrotated-table time').evaluateAll((ts) => ts.map((t) => t.getAttribute('datetime')));
    assert.deepEqual(firsts, [...firsts].sort(), 'oldest reveal first');
    const counts = Object.fromEntries(await page.locator('#unrotated-counts .stats__item').evaluateAll((items) =>
      items.map((i) => [i.querySelector('dt').textContent, Number(i.querySelector('.stats__value').textContent.replace(/,/g, ''))])));
    assert.deepEqual(Object.keys(counts), ['Revealed', 'Not rotated', 'Rotated', 'Gone', 'Unknown']);
    assert.ok(counts.Revealed >= 1 && counts['Not rotated'] >= 1, JSON.stringify(counts));
    assert.equal(counts['Not rotated'], await page.locator('#unrotated-table tbody tr').count());
    const unrotatedCsv = await context.request.get(`${BASE_URL}${await page.locator('#unrotated-csv').getAttribute('href')}`);
    assert.equal(unrotatedCsv.status(), 200);
    const unrotatedText = await unrotatedCsv.text();
    assert.ok(unrotatedText.includes(KEYS.K5.keyId), unrotatedText.slice(0, 300));
    for (const password of PASSWORDS) assert.equal(unrotatedText.includes(password), false, 'no recovery password');

    await screenshot(page, 'reports', { fullPage: true });

    // An empty period.
    await page.locator('#reports-form').getByLabel('From (UTC)').fill('2001-01-01');
    await page.locator('#reports-form').getByLabel('To (UTC, inclusive)').fill('2001-01-31');
    await load(page);
    assert.match(await page.locator('#reports-status').textContent(), /: 0 lookups, 0 reveals, 0 failed sign-ins\. No reveals in this period\.$/);
    assert.equal(await page.locator('#report-per_day .empty').textContent(), 'No lookups or reveals in this period.');
    assert.equal(await page.locator('#report-after_hours_reveals .empty').textContent(), 'No reveals outside business hours in this period.');
    assert.equal(await page.locator('#reports-results svg').count(), 0, 'no chart without data');

    // Dates the wrong way round: said before anything is sent.
    await page.locator('#reports-form').getByLabel('From (UTC)').fill('2001-02-01');
    await page.getByRole('button', { name: 'Load' }).click();
    await page.locator('#reports-error', { hasText: 'The end date is before the start date.' }).waitFor();
    assert.equal(await page.locator('#reports-form').getByLabel('To (UTC, inclusive)').getAttribute('aria-invalid'), 'true');
    assert.equal((await focused(page)).id, 'reports-to');

    // Every view was audited.
    const views = auditRecords().filter((r) => r.event === 'report.view' && r.actor === USERS.security.username &&
      Date.parse(r.time) >= started - 1000);
    assert.ok(views.length >= 4, `${views.length} report.view records`);
    assert.ok(views.some((r) => JSON.stringify(r).includes('unrotated')), 'the unrotated report is recorded');

    await apiIdle(page);
    await assertQuiet(page, { allow: [httpErrorMessage(401, '/api/v1/session')] });
    await context.close();
  });

  test('an admin sees the reports; an auditor does not', async () => {
    const context = await newContext(browser);
    const page = await newPage(context);
    await signIn(page, USERS.admin);
    await page.getByRole('link', { name: 'Reports' }).click();
    await page.locator('#report-per_staff').waitFor();
    await apiIdle(page);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#signin-form').waitFor();
    assert.equal(await page.locator('#reports-results').isHidden(), true, 'nothing left on the page after sign-out');
    assert.equal(await page.locator('#unrotated-table').textContent(), '');

    await page.getByLabel('User name').fill(USERS.auditor.username);
    await page.getByLabel('Password', { exact: true }).fill(USERS.auditor.password);
    await page.keyboard.press('Enter');
    await page.locator('#audit-title').waitFor();
    assert.equal(await page.getByRole('link', { name: 'Reports' }).count(), 0);
    await page.goto(`${BASE_URL}/#security`);
    await page.locator('#denied-text').waitFor();
    assert.equal(await page.locator('#denied-text').textContent(),
      'The Reports page needs the Security or Admin role; you have: Auditor.');
    await apiIdle(page);
    await assertQuiet(page, { allow: [httpErrorMessage(401, '/api/v1/session')] });
    await context.close();
  });
});
