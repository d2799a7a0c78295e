// Sign-in errors, and what each role sees: a wrong password, an account without a keydesk
// role, an auditor who cannot look up or reveal, and the navigation each role gets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, KEYS, USERS, apiIdle, assertQuiet, closeSharedBrowser, focused, httpErrorMessage, newContext,
  newPage, screenshot, sharedBrowser, signIn, waitForAudit,
} from '../lib/keydesk.mjs';


after(closeSharedBrowser);

describe('sign-in and roles', () => {
  let browser;
  before(async () => {
    browser = await sharedBrowser();
  });

  test('a wrong password gets a generic error, then the right one works', async () => {
    const context = await newContext(browser);
    const page = await newPage(context);
    await page.goto(BASE_URL);
    const username = page.getByLabel('User name');
    const password = page.getByLabel('Password', { exact: true });
    const submit = page.getByRole('button', { name: 'Sign in' });
    const error = page.locator('#signin-error');

    // Nothing typed: said before anything is sent.
    await submit.click();
    await error.getByText('Enter your user name.').waitFor();
    assert.equal(await username.getAttribute('aria-invalid'), 'true');

    await username.fill(USERS.security.username);
    await password.fill('Wrong-Pass-1!');
    await submit.click();
    await error.getByText('Sign-in failed: check your user name and password.').waitFor();
    assert.equal(await error.getAttribute('role'), 'alert');
    assert.equal(await password.inputValue(), '', 'the password field is cleared');
    assert.equal(await password.getAttribute('aria-invalid'), 'true');
    assert.equal((await focused(page)).id, 'signin-password', 'focus back in the password field');
    assert.equal(await username.inputValue(), USERS.security.username, 'the user name is kept');
    await screenshot(page, 'signin-error');
    assert.ok(await waitForAudit((r) => r.event === 'session.login_failed' && r.actor === USERS.security.username));

    // An unknown account gets exactly the same words.
    await username.fill('no-such-user');
    await password.fill('Whatever-1!');
    await password.press('Enter');
    await page.waitForFunction(() => document.querySelector('#signin-submit').getAttribute('aria-disabled') === null &&
      document.querySelector('#signin-password').value === '');
    assert.equal(await error.textContent(), 'Sign-in failed: check your user name and password.');

    // DOMAIN\user form, right password: in.
    await username.fill(`CORP\\${USERS.security.username}`);
    await password.fill(USERS.security.password);
    await password.press('Enter');
    await page.locator('#user-display-name', { hasText: USERS.security.displayName }).waitFor();
    assert.equal(await error.isHidden(), true);
    assert.equal(await page.locator('#audit-title').isVisible(), true, 'security staff land on the audit log');
    assert.deepEqual(await page.getByRole('navigation').getByRole('link').allTextContents(), ['Audit log', 'Reports']);
    assert.equal(await page.locator('#lookup-panel').isVisible(), false);

    await apiIdle(page);
    await assertQuiet(page, { allow: [httpErrorMessage(401, '/api/v1/session')] });
    await context.close();
  });

  test('an account without a keydesk role is told so', async () => {
    const context = await newContext(browser);
    const page = await newPage(context);
    await page.goto(BASE_URL);
    await page.getByLabel('User name').fill('plainuser');
    await page.getByLabel('Password', { exact: true }).fill('Plain1-Pass!');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#signin-error', { hasText: 'Your account has no keydesk role.' }).waitFor();
    assert.equal(await page.locator('#account').isHidden(), true);
    await assertQuiet(page, {
      allow: [httpErrorMessage(401, '/api/v1/session'), httpErrorMessage(403, '/api/v1/session')],
    });
    await context.close();
  });

  test('an auditor cannot look up or reveal', async () => {
    const context = await newContext(browser);
    const page = await newPage(context);
    await signIn(page, USERS.auditor);

    // Lands on the audit page; the navigation shows only the auditor's pages.
    await page.locator('#audit-title').waitFor();
    assert.equal(new URL(page.url()).hash, '#audit');
    assert.equal(await page.title(), 'Audit log – keydesk');
    assert.equal((await focused(page)).id, 'audit-title');
    assert.deepEqual(await page.getByRole('navigation').getByRole('link').allTextContents(), ['Audit log']);
    assert.equal(await page.locator('#user-roles').textContent(), 'Auditor');
    assert.equal(await page.getByRole('button', { name: 'Find' }).count() +
      await page.getByRole('button', { name: /^Reveal/ }).count(), 0, 'no search, no reveal buttons');
    await screenshot(page, 'auditor');

    // Going to the recovery-key page by its address: a clear notice, no search box.
    await page.goto(`${BASE_URL}/#keys`);
    await page.locator('#role-notice').waitFor();
    assert.equal(await page.locator('#role-notice strong').textContent(), 'Your role cannot look up or reveal recovery keys.');
    assert.match(await page.locator('#role-notice-text').textContent(), /needs the Helpdesk or Admin role; you have: Auditor\./);
    assert.equal(await page.locator('#lookup-panel').isVisible(), false);
    await screenshot(page, 'auditor-keys');

    // The server refuses too, whatever the page shows (and records the attempt).
    const answers = await page.evaluate(async (keyId) => {
      const session = await (await fetch('/api/v1/session')).json();
      const post = (path, body) => fetch(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf_token },
        body: JSON.stringify(body),
      }).then(async (r) => [r.status, (await r.json()).error]);
      return {
        lookup: await post('/api/v1/lookups', { key_id: keyId.slice(0, 8) }),
        reveal: await post('/api/v1/reveals', { key_id: keyId, reason: 'tpm_reset', ticket: 'INC0000001' }),
      };
    }, KEYS.K3.keyId);
    assert.deepEqual(answers, { lookup: [403, 'forbidden'], reveal: [403, 'forbidden'] });
    assert.ok(await waitForAudit((r) => r.event === 'access.denied' && r.actor === USERS.auditor.username &&
      r.path === '/api/v1/reveals'));

    await assertQuiet(page, {
      allow: [httpErrorMessage(401, '/api/v1/session'), httpErrorMessage(403, '/api/v1/lookups'),
        httpErrorMessage(403, '/api/v1/reveals')],
    });
    await context.close();
  });

  test('an admin sees every page; the next user gets their own', async () => {
    const context = await newContext(browser);
    const page = await newPage(context);
    await signIn(page, USERS.admin);
    assert.deepEqual(await page.getByRole('navigation').getByRole('link').allTextContents(),
      ['Recovery keys', 'Audit log', 'Reports']);
    assert.equal((await focused(page)).id, 'lookup-query');
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.locator('#audit-title').waitFor();
    assert.equal(await page.getByRole('link', { name: 'Audit log' }).getAttribute('aria-current'), 'page');
    await page.goBack();
    await page.locator('#lookup-panel').waitFor();
    assert.equal((await focused(page)).id, 'lookup-query');

    // Signed out on the audit page; the next person (helpdesk) lands on their own page.
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.locator('#audit-title').waitFor();
    await apiIdle(page);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('User name').fill(USERS.helpdesk.username);
    await page.getByLabel('Password', { exact: true }).fill(USERS.helpdesk.password);
    await page.keyboard.press('Enter');
    await page.locator('#lookup-panel').waitFor();
    assert.equal(new URL(page.url()).hash, '#keys');
    assert.equal((await focused(page)).id, 'lookup-query');
    await assertQuiet(page, { allow: [httpErrorMessage(401, '/api/v1/session')] });
    await context.close();
  });
});
