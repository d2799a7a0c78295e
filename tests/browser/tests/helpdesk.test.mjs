// The helpdesk flow, as on the phone with a locked-out user: a Key ID typed badly, a prefix
// with several matches, a computer-name search, a reveal with reason, ticket and end user,
// copy, the read-aloud view, auto-hide, "show again" (a second audited reveal), sign-out.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, KEYS, TICKET, USERS, assertQuiet, auditRecords, closeSharedBrowser, focused,
  httpErrorMessage, newContext, newPage, screenshot, sharedBrowser, signIn, waitForAudit,
} from '../lib/keydesk.mjs';

// "Hidden automatically in 42 s" → 42
function secondsLeft(text) {
  const m = /^Hidden automatically in (\d+) s$/.exec(text);
  assert.ok(m, text);
  return Number(m[1]);
}


after(closeSharedBrowser);

describe('helpdesk', () => {
  let browser;
  before(async () => {
    browser = await sharedBrowser();
  });

  test('full helpdesk flow: search, reveal, copy, read aloud, auto-hide, sign-out', async (t) => {
    const context = await newContext(browser, { clipboard: true });
    const page = await newPage(context);
    // Fake timers (Date, setTimeout, setInterval) that run in real time until fast-forwarded:
    // the 60-second auto-hide is tested without waiting a minute.
    await page.clock.install({ time: new Date() });
    const query = page.getByLabel('Key ID or computer name');
    const hint = page.locator('#lookup-hint');
    const rows = page.locator('#results-body tr');
    const dialog = page.getByRole('dialog');
    // This test's reveals in the audit log (other tests may run at the same time).
    const ours = (r) => r.event === 'key.reveal' && r.outcome === 'success' && r.key_id === KEYS.K2.keyId &&
      r.reason === 'tpm_reset' && r.end_user === 'Jörg Müller (jmueller)';

    await t.test('sign-in page', async () => {
      await page.goto(BASE_URL);
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      assert.equal(await page.title(), 'Sign in – keydesk');
      assert.equal((await focused(page)).id, 'signin-username', 'focus starts in the user name');
      await screenshot(page, 'signin');
      await signIn(page, USERS.helpdesk);
      await assert.doesNotReject(page.locator('#user-display-name', { hasText: 'Hana Helpdesk' }).waitFor());
      assert.equal(await page.locator('#user-roles').textContent(), 'Helpdesk');
      assert.equal((await focused(page)).id, 'lookup-query', 'focus lands in the search box');
      // Helpdesk sees only the pages of its role.
      assert.equal(await page.getByRole('navigation').getByRole('link').count(), 1);
      assert.equal(await page.getByRole('link', { name: 'Recovery keys' }).getAttribute('aria-current'), 'page');
    });

    await t.test('a Key ID typed badly is normalized as it is typed', async () => {
      await query.pressSequentially('{063ea4');
      assert.equal(await hint.textContent(), 'Key ID: 8 hex digits needed, 6 typed.');
      assert.match(await hint.getAttribute('class'), /query-hint--problem/);
      await query.pressSequentially('e1- ');
      assert.equal(await query.inputValue(), '{063ea4e1- ');
      assert.equal(await hint.textContent(), 'Key ID 063EA4E1… (first 8 of 32 hex digits)');
      assert.match(await hint.getAttribute('class'), /query-hint--ok/);
      // Not a key ID, not a computer name: says why.
      await query.fill('063EA4E1 x');
      assert.match(await hint.textContent(), /“X” is not allowed|cannot contain spaces/);
      await query.fill('  {063ea4e1-  ');
      await page.getByLabel('Ticket (optional)').fill(TICKET);
      await screenshot(page, 'search-typing');
    });

    await t.test('a prefix with several matches: highlighted prefix, newest/superseded badges', async () => {
      await page.getByRole('button', { name: 'Find' }).click();
      await rows.first().waitFor();
      assert.equal(await rows.count(), 2);
      assert.equal(await page.locator('#results-status').textContent(), '2 keys found for key ID starting 063EA4E1.');
      // Focus moves to the results when there is a choice to make.
      assert.equal((await focused(page)).id, 'results-title');
      for (const row of await rows.all()) {
        assert.equal(await row.locator('td[data-label="Computer"]').textContent(), 'LAPTOP-0042');
        assert.equal(await row.locator('td[data-label="OU"]').textContent(), 'Laptops');
        assert.equal(await row.locator('mark').textContent(), '063EA4E1');
        assert.equal(await row.locator('td[data-label="Volume ID"]').textContent(), KEYS.K1.volume);
        assert.match(await row.locator('.created__relative').textContent(), /years? ago|months? ago/);
        assert.match(await row.locator('.created__exact').textContent(), /20\d\d/);
      }
      const newest = rows.filter({ hasText: KEYS.K2.keyId });
      const superseded = rows.filter({ hasText: KEYS.K1.keyId });
      assert.equal(await newest.locator('.badge').textContent(), 'newest for this volume');
      assert.equal(await superseded.locator('.badge').textContent(), 'superseded');
      // Newest first within a volume.
      assert.equal(await rows.first().getAttribute('data-key-id'), KEYS.K2.keyId);
      assert.equal(await newest.locator('time').getAttribute('datetime'), '2024-06-01T12:30:00.000Z');
      await screenshot(page, 'results');
    });

    await t.test('a prefix matching two computers', async () => {
      await query.fill('1f5a 63b3');
      await page.keyboard.press('Enter');
      await rows.filter({ hasText: 'SRV-0003' }).waitFor();
      assert.equal(await rows.count(), 2);
      assert.deepEqual(await rows.locator('td[data-label="Computer"]').allTextContents(), ['SRV-0003', 'WS-0007']);
      assert.deepEqual(await rows.locator('td[data-label="OU"]').allTextContents(), ['Servers', 'Workstations']);
      assert.deepEqual(await rows.locator('.badge').allTextContents(), ['newest for this volume', 'newest for this volume']);
    });

    await t.test('a computer-name search', async () => {
      await query.fill('ws-0007');
      assert.equal(await hint.textContent(), 'Computer name ws-0007');
      await page.keyboard.press('Enter');
      await rows.filter({ hasText: KEYS.K5.keyId }).waitFor();
      assert.equal(await page.locator('#results-status').textContent(), '2 keys found for computer ws-0007.');
      assert.deepEqual((await rows.locator('.key-id').allTextContents()).sort(), [KEYS.K3.keyId, KEYS.K5.keyId]);
      assert.equal(await rows.locator('mark').count(), 0, 'nothing to highlight for a computer search');
      // A computer without keys.
      await query.fill('WS-0099');
      await page.keyboard.press('Enter');
      await page.locator('#results-empty', { hasText: 'No key matches computer WS-0099' }).waitFor();
    });

    await t.test('the reveal dialog checks reason, description and ticket', async () => {
      await query.fill('063EA4E1');
      await page.keyboard.press('Enter');
      await rows.nth(1).waitFor();
      await page.getByRole('button', { name: `Reveal recovery password for LAPTOP-0042, key ID ${KEYS.K2.keyId}` }).click();
      await dialog.waitFor();
      assert.equal(await dialog.getAttribute('aria-labelledby'), 'reveal-title');
      assert.equal(await page.locator('#reveal-key-id').textContent(), KEYS.K2.keyId);
      assert.equal((await focused(page)).id, 'reveal-reason', 'focus lands on the first field');
      assert.equal(await page.getByLabel('Ticket (required)').inputValue(), TICKET, 'ticket carried over from the search');

      const reveal = page.getByRole('button', { name: 'Reveal', exact: true });
      await reveal.click();
      await page.locator('#reveal-error', { hasText: 'Choose a reason.' }).waitFor();
      assert.equal((await focused(page)).id, 'reveal-reason');

      await page.locator('#reveal-dialog').getByLabel('Reason').selectOption('other');
      assert.equal(await page.locator('#reveal-reason-text-flag').textContent(), '(required)');
      await reveal.click();
      await page.locator('#reveal-error', { hasText: 'Describe the reason' }).waitFor();
      assert.equal((await focused(page)).id, 'reveal-reason-text');
      assert.equal(await page.locator('#reveal-reason-text').getAttribute('aria-invalid'), 'true');

      await page.locator('#reveal-dialog').getByLabel('Reason').selectOption('tpm_reset');
      await page.getByLabel('Ticket (required)').fill('');
      await reveal.click();
      await page.locator('#reveal-error', { hasText: 'Enter the ticket number.' }).waitFor();

      // The server's ticket_pattern (^INC[0-9]{7}$) refuses this one.
      await page.getByLabel('Ticket (required)').fill('12345');
      await reveal.click();
      await page.locator('#reveal-error', { hasText: /ticket number (is not valid|does not have the expected format)/ }).waitFor();
      assert.equal((await focused(page)).id, 'reveal-ticket');

      await page.getByLabel('Ticket (required)').fill(TICKET);
      await page.getByLabel('End user (optional)').fill('Jörg Müller (jmueller)');
      await screenshot(page, 'reveal-form');
    });

    await t.test('reveal: 8 groups of 6 digits, copy, read aloud', async () => {
      await page.getByRole('button', { name: 'Reveal', exact: true }).click();
      const password = page.locator('#reveal-password');
      await password.waitFor();
      assert.equal(await page.locator('#reveal-title').textContent(), 'Recovery password for LAPTOP-0042');
      assert.equal(await password.textContent(), KEYS.K2.password, 'the text is the password, for selection');
      assert.deepEqual(await password.locator('.password-group').allTextContents(), KEYS.K2.password.split('-'));
      assert.equal((await focused(page)).id, 'reveal-copy', 'focus lands on Copy');
      assert.ok(secondsLeft(await page.locator('#reveal-countdown').textContent()) >= 50);

      // The audit record was durable before the password was sent.
      const record = await waitForAudit(ours);
      assert.ok(record, 'a key.reveal record');
      assert.equal(record.actor, 'helpdesk1');
      assert.equal(record.reason, 'tpm_reset');
      assert.equal(record.ticket, TICKET);
      assert.equal(record.end_user, 'Jörg Müller (jmueller)');
      assert.equal(record.computer, 'LAPTOP-0042');
      await screenshot(page, 'reveal-password');

      await page.getByRole('button', { name: 'Copy' }).click();
      await page.locator('#reveal-copy-status', { hasText: 'Copied' }).waitFor();
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), KEYS.K2.password);

      const toggle = page.getByRole('button', { name: 'Read aloud' });
      assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
      await toggle.click();
      assert.equal(await page.locator('#reveal-spell-toggle').getAttribute('aria-expanded'), 'true');
      const groups = page.locator('#reveal-spell > li');
      assert.equal(await groups.count(), 8);
      assert.deepEqual(await groups.first().locator('.spell__digit').allTextContents(), ['3', '0', '9', '5', '4', '0']);
      assert.equal(await groups.first().locator('.spell__words').textContent(), 'three zero nine – five four zero');
      assert.equal(await groups.nth(7).locator('.spell__label').textContent(), 'Group 8');
      // What a screen reader gets: the digits without the visual group numbers, and the words.
      assert.equal(await page.locator('#reveal-password').ariaSnapshot(),
        `- group "Recovery password": ${KEYS.K2.password.split('-').join(' ')}`);
      assert.match(await page.locator('#reveal-spell').ariaSnapshot(),
        /^- list "Recovery password, digit by digit":\n {2}- listitem: Group 1 three zero nine – five four zero\n/);
      await screenshot(page, 'reveal-read-aloud');
    });

    await t.test('auto-hide after 60 s; showing again is a new audited reveal', async () => {
      const before = auditRecords().filter(ours).length;
      // The clock has been running in real time since the reveal (a few seconds at most).
      await page.clock.fastForward(30_000);
      const left = secondsLeft(await page.locator('#reveal-countdown').textContent());
      assert.ok(left > 0 && left <= 30, `${left} s left`);
      await page.clock.fastForward(31_000);
      await page.locator('#reveal-hidden').waitFor();
      assert.equal(await page.locator('#reveal-password').textContent(), '', 'the password is gone from the page');
      assert.equal(await page.locator('#reveal-spell').textContent(), '');
      assert.equal(await page.locator('#reveal-hidden-text').textContent(), 'The recovery password was hidden after 1 minute.');
      assert.equal((await focused(page)).id, 'reveal-again');
      assert.equal(await page.content().then((html) => html.includes(KEYS.K2.password)), false);
      await screenshot(page, 'reveal-hidden');

      await page.getByRole('button', { name: 'Show again' }).click();
      await page.locator('#reveal-password', { hasText: KEYS.K2.password.slice(0, 6) }).waitFor();
      const after = auditRecords().filter(ours);
      assert.equal(after.length, before + 1, 'a second key.reveal record');
      assert.equal(before, 1);
      assert.equal(after.at(-1).ticket, TICKET);

      // Escape closes the dialog, wipes the password and returns focus to the row's button.
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'hidden' });
      assert.equal(await page.locator('#reveal-password').textContent(), '');
      const back = await focused(page);
      assert.equal(back.keyId, KEYS.K2.keyId, 'focus back on the Reveal button that opened the dialog');
    });

    await t.test('sign-out', async () => {
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.locator('#signin-notice', { hasText: 'You have signed out.' }).waitFor();
      assert.equal(await page.locator('#results').isHidden(), true);
      assert.equal(await page.getByLabel('User name').inputValue(), '');
      assert.equal(await page.getByLabel('Password', { exact: true }).inputValue(), '');
      assert.ok(await waitForAudit((r) => r.event === 'session.logout' && r.actor === 'helpdesk1'));
      // The session is gone on the server too: a reload lands on the sign-in page.
      await page.reload();
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      const status = await page.evaluate(() => fetch('/api/v1/session').then((r) => r.status));
      assert.equal(status, 401);
    });

    await assertQuiet(page, { allow: [httpErrorMessage(401, '/api/v1/session'), httpErrorMessage(400, '/api/v1/reveals')] });
    await context.close();
  });
});
