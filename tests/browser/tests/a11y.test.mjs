// Accessibility checks that can be automated: every control has a label, text contrast meets
// WCAG 2.1 AA (4.5:1, 3:1 for large text) and control edges 3:1, and the pages reflow without
// horizontal scrolling at 200 % zoom and in a 320-pixel-wide window.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, KEYS, TICKET, USERS, apiIdle, assertQuiet, closeSharedBrowser, httpErrorMessage, newContext,
  newPage, screenshot, sharedBrowser, signIn,
} from '../lib/keydesk.mjs';

// Runs in the page: contrast problems of visible text (and of form-control borders) in the
// part of the page a user can reach (the open modal dialog, if any).
function contrastProblems() {
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  const blend = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a),
    a: 1,
  });
  const luminance = ({ r, g, b }) => {
    const ch = (v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b);
  };
  const ratio = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  // The background behind an element: its own and its ancestors' colours, blended.
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg && bg.a > 0) {
        layers.push(bg);
        if (bg.a >= 1) break;
      }
    }
    let color = { r: 255, g: 255, b: 255, a: 1 };
    for (const layer of layers.reverse()) color = blend(layer, color);
    return color;
  };
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 1 && r.height > 1 && s.visibility !== 'hidden' && s.display !== 'none' &&
      Number(s.opacity) > 0 && !el.closest('[hidden]');
  };
  const scope = document.querySelector('dialog[open]') || document.body;
  const problems = [];
  const walker = document.createTreeWalker(scope, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || seen.has(el) || !visible(el)) continue;
    if (el.closest('.visually-hidden, noscript, option')) continue;
    seen.add(el);
    const s = getComputedStyle(el);
    const fg = blend(parse(s.color), background(el));
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
    const need = large ? 3 : 4.5;
    const got = ratio(fg, background(el));
    if (got < need) problems.push(`${got.toFixed(2)} < ${need}: "${n.textContent.trim().slice(0, 40)}" (${el.tagName.toLowerCase()}.${el.className})`);
  }
  for (const el of scope.querySelectorAll('input, select, .button')) {
    if (!visible(el)) continue;
    const s = getComputedStyle(el);
    const border = parse(s.borderTopColor);
    const outside = background(el.parentElement);
    const inside = background(el);
    // A control is visible when its border or its own background stands out from what is around it.
    const edge = Math.max(border && parseFloat(s.borderTopWidth) > 0 ? ratio(blend(border, outside), outside) : 1,
      ratio(inside, outside));
    if (edge < 3) problems.push(`${edge.toFixed(2)} < 3: edge of ${el.tagName.toLowerCase()}#${el.id}`);
  }
  return problems;
}

// Runs in the page: controls without an accessible name from a label.
function unlabelled() {
  const out = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden') continue;
    if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')) out.push(el.id || el.name);
  }
  for (const el of document.querySelectorAll('button')) {
    if (!(el.textContent.trim() || el.getAttribute('aria-label'))) out.push(el.id || 'button');
  }
  return out;
}

// Runs in the page: does anything stick out sideways?
function overflow() {
  const width = document.documentElement.clientWidth;
  const out = [];
  if (document.documentElement.scrollWidth > width + 1) out.push(`page is ${document.documentElement.scrollWidth}px wide in ${width}px`);
  // Inside a visually hidden box (1 px, clipped): not on screen.
  const clipped = (el) => {
    for (let e = el; e; e = e.parentElement) {
      if (e.getBoundingClientRect().width <= 1 && getComputedStyle(e).clipPath !== 'none') return true;
    }
    return false;
  };
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > width + 1 && !el.closest('.skip-link, [hidden]') && !clipped(el)) {
      out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} ends at ${Math.round(r.right)}px`);
    }
  }
  // Content cut off or scrolled inside a box (e.g. a table wrapper) is as bad.
  for (const el of document.querySelectorAll('body *')) {
    const s = getComputedStyle(el);
    if (!/auto|scroll|hidden|clip/.test(s.overflowX) || el.matches('input, select, textarea, progress')) continue;
    if (el.getBoundingClientRect().width <= 1 || el.closest('[hidden]') || clipped(el)) continue;
    if (el.scrollWidth > el.clientWidth + 1) out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} scrolls: ${el.scrollWidth}px in ${el.clientWidth}px`);
  }
  return out.slice(0, 10);
}

async function revealK1(page) {
  await page.getByLabel('Key ID or computer name').fill('063EA4E1');
  await page.getByLabel('Ticket (optional)').fill(TICKET);
  await page.keyboard.press('Enter');
  await page.locator('#results-body tr').nth(1).waitFor();
  await page.getByRole('button', { name: new RegExp(`key ID ${KEYS.K1.keyId}`) }).click();
  await page.locator('#reveal-dialog').getByLabel('Reason').selectOption('lost_startup_key');
  await page.getByRole('button', { name: 'Reveal', exact: true }).click();
  await page.locator('#reveal-password .password-group').first().waitFor();
  await page.getByRole('button', { name: 'Read aloud' }).click();
}


after(closeSharedBrowser);

