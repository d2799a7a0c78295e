// keydesk browser UI: DOM and formatting helpers shared by app.js, audit.js and reports.js.
//
// Data from the server only ever reaches the page through textContent,
// setAttribute and createElement(NS) here: never innerHTML, never a style attribute
// (the CSP has no 'unsafe-inline'; SVG geometry is set with plain attributes).

'use strict';

export const $ = (id) => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`keydesk: element #${id} is missing`);
  return node;
};

export function el(tag, opts = {}, ...children) {
  const node = document.createElement(tag);
  if (opts.className) node.className = opts.className;
  if (opts.text !== undefined) node.textContent = opts.text;
  if (opts.attrs) {
    for (const [k, v] of Object.entries(opts.attrs)) node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c !== null && c !== undefined) node.append(c);
  }
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

// An SVG element; attribute values are numbers or strings, `text` sets textContent.
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else if (k === 'className') node.setAttribute('class', v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c !== null && c !== undefined) node.append(c);
  }
  return node;
}

// Replaces the content of a live region with a fresh node so that screen
// readers announce the message even when it repeats the previous one.
export function say(region, message) {
  region.replaceChildren();
  if (message) region.append(el('p', { text: message }));
}

export function str(v) {
  return typeof v === 'string' ? v : '';
}

export function num(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

export function setBusy(button, busy, busyLabel) {
  if (busy) {
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.textContent = busyLabel;
    button.setAttribute('aria-disabled', 'true');
    button.classList.add('is-busy');
  } else {
    if (button.dataset.label) button.textContent = button.dataset.label;
    delete button.dataset.label;
    button.removeAttribute('aria-disabled');
    button.classList.remove('is-busy');
  }
}

export function isBusy(button) {
  return button.classList.contains('is-busy');
}

export function setInvalid(input, invalid) {
  if (invalid) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

// --- dates and numbers --------------------------------------------------------

export function parseDate(s) {
  if (typeof s !== 'string' || !s) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}

const utcFormat = new Intl.DateTimeFormat('en-GB', {
  year: 'numeric', month: 'short', day: 'numeric',
  hour: '2-digit', minute: '2-digit', second: '2-digit',
  hourCycle: 'h23', timeZone: 'UTC',
});
const localFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: 'numeric',
  hour: '2-digit', minute: '2-digit', timeZoneName: 'short',
});
const dayFormat = new Intl.DateTimeFormat('en-GB', {
  weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC',
});

// "26 Nov 2026, 10:02:11 UTC" (the audit log's clock; the filters are UTC too).
export function formatUtc(date) {
  return `${utcFormat.format(date)} UTC`;
}

// A <time> element for a server timestamp, in UTC with the local time as a tooltip;
// the raw text when it does not parse.
export function timeNode(value, className = 'timestamp') {
  const date = parseDate(value);
  if (!date) return el('span', { className, text: str(value) || '—' });
  const node = el('time', { className, text: formatUtc(date), attrs: { datetime: date.toISOString() } });
  node.title = localFormat.format(date);
  return node;
}

// "2026-11-25" → "Wed, 25 Nov 2026"; anything else unchanged.
export function formatDay(day) {
  const d = /^\d{4}-\d{2}-\d{2}$/.test(day) ? new Date(`${day}T00:00:00Z`) : null;
  return d && !Number.isNaN(d.getTime()) ? dayFormat.format(d) : day;
}

// YYYY-MM-DD of a Date, in UTC.
export function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

const integerFormat = new Intl.NumberFormat('en-GB');
export function formatCount(n) {
  return integerFormat.format(num(n));
}

export function plural(n, one, many = `${one}s`) {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

// --- tables -------------------------------------------------------------------

// A results table: columns [{key, label, className?, render?(row) → Node|string}];
// each cell carries data-label (the narrow layout shows it as the row's label).
export function dataTable({ caption, columns, rows, className = '' }) {
  const table = el('table', { className: `results-table ${className}`.trim() });
  table.append(el('caption', { className: 'table-caption', text: caption }));
  const headRow = el('tr');
  for (const c of columns) {
    headRow.append(el('th', { text: c.label, className: c.numeric ? 'numeric' : '', attrs: { scope: 'col' } }));
  }
  table.append(el('thead', {}, headRow));
  const body = el('tbody');
  for (const row of rows) {
    const tr = el('tr');
    for (const c of columns) {
      const value = c.render ? c.render(row) : row[c.key];
      const td = el('td', {
        className: [c.className || '', c.numeric ? 'numeric' : ''].join(' ').trim(),
        attrs: { 'data-label': c.label },
      });
      if (value instanceof Node) td.append(value);
      else td.textContent = value === undefined || value === null || value === '' ? '—' : String(value);
      tr.append(td);
    }
    body.append(tr);
  }
  table.append(body);
  return el('div', { className: 'table-wrap' }, table);
}

// A link that downloads what the server sends as an attachment (GET with the cookie).
export function downloadLink(text, href, label) {
  const a = el('a', { className: 'button button--small download-link', text, attrs: { href, download: '' } });
  if (label) a.setAttribute('aria-label', label);
  return a;
}
