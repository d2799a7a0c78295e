import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, newContext, newPage, BASE_URL, signIn, USERS } from '../lib/keydesk.mjs';
test('smoke', async () => {
  const browser = await launchBrowser();
  const context = await newContext(browser);
  const page = await newPage(context);
  const t = Date.now();
  await signIn(page, USERS.helpdesk);
  console.log('signed in', Date.now() - t, await page.locator('#user-display-name').textContent());
  const r = await context.request.get(BASE_URL + '/api/v1/session');
  console.log(r.status(), await r.text());
  console.log(page.kdSeen);
  await browser.close();
});