describe('accessibility', () => {
  let browser;
  before(async () => {
    browser = await sharedBrowser();
  });

  test('labels and contrast (WCAG 2.1 AA) on every page', async () => {
    const context = await newContext(browser);
    const page = await newPage(context);
    await page.goto(BASE_URL);
    await page.locator('#signin-form').waitFor();
    assert.deepEqual(await page.evaluate(unlabelled), []);
    assert.deepEqual(await page.evaluate(contrastProblems), [], 'sign-in page');
    await page.getByRole('button', { name: 'Sign in' }).click(); // an error message on screen
    assert.deepEqual(await page.evaluate(contrastProblems), [], 'sign-in error');

    await signIn(page, USERS.admin);
    await page.getByLabel('Key ID or computer name').fill('{063e');
    assert.deepEqual(await page.evaluate(contrastProblems), [], 'search with a problem hint');
    await revealK1(page);
    assert.deepEqual(await page.evaluate(contrastProblems), [], 'reveal dialog, password and read-aloud view');
    await page.keyboard.press('Escape');
    assert.deepEqual(await page.evaluate(contrastProblems), [], 'results with badges and highlight');
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.locator('#audit-title').waitFor();
    await page.locator('#audit-body tr').first().waitFor();
    await apiIdle(page);
    assert.deepEqual(await page.evaluate(unlabelled), []);
    assert.deepEqual(await page.evaluate(contrastProblems), [], 'audit page');
    await page.locator('#audit-body tr button').first().click();
    await page.locator('#audit-dialog-content').waitFor();
    assert.deepEqual(await page.evaluate(contrastProblems), [], 'audit record dialog');
    await page.keyboard.press('Escape');
    await page.getByRole('link', { name: 'Reports' }).click();
    await page.locator('#report-per_day').waitFor();
    await apiIdle(page);
    assert.deepEqual(await page.evaluate(unlabelled), []);
    assert.deepEqual(await page.evaluate(contrastProblems), [], 'reports page');
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.locator('#audit-title').waitFor();
    await apiIdle(page);

    // Control: the checks do catch a problem (styles set through the CSSOM, which CSP allows).
    await page.evaluate(() => {
      const p = document.createElement('p');
      p.id = 'kd-control';
      p.textContent = 'pale grey text';
      p.style.color = '#aaaaaa';
      p.style.width = '2000px';
      document.querySelector('#page-audit .card').append(p);
    });
    const flagged = await page.evaluate(contrastProblems);
    assert.equal(flagged.length, 1, JSON.stringify(flagged));
    assert.match(flagged[0], /^2\.\d\d < 4\.5: "pale grey text"/);
    assert.match((await page.evaluate(overflow)).join('\n'), /p#kd-control/);
    await assertQuiet(page, { allow: [httpErrorMessage(401, '/api/v1/session')] });
    await context.close();
  });

  test('200 % zoom: no horizontal scrolling', async () => {
    // A 1280×860 window at 200 % zoom lays out like a 640×430 CSS-pixel viewport at 2× scale.
    const context = await newContext(browser, { viewport: { width: 640, height: 430 }, deviceScaleFactor: 2 });
    const page = await newPage(context);
    await page.goto(BASE_URL);
    await page.locator('#signin-form').waitFor();
    assert.deepEqual(await page.evaluate(overflow), [], 'sign-in');
    await signIn(page, USERS.helpdesk);
    await page.getByLabel('Key ID or computer name').fill('1F5A63B3');
    await page.keyboard.press('Enter');
    await page.locator('#results-body tr').nth(1).waitFor();
    assert.deepEqual(await page.evaluate(overflow), [], 'results');
    await screenshot(page, 'zoom-200-results', { fullPage: true });
    await page.getByRole('button', { name: new RegExp(`key ID ${KEYS.K4.keyId}`) }).click();
    await page.locator('#reveal-dialog').getByLabel('Reason').selectOption('bios_changed');
    await page.getByLabel('Ticket (required)').fill(TICKET);
    await page.getByRole('button', { name: 'Reveal', exact: true }).click();
    await page.locator('#reveal-password .password-group').first().waitFor();
    assert.deepEqual(await page.evaluate(overflow), [], 'reveal dialog');
    await assertQuiet(page, { allow: [httpErrorMessage(401, '/api/v1/session')] });
    await context.close();
  });

  test('a 320-pixel-wide window: no horizontal scrolling', async () => {
    const context = await newContext(browser, { viewport: { width: 320, height: 640 } });
    const page = await newPage(context);
    await page.goto(BASE_URL);
    await page.locator('#signin-form').waitFor();
    assert.deepEqual(await page.evaluate(overflow), [], 'sign-in');
    await signIn(page, USERS.admin);
    assert.deepEqual(await page.evaluate(overflow), [], 'signed in, header with navigation');
    await page.getByLabel('Key ID or computer name').fill('WS-0007');
    await page.keyboard.press('Enter');
    await page.locator('#results-body tr').nth(1).waitFor();
    assert.deepEqual(await page.evaluate(overflow), [], 'results as cards');
    await screenshot(page, 'narrow-results', { fullPage: true });
    await revealK1(page);
    assert.deepEqual(await page.evaluate(overflow), [], 'reveal dialog');
    await screenshot(page, 'narrow-reveal');
    await page.keyboard.press('Escape');
    // The audit log and the reports reflow too (tables as cards, charts scaled down).
    await page.goto(`${BASE_URL}/#audit`);
    await page.locator('#audit-body tr').first().waitFor();
    await apiIdle(page);
    assert.deepEqual(await page.evaluate(overflow), [], 'audit log');
    await page.goto(`${BASE_URL}/#security`);
    await page.locator('#report-per_day').waitFor();
    await apiIdle(page);
    assert.deepEqual(await page.evaluate(overflow), [], 'reports');
    await assertQuiet(page, { allow: [httpErrorMessage(401, '/api/v1/session')] });
    await context.close();
  });
});
