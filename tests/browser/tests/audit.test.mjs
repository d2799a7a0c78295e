// The Audit log page: who sees it and its exports, a helpdesk reveal found by computer, Key ID
// and ticket, one record in full (checked against the line on disk), paging, a filter the
// server refuses, the integrity banner and "Verify now", and the exports (CSV, JSON Lines,
// evidence bundle) with what they must never contain. Every look at the log is audited.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  BASE_URL, KEYS, USERS, apiCall, apiIdle, assertQuiet, auditDir, auditRecords, closeSharedBrowser,
  focused, httpErrorMessage, newContext, newPage, revealByApi, screenshot, sharedBrowser, signIn,
  signInByApi, uniqueTicket, waitForAudit,
} from '../lib/keydesk.mjs';

const CSV_HEADER = 'seq,time,event,actor,outcome,client,computer,key_id,reason,ticket,request_id';
const PASSWORDS = Object.values(KEYS).map((k) => k.password);

// The text of the <dd> beside the <dt> named `name` in a definition list.
async function field(list, name) {
  return list.locator('.fields__row').filter({ has: list.page().locator('dt', { hasText: new RegExp(`^${name}$`) }) })
    .locator('dd').textContent();
}

async function search(page, filters) {
  await page.getByRole('button', { name: 'Clear filters' }).click();
  for (const [label, value] of Object.entries(filters)) {
    const input = page.locator('#audit-form').getByLabel(label, { exact: true });
    if (await input.evaluate((e) => e.tagName === 'SELECT')) await input.selectOption(value);
    else await input.fill(value);
  }
  const before = await page.locator('#audit-status').textContent();
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForFunction(() => !document.querySelector('#audit-submit').classList.contains('is-busy'));
  await apiIdle(page);
  return before;
}

after(closeSharedBrowser);

