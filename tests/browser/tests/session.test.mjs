// The session timeout. The page's clock is faked (Playwright's clock API) so that 15 minutes
// pass in a second: the warning shows 2 minutes before the idle timeout, "Stay signed in"
// restarts the server's timer, and at the end the page signs out by itself. The server's own
// expiry is exercised by dropping the session cookie: the next request gets 401, exactly what
// an expired session gets, and the page must handle that too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  USERS, assertQuiet, closeSharedBrowser, focused, httpErrorMessage, newContext, newPage,
  screenshot, sharedBrowser, signIn,
} from '../lib/keydesk.mjs';


after(closeSharedBrowser);

describe('session timeout', () => {
  let browser;
  before(async () => {
    browser = await sharedBrowser();
  });

  test('warning before the idle timeout, stay signed in, then signed out', async () => {
    const context = await newContext(browser);
    const page = await newPage(context);
    await page.clock.install({ time: new Date() });
    await signIn(page, USERS.helpdesk);
    const idle = await page.evaluate(() => fetch('/api/v1/session').then((r) => r.json()))
      .then((s) => s.idle_timeout_seconds ?? 900);
    const warning = page.getByRole('alertdialog');
    const query = page.getByLabel('Key ID or computer name');
    await query.fill('063EA4E1');

    // Until 2 minutes before the end: nothing.
    await page.clock.fastForward((idle - 150) * 1000);
    assert.equal(await warning.isVisible(), false);

    await page.clock.fastForward(40_000);
    await warning.waitFor();
    assert.equal(await page.locator('#session-text').textContent(),
      `Your session expires in 2 minutes. keydesk signs you out after ${Math.round(idle / 60)} minutes without activity.`);
    assert.equal((await focused(page)).id, 'session-stay', 'focus on "Stay signed in"');
    await screenshot(page, 'session-warning');

    // Stay signed in: a request restarts the server's idle timer; focus goes back.
    await page.getByRole('button', { name: 'Stay signed in' }).click();
    await warning.waitFor({ state: 'hidden' });
    assert.equal((await focused(page)).id, 'lookup-query');
    assert.equal(await query.inputValue(), '063EA4E1', 'nothing lost');

    // Half a minute before the end; Escape also keeps the session.
    await page.clock.fastForward((idle - 30) * 1000);
    await warning.waitFor();
    assert.match(await page.locator('#session-text').textContent(), /^Your session expires in less than a minute\./);
    await page.keyboard.press('Escape');
    await warning.waitFor({ state: 'hidden' });
    await page.getByRole('button', { name: 'Find' }).click(); // a lookup is activity too
    await page.locator('#results-body tr').first().waitFor();

    // No activity until the end: signed out, with the reason.
    await page.clock.fastForward((idle - 100) * 1000);
    await warning.waitFor();
    await page.clock.fastForward(101_000);
    await page.locator('#signin-notice', { hasText: `You were signed out after ${Math.round(idle / 60)} minutes without activity.` }).waitFor();
    assert.equal(await warning.isVisible(), false);
    assert.equal(await page.locator('#results').isHidden(), true, 'results gone');
    assert.equal(await page.getByLabel('User name').inputValue(), USERS.helpdesk.username, 'user name kept for signing in again');
    assert.equal((await focused(page)).id, 'signin-password');
    // The page also ended the session on the server (it would have expired there anyway).
    await page.waitForFunction(() => fetch('/api/v1/session').then((r) => r.status === 401));

    await assertQuiet(page, { allow: [httpErrorMessage(401, '/api/v1/session')] });
    await context.close();
  });

  test('a session the server has ended sends the page back to sign-in', async () => {
    const context = await newContext(browser);
    const page = await newPage(context);
    await signIn(page, USERS.helpdesk);
    await context.clearCookies(); // as if the server had expired the session
    await page.getByLabel('Key ID or computer name').fill('WS-0007');
    await page.keyboard.press('Enter');
    await page.locator('#signin-notice', { hasText: 'Your session has ended. Sign in again to continue.' }).waitFor();
    assert.equal(await page.locator('#account').isHidden(), true);
    assert.equal(await page.locator('#results-body tr').count(), 0);
    await assertQuiet(page, {
      allow: [httpErrorMessage(401, '/api/v1/session'), httpErrorMessage(401, '/api/v1/lookups')],
    });
    await context.close();
  });
});
