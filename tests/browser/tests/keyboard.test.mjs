// The whole helpdesk flow without a mouse: only typing, Tab, Enter and Escape. At every step
// focus must already be where the next action is.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, KEYS, TICKET, USERS, assertQuiet, closeSharedBrowser, focused, httpErrorMessage,
  newContext, newPage, sharedBrowser, waitForAudit,
} from '../lib/keydesk.mjs';

// Presses `key` until the focused element has id `id` (at most `limit` presses).
async function tabTo(page, id, key = 'Tab', limit = 25) {
  for (let i = 0; i < limit; i++) {
    if ((await focused(page)).id === id) return i;
    await page.keyboard.press(key);
  }
  assert.fail(`${key} never reached #${id}; focus is on ${JSON.stringify(await focused(page))}`);
}


after(closeSharedBrowser);

describe('keyboard only', () => {
  let browser;
  before(async () => {
    browser = await sharedBrowser();
  });

  test('sign in, search, reveal, copy, read aloud, close, sign out: keyboard only', async () => {
    const context = await newContext(browser, { clipboard: true });
    const page = await newPage(context);
    const kb = page.keyboard;
    await page.goto(BASE_URL);
    await page.locator('#signin-form').waitFor();

    // Sign in: focus starts in the user name; Enter submits.
    assert.equal((await focused(page)).id, 'signin-username');
    await kb.type(USERS.helpdesk.username);
    await kb.press('Tab');
    assert.equal((await focused(page)).id, 'signin-password');
    await kb.type(USERS.helpdesk.password);
    await kb.press('Enter');
    await page.locator('#account').waitFor();

    // Search: focus is in the search box. A badly typed Key ID, then the ticket, Enter.
    assert.equal((await focused(page)).id, 'lookup-query');
    await kb.type(' {063ea4e1- ');
    await kb.press('Tab');
    assert.equal((await focused(page)).id, 'lookup-ticket');
    await kb.type(TICKET);
    await kb.press('Enter');
    await page.locator('#results-body tr').nth(1).waitFor();

    // Two matches: focus on the results heading; the next Tab is the newest key's Reveal.
    assert.equal((await focused(page)).id, 'results-title');
    await kb.press('Tab');
    const reveal = await focused(page);
    assert.equal(reveal.keyId, KEYS.K2.keyId);
    assert.match(reveal.text, /newest for this volume/);
    await kb.press('Enter');

    // The dialog: reason by type-ahead, Tab through the fields, Enter submits.
    await page.locator('#reveal-dialog[open]').waitFor();
    assert.equal((await focused(page)).id, 'reveal-reason');
    await kb.type('Lost PIN');
    assert.equal(await page.locator('#reveal-reason').inputValue(), 'lost_pin');
    await kb.press('Tab');
    assert.equal((await focused(page)).id, 'reveal-reason-text');
    await kb.type('User forgot the PIN after a holiday');
    await kb.press('Tab');
    assert.equal((await focused(page)).id, 'reveal-ticket');
    assert.equal(await page.locator('#reveal-ticket').inputValue(), TICKET);
    await kb.press('Tab');
    assert.equal((await focused(page)).id, 'reveal-end-user');
    await kb.type('jmueller');
    await kb.press('Enter');

    // The password: focus on Copy; Enter copies.
    await page.locator('#reveal-password .password-group').first().waitFor();
    assert.equal((await focused(page)).id, 'reveal-copy');
    await kb.press('Enter');
    await page.locator('#reveal-copy-status', { hasText: 'Copied' }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), KEYS.K2.password);

    // Read aloud: Tab, Enter opens it; Enter again closes it.
    await kb.press('Tab');
    assert.equal((await focused(page)).id, 'reveal-spell-toggle');
    await kb.press('Enter');
    await page.locator('#reveal-spell').waitFor();
    assert.equal(await page.locator('#reveal-spell > li').count(), 8);
    await kb.press('Enter');
    await page.locator('#reveal-spell').waitFor({ state: 'hidden' });

    const record = await waitForAudit((r) => r.event === 'key.reveal' && r.outcome === 'success' &&
      r.reason === 'lost_pin' && r.end_user === 'jmueller');
    assert.ok(record, 'the reveal is audited with what was typed');
    assert.equal(record.reason_text, 'User forgot the PIN after a holiday');
    assert.equal(record.ticket, TICKET);

    // Escape closes and wipes; focus returns to the Reveal button.
    await kb.press('Escape');
    await page.locator('#reveal-dialog').waitFor({ state: 'hidden' });
    assert.equal((await focused(page)).keyId, KEYS.K2.keyId);
    assert.equal(await page.locator('#reveal-password').textContent(), '');

    // A computer search from the keyboard: back to the search box (Shift+Tab), replace, Enter.
    await tabTo(page, 'lookup-query', 'Shift+Tab');
    await kb.press('Control+A');
    await kb.type('WS-0007');
    await kb.press('Enter');
    await page.locator('#results-body tr', { hasText: KEYS.K5.keyId }).waitFor();

    // Sign out: Shift+Tab up to the header's button, Enter.
    await tabTo(page, 'signout-button', 'Shift+Tab');
    await kb.press('Enter');
    await page.locator('#signin-notice', { hasText: 'You have signed out.' }).waitFor();
    assert.equal((await focused(page)).id, 'signin-username');

    // The skip link is the first stop on the page, just before the user name.
    await kb.press('Shift+Tab');
    assert.equal((await focused(page)).text, 'Skip to content');
    await kb.press('Enter');
    assert.equal((await focused(page)).id, 'main');

    await assertQuiet(page, { allow: [httpErrorMessage(401, '/api/v1/session')] });
    await context.close();
  });
});