describe('audit log page', () => {
  let browser;
  before(async () => {
    browser = await sharedBrowser();
  });

  test('who sees the audit log, its exports and the reports', async () => {
    const context = await newContext(browser);
    const page = await newPage(context);

    // Helpdesk: neither the audit log nor the reports, in the navigation or by address.
    await signIn(page, USERS.helpdesk);
    assert.deepEqual(await page.getByRole('navigation').getByRole('link').allTextContents(), ['Recovery keys']);
    await page.goto(`${BASE_URL}/#audit`);
    await page.locator('#denied-text').waitFor();
    assert.equal(await page.locator('#denied-text').textContent(),
      'The Audit log page needs the Auditor, Security or Admin role; you have: Helpdesk.');
    assert.equal(await page.locator('#audit-body tr').count(), 0);
    await page.goto(`${BASE_URL}/#security`);
    assert.match(await page.locator('#denied-text').textContent(), /^The Reports page needs the Security or Admin role/);
    const helpdeskAnswer = await page.evaluate(() => fetch('/api/v1/audit/records').then((r) => r.status));
    assert.equal(helpdeskAnswer, 403);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#signin-form').waitFor();

    // Auditor: the audit log, no exports, no reports.
    await page.getByLabel('User name').fill(USERS.auditor.username);
    await page.getByLabel('Password', { exact: true }).fill(USERS.auditor.password);
    await page.keyboard.press('Enter');
    await page.locator('#audit-body tr').first().waitFor();
    assert.equal(new URL(page.url()).hash, '#audit');
    assert.equal((await focused(page)).id, 'audit-title');
    assert.deepEqual(await page.getByRole('navigation').getByRole('link').allTextContents(), ['Audit log']);
    assert.equal(await page.getByRole('link', { name: /^Export|Evidence bundle/ }).count(), 0, 'no export links');
    assert.equal(await page.locator('#audit-exports').isHidden(), true);
    await page.goto(`${BASE_URL}/#security`);
    await page.locator('#denied-text').waitFor();
    assert.match(await page.locator('#denied-text').textContent(), /needs the Security or Admin role; you have: Auditor\./);
    // The server refuses an auditor's export whatever the page shows.
    const auditorAnswers = await page.evaluate(() => Promise.all([
      fetch('/api/v1/audit/export?format=csv').then((r) => r.status),
      fetch('/api/v1/audit/bundle').then((r) => r.status),
      fetch('/api/v1/reports/summary').then((r) => r.status),
    ]));
    assert.deepEqual(auditorAnswers, [403, 403, 403]);
    await apiIdle(page);

    await assertQuiet(page, {
      allow: [httpErrorMessage(401, '/api/v1/session'), httpErrorMessage(403, '/api/v1/audit/records'),
        httpErrorMessage(403, '/api/v1/audit/export'), httpErrorMessage(403, '/api/v1/audit/bundle'),
        httpErrorMessage(403, '/api/v1/reports/summary')],
    });
    await context.close();
  });

  test('a helpdesk reveal in the auditor’s log: filters, the record in full, keyboard', async () => {
    const ticket = uniqueTicket();
    const reveal = await revealByApi(browser, KEYS.K3, { ticket, reason: 'tpm_reset' });
    const context = await newContext(browser);
    const page = await newPage(context);
    await signIn(page, USERS.auditor);
    await page.locator('#audit-body tr').first().waitFor();
    await apiIdle(page);

    // Newest first.
    const seqs = (await page.locator('#audit-body tr').evaluateAll((rows) => rows.map((r) => Number(r.dataset.seq))));
    assert.ok(seqs.length > 0);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), 'newest first');

    // By computer (any case) and Key ID prefix.
    await search(page, { Computer: 'ws-0007', 'Key ID prefix': KEYS.K3.keyId.slice(0, 8).toLowerCase() });
    const row = page.locator(`#audit-body tr[data-seq="${reveal.seq}"]`);
    await row.waitFor();
    const cells = Object.fromEntries(await row.locator('td').evaluateAll((tds) => tds.map((td) => [td.dataset.label, td.textContent])));
    assert.equal(cells.Record, `#${reveal.seq}`);
    assert.equal(cells.Event, 'key.reveal');
    assert.equal(cells.Staff, USERS.helpdesk.username);
    assert.equal(cells.Outcome, 'success');
    assert.equal(cells.Computer, KEYS.K3.computer);
    assert.equal(cells['Key ID'], KEYS.K3.keyId);
    assert.equal(cells.Reason, 'tpm_reset');
    assert.equal(cells.Ticket, ticket);
    assert.match(cells.Time, /^\d{1,2} \w{3} 20\d\d, \d\d:\d\d:\d\d UTC$/);
    for (const computer of await page.locator('#audit-body td[data-label="Computer"]').allTextContents()) {
      assert.ok(['WS-0007', '—'].includes(computer.toUpperCase()), computer); // a lookup's name as typed
    }
    // The filters are audited with the query.
    assert.ok(await waitForAudit((r) => r.event === 'audit.query' && r.actor === USERS.auditor.username &&
      JSON.stringify(r).toLowerCase().includes('ws-0007')), 'an audit.query record with the filters');

    // By ticket: exactly the lookup and the reveal of this ticket.
    await search(page, { Ticket: ticket });
    assert.deepEqual(await page.locator('#audit-body td[data-label="Event"]').allTextContents(), ['key.reveal', 'key.lookup']);
    assert.match(await page.locator('#audit-status').textContent(), /^Showing all 2 records matching ticket INC\d{7}, newest first\.$/);
    assert.equal((await focused(page)).id, 'audit-results-title', 'focus moves to the results');
    await screenshot(page, 'audit');

    // The record in full: a click on the row.
    await row.locator('td[data-label="Computer"]').click();
    const dialog = page.locator('#audit-dialog');
    await dialog.locator('#audit-dialog-content').waitFor();
    assert.equal(await page.locator('#audit-dialog-title').textContent(), `Audit record ${reveal.seq}: key.reveal`);
    assert.equal((await focused(page)).id, 'audit-dialog-close');
    const record = dialog.locator('#audit-dialog-record');
    const names = await record.locator('dt').allTextContents();
    assert.deepEqual(names.sort(), Object.keys(reveal).sort(), 'every member of the record');
    assert.equal(await field(record, 'seq'), String(reveal.seq));
    assert.equal(await field(record, 'ticket'), ticket);
    assert.equal(await field(record, 'computer_dn'), reveal.computer_dn);
    assert.equal(await field(record, 'actor'), USERS.helpdesk.username);
    // Where it is: the line on disk, its SHA-256, the checkpoint.
    const place = dialog.locator('#audit-dialog-place');
    const file = await field(place, 'File');
    const line = Number(await field(place, 'Line'));
    assert.match(file, /\.jsonl$/);
    const text = fs.readFileSync(path.join(auditDir(), file), 'utf8').split('\n')[line - 1];
    assert.equal(JSON.parse(text).seq, reveal.seq, 'position names the record’s line');
    // The hash of the line's bytes as stored, its newline included.
    assert.equal(await field(place, 'Line SHA-256'), crypto.createHash('sha256').update(`${text}\n`).digest('hex'));
    assert.match(await field(place, 'Covering checkpoint'),
      /^(Record [\d,]+, .* UTC; (signature and hash verified by the last verification|not verified yet .*)\.|Not yet covered: .*)$/);
    await place.scrollIntoViewIfNeeded();
    await screenshot(page, 'audit-record');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await focused(page)).text, `Record ${reveal.seq}: key.reveal by helpdesk1, all details`,
      'focus back on the row');

    // The keyboard way: the row's button, Enter; Escape back.
    await page.keyboard.press('Enter');
    await dialog.locator('#audit-dialog-content').waitFor();
    assert.match(await page.locator('#audit-dialog-title').textContent(), new RegExp(`^Audit record ${reveal.seq}`));
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });

    // Reading one record is audited too.
    assert.ok(await waitForAudit((r) => r.event === 'audit.query' && r.actor === USERS.auditor.username &&
      r.record_seq === reveal.seq));

    // A filter the server refuses: its explanation beside the form, the field marked.
    await search(page, { 'Key ID prefix': 'XYZ' });
    await page.locator('#audit-filter-error').getByText(/did not accept the filters/).waitFor();
    assert.match(await page.locator('#audit-filter-error').textContent(), /key_id/);
    assert.equal(await page.getByLabel('Key ID prefix').getAttribute('aria-invalid'), 'true');
    assert.equal((await focused(page)).id, 'audit-key-id');
    await page.getByLabel('Key ID prefix').fill('1F5A');
    assert.equal(await page.locator('#audit-filter-error').textContent(), '', 'editing the field clears the message');

    await apiIdle(page);
    await assertQuiet(page, { allow: [httpErrorMessage(401, '/api/v1/session'), httpErrorMessage(400, '/api/v1/audit/records')] });
    await context.close();
  });

  test('paging: "Load more" follows the cursor', async () => {
    const ticket = uniqueTicket();
    const helpdesk = await newContext(browser);
    const session = await signInByApi(helpdesk, USERS.helpdesk);
    for (let i = 0; i < 57; i++) {
      const answer = await apiCall(helpdesk, session.csrf_token, 'POST', '/lookups', { computer: 'SRV-0003', ticket });
      assert.equal(answer.status, 200, answer.text);
    }
    await helpdesk.close();

    const context = await newContext(browser);
    const page = await newPage(context);
    await signIn(page, USERS.auditor);
    await page.locator('#audit-body tr').first().waitFor();
    await search(page, { Ticket: ticket, Event: 'key.lookup' });
    const rows = page.locator('#audit-body tr');
    assert.equal(await rows.count(), 50);
    assert.match(await page.locator('#audit-status').textContent(), /^Showing the newest 50 records matching .* More are available\.$/);
    const more = page.getByRole('button', { name: 'Load more' });
    await more.click();
    await rows.nth(56).waitFor();
    assert.equal(await rows.count(), 57);
    assert.equal(await more.isHidden(), true, 'no more pages');
    const seqs = await rows.evaluateAll((all) => all.map((r) => Number(r.dataset.seq)));
    assert.equal(new Set(seqs).size, 57, 'no record twice');
    assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), 'newest first across pages');
    assert.equal((await focused(page)).text, `Record ${seqs[50]}: key.lookup by helpdesk1, all details`,
      'focus on the first record of the new page');
    assert.match(await page.locator('#audit-status').textContent(), /^Showing all 57 records matching/);
    await apiIdle(page);
    await assertQuiet(page, { allow: [httpErrorMessage(401, '/api/v1/session')] });
    await context.close();
  });

  test('integrity banner and "Verify now"', async () => {
    // Signed checkpoints are written a few seconds after activity (run.sh: checkpoint_seconds).
    assert.ok(await waitForAudit((r) => r.event === 'audit.checkpoint', 10_000), 'a checkpoint in the log');
    const context = await newContext(browser);
    const page = await newPage(context);
    await signIn(page, USERS.auditor);
    const banner = page.locator('#integrity');
    await page.waitForFunction(() => document.querySelector('#integrity-detail').textContent !== '');
    assert.match(await banner.getAttribute('data-state'), /^(ok|unknown)$/);

    // Slow the answer down a little to see the busy state.
    await page.route('**/api/v1/audit/verify', async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 400));
      await route.continue();
    });
    const started = Date.now();
    const verify = page.getByRole('button', { name: /^Verify now|Verifying…$/ });
    await verify.click();
    assert.equal(await page.locator('#integrity-verify').textContent(), 'Verifying…');
    assert.equal(await page.locator('#integrity-verify').getAttribute('aria-disabled'), 'true');
    assert.equal(await banner.getAttribute('aria-busy'), 'true');
    await page.waitForFunction(() => document.querySelector('#integrity-verify').textContent === 'Verify now');
    assert.equal(await banner.getAttribute('data-state'), 'ok');
    assert.equal(await page.locator('#integrity-title').textContent(), 'Integrity OK: the audit log is intact');
    assert.match(await page.locator('#integrity-detail').textContent(),
      /^Verified \d{1,2} \w{3} 20\d\d, \d\d:\d\d:\d\d UTC: [\d,]+ records in \d+ files?, [\d,]+ checkpoints?; record chain and checkpoint signatures checked\.$/);
    assert.match(await page.locator('#integrity-checkpoint').textContent(),
      /^Newest checkpoint: record [\d,]+, covering records up to [\d,]+, .* UTC, signing key [0-9a-f]+\.$/);
    assert.equal(await banner.getAttribute('aria-busy'), null);
    const record = await waitForAudit((r) => r.event === 'audit.verify' && r.actor === USERS.auditor.username &&
      Date.parse(r.time) >= started - 1000);
    assert.ok(record, 'the verification is audited');
    await screenshot(page, 'audit-integrity', { clip: { x: 0, y: 0, width: 1280, height: 420 } });
    await apiIdle(page);
    await assertQuiet(page, { allow: [httpErrorMessage(401, '/api/v1/session')] });
    await context.close();
  });

  test('security staff export CSV, JSON Lines and an evidence bundle', async () => {
    const ticket = uniqueTicket();
    const reveal = await revealByApi(browser, KEYS.K4, { ticket, reason: 'bios_changed' });
    const started = Date.now();
    const context = await newContext(browser);
    const page = await newPage(context);
    await signIn(page, USERS.security);
    await page.locator('#audit-body tr').first().waitFor();
    assert.equal(await page.locator('#audit-exports').isVisible(), true);
    await search(page, { Ticket: ticket });
    await page.locator(`#audit-body tr[data-seq="${reveal.seq}"]`).waitFor();
    // The exports carry the filters of the list on screen.
    for (const name of ['Export CSV', 'Export JSON', 'Evidence bundle']) {
      assert.match(await page.getByRole('link', { name }).getAttribute('href'), new RegExp(`[?&]ticket=${ticket}(&|$)`));
    }

    const download = async (name) => {
      const [file] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name }).click()]);
      return { name: file.suggestedFilename(), bytes: fs.readFileSync(await file.path()) };
    };

    const csv = await download('Export CSV');
    assert.match(csv.name, /\.csv$/);
    const csvText = csv.bytes.toString('utf8');
    const lines = csvText.split(/\r?\n/).filter(Boolean);
    assert.equal(lines[0], CSV_HEADER);
    assert.equal(lines.length, 3, 'the header, the lookup and the reveal (oldest first)');
    assert.ok(lines[2].startsWith(`${reveal.seq},`), lines[2]);
    assert.match(lines[2], new RegExp(`,key\\.reveal,helpdesk1,success,.*,${KEYS.K4.computer},${KEYS.K4.keyId},bios_changed,${ticket},`));
    for (const password of PASSWORDS) assert.equal(csvText.includes(password), false, 'no recovery password');

    const json = await download('Export JSON');
    const records = json.bytes.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.deepEqual(records.map((r) => r.event), ['key.lookup', 'key.reveal']);
    assert.deepEqual(records[1], reveal, 'each line the record exactly as in the log');
    for (const password of PASSWORDS) assert.equal(json.bytes.includes(password), false, 'no recovery password');

    const bundle = await download('Evidence bundle');
    assert.match(bundle.name, /\.tar\.gz$/);
    assert.ok(bundle.bytes.length > 200, `${bundle.bytes.length} bytes`);
    assert.deepEqual([...bundle.bytes.subarray(0, 2)], [0x1f, 0x8b], 'gzip magic');
    const tmp = path.join(fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'kd-bundle-')), bundle.name);
    fs.writeFileSync(tmp, bundle.bytes);
    const members = execFileSync('tar', ['-tzf', tmp], { encoding: 'utf8' }).split('\n').filter(Boolean);
    const contents = execFileSync('tar', ['-xzOf', tmp], { encoding: 'latin1', maxBuffer: 64 << 20 });
    fs.rmSync(path.dirname(tmp), { recursive: true, force: true });
    assert.ok(members.length >= 2, members.join(', '));
    assert.ok(contents.includes(`"seq":${reveal.seq}`), 'the bundle holds the reveal');
    for (const password of PASSWORDS) assert.equal(contents.includes(password), false, 'no recovery password');

    // Each export was audited, with its filters, before it was sent.
    const exports = auditRecords().filter((r) => r.event === 'audit.export' && r.actor === USERS.security.username &&
      Date.parse(r.time) >= started - 1000 && JSON.stringify(r).includes(ticket));
    assert.equal(exports.length, 3, JSON.stringify(exports));
    assert.ok(exports.some((r) => JSON.stringify(r).includes('bundle')), 'the bundle is recorded as such');
    assert.ok(auditRecords().some((r) => r.event === 'audit.query' && r.actor === USERS.security.username &&
      Date.parse(r.time) >= started - 1000));

    await apiIdle(page);
    await assertQuiet(page, { allow: [httpErrorMessage(401, '/api/v1/session')] });
    await context.close();
  });
});
