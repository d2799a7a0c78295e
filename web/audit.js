// keydesk browser UI: the Audit log page (#audit) – integrity banner, filters, the records
// newest first with cursor paging, one record in full, and (security, admin) the exports.
//
// Same rules as app.js: server data reaches the page through textContent and
// setAttribute only; no style attributes.

'use strict';

import {
  $, el, formatCount, formatUtc, isBusy, num, parseDate, plural, say, setBusy, setInvalid, str,
  timeNode,
} from './dom.js';

// The events keydesk writes, for the Event filter: the one list of them in the UI.
export const AUDIT_EVENTS = [
  ['session.login', 'Signed in'],
  ['session.login_failed', 'Sign-in failed'],
  ['session.logout', 'Signed out'],
  ['key.lookup', 'Key looked up'],
  ['key.reveal', 'Recovery password revealed'],
  ['access.denied', 'Access denied'],
  ['audit.query', 'Audit log searched or read'],
  ['audit.verify', 'Audit log verified'],
  ['audit.export', 'Audit log exported'],
  ['report.view', 'Report viewed'],
  ['audit.checkpoint', 'Checkpoint written'],
  ['audit.rotate', 'Log file rotated'],
  ['service.start', 'keydesk started'],
  ['service.stop', 'keydesk stopped'],
];

const OUTCOMES = [
  ['success', 'Success'],
  ['denied', 'Denied'],
  ['not_found', 'Not found'],
  ['invalid', 'Invalid'],
  ['error', 'Error'],
];

// Query parameters of GET /api/v1/audit/records, export and bundle, in form order.
const FILTERS = ['from', 'to', 'actor', 'computer', 'key_id', 'event', 'outcome', 'reason', 'ticket'];
const PAGE_SIZE = 50;
const EXPORT_ROLES = ['security', 'admin'];
const RUNNING_RECHECK_MS = 3000;

const EVENT_LABELS = Object.fromEntries(AUDIT_EVENTS);

export function createAuditPage(app) {
  const ui = {
    page: $('page-audit'),
    integrity: $('integrity'),
    integrityTitle: $('integrity-title'),
    integrityDetail: $('integrity-detail'),
    integrityCheckpoint: $('integrity-checkpoint'),
    integrityError: $('integrity-error'),
    verify: $('integrity-verify'),

    form: $('audit-form'),
    fields: Object.fromEntries(FILTERS.map((name) => [name, $(`audit-${name.replace('_', '-')}`)])),
    submit: $('audit-submit'),
    clear: $('audit-clear'),
    filterError: $('audit-filter-error'),

    resultsTitle: $('audit-results-title'),
    exports: $('audit-exports'),
    exportsHint: $('audit-exports-hint'),
    exportCsv: $('audit-export-csv'),
    exportJson: $('audit-export-json'),
    exportBundle: $('audit-export-bundle'),
    status: $('audit-status'),
    error: $('audit-error'),
    empty: $('audit-empty'),
    tableWrap: $('audit-table-wrap'),
    body: $('audit-body'),
    more: $('audit-more'),

    dialog: $('audit-dialog'),
    dialogTitle: $('audit-dialog-title'),
    dialogError: $('audit-dialog-error'),
    dialogStatus: $('audit-dialog-status'),
    dialogContent: $('audit-dialog-content'),
    dialogRecord: $('audit-dialog-record'),
    dialogPlace: $('audit-dialog-place'),
    dialogClose: $('audit-dialog-close'),
  };

  const st = {
    loaded: false, // the first page was asked for since sign-in
    filters: new URLSearchParams(), // the filters of the list on screen
    cursor: null,
    count: 0,
    searchSeq: 0, // increments per search; stale answers are dropped
    busy: false,
    integritySeq: 0,
    recheckTimer: 0,
    detailSeq: 0,
    opener: null,
    signing: true, // checkpoints are signed (integrity answer); else no evidence bundle
  };

  // --- the selects: built from the lists above -------------------------------

  ui.fields.event.append(el('option', { text: 'Any event', attrs: { value: '' } }));
  for (const [value, label] of AUDIT_EVENTS) {
    ui.fields.event.append(el('option', { text: `${value} – ${label}`, attrs: { value } }));
  }
  ui.fields.outcome.append(el('option', { text: 'Any outcome', attrs: { value: '' } }));
  for (const [value, label] of OUTCOMES) ui.fields.outcome.append(el('option', { text: label, attrs: { value } }));

  const canExport = () => app.roles().some((r) => EXPORT_ROLES.includes(r));

  // --- integrity ----------------------------------------------------------------

  function renderIntegrity(data) {
    const v = data && data.verification && typeof data.verification === 'object' ? data.verification : null;
    const running = Boolean(data && data.running);
    let kind;
    if (!v) {
      kind = 'unknown';
      ui.integrityTitle.textContent = running ? 'Integrity: first verification running…' : 'Integrity not yet verified';
      ui.integrityDetail.textContent = 'keydesk verifies the log when it starts and every hour; “Verify now” runs it now.';
    } else if (v.ok === true) {
      kind = 'ok';
      ui.integrityTitle.textContent = 'Integrity OK: the audit log is intact';
      const when = parseDate(v.time);
      const checks = [v.macs_checked === false ? null : 'record chain', v.signatures_checked ? 'checkpoint signatures' : null]
        .filter(Boolean).join(' and ');
      ui.integrityDetail.textContent =
        `Verified ${when ? formatUtc(when) : str(v.time)}: ${plural(num(v.records), 'record')} in ` +
        `${plural(num(v.files), 'file')}, ${plural(num(v.checkpoints), 'checkpoint')}` +
        (checks ? `; ${checks} checked.` : '.') +
        (running ? ' A new verification is running…' : '');
    } else {
      kind = 'damaged';
      const damage = str(v.damage) || 'unknown';
      ui.integrityTitle.textContent = `Integrity problem: the audit log is damaged (${damage})`;
      const where = [
        str(v.file) ? `file ${v.file}` : '',
        num(v.seq) ? `record ${formatCount(v.seq)}` : '',
      ].filter(Boolean).join(', ');
      const when = parseDate(v.time);
      ui.integrityDetail.textContent =
        (where ? `At ${where}: ` : '') + (str(v.problem) || 'no details given') + '. ' +
        `Found by the verification of ${when ? formatUtc(when) : str(v.time)}. ` +
        'Keep the log files as they are and tell IT security.';
    }
    ui.integrity.className = `integrity integrity--${kind}`;
    ui.integrity.dataset.state = kind;

    const cp = data && data.checkpoint && typeof data.checkpoint === 'object' ? data.checkpoint : null;
    st.signing = !(cp && cp.signing === false);
    updateExports();
    if (cp && cp.signing === false) {
      ui.integrityCheckpoint.textContent = 'Checkpoints are not signed: the log cannot be checked without the server’s secret key.';
    } else if (cp && num(cp.seq)) {
      const when = parseDate(cp.time);
      ui.integrityCheckpoint.textContent =
        `Newest checkpoint: record ${formatCount(cp.seq)}, covering records up to ${formatCount(num(cp.covers_seq))}` +
        `, ${when ? formatUtc(when) : str(cp.time)}` + (str(cp.key_id) ? `, signing key ${cp.key_id}.` : '.');
    } else if (cp) {
      ui.integrityCheckpoint.textContent = 'No signed checkpoint yet.';
    } else {
      ui.integrityCheckpoint.textContent = '';
    }

    window.clearTimeout(st.recheckTimer);
    st.recheckTimer = 0;
    if (running && !ui.page.hidden) {
      st.recheckTimer = window.setTimeout(() => loadIntegrity(), RUNNING_RECHECK_MS);
    }
  }

  async function loadIntegrity() {
    const seq = ++st.integritySeq;
    try {
      const data = await app.api('GET', '/audit/integrity');
      if (seq !== st.integritySeq) return;
      say(ui.integrityError, '');
      renderIntegrity(data);
    } catch (err) {
      if (seq !== st.integritySeq || app.handleSessionErrors(err)) return;
      say(ui.integrityError, `The integrity state could not be read. ${app.commonErrorText(err)}`);
    }
  }

  async function verifyNow() {
    if (isBusy(ui.verify)) return;
    const seq = ++st.integritySeq;
    setBusy(ui.verify, true, 'Verifying…');
    ui.integrity.setAttribute('aria-busy', 'true');
    say(ui.integrityError, '');
    try {
      let data = await app.api('POST', '/audit/verify', {});
      if (!data || !('verification' in data)) data = await app.api('GET', '/audit/integrity');
      if (seq !== st.integritySeq) return;
      renderIntegrity(data);
    } catch (err) {
      if (seq !== st.integritySeq || app.handleSessionErrors(err)) return;
      say(ui.integrityError, `Verification could not run. ${app.commonErrorText(err)}`);
    } finally {
      if (seq === st.integritySeq) {
        setBusy(ui.verify, false);
        ui.integrity.removeAttribute('aria-busy');
      }
    }
  }

  // --- filters and records ----------------------------------------------------

  function readFilters() {
    const params = new URLSearchParams();
    for (const name of FILTERS) {
      let value = ui.fields[name].value.trim();
      if (name === 'key_id') value = value.replace(/[\s{}]/g, '');
      if (value) params.set(name, value);
    }
    return params;
  }

  function clearInvalid() {
    for (const field of Object.values(ui.fields)) setInvalid(field, false);
  }

  function updateExports() {
    const show = canExport();
    ui.exports.hidden = !show;
    ui.exportsHint.hidden = !show;
    if (!show) return;
    const query = st.filters.toString();
    const and = query ? `&${query}` : '';
    ui.exportCsv.href = `/api/v1/audit/export?format=csv${and}`;
    ui.exportJson.href = `/api/v1/audit/export?format=json${and}`;
    ui.exportBundle.href = `/api/v1/audit/bundle${query ? `?${query}` : ''}`;
    // A bundle is only evidence with signed checkpoints; the server refuses it without.
    ui.exportBundle.hidden = !st.signing;
  }

  function describeFilters(params) {
    const parts = [];
    for (const [name, value] of params) parts.push(`${name.replace('_', ' ')} ${value}`);
    return parts.length ? ` matching ${parts.join(', ')}` : '';
  }

  // Runs a search: the first page of `params`, or (append) the next page of the list on screen.
  async function search({ params = null, append = false, focusResults = false } = {}) {
    const seq = ++st.searchSeq;
    const query = new URLSearchParams(append ? st.filters : params || new URLSearchParams());
    query.set('limit', String(PAGE_SIZE));
    if (append && st.cursor) query.set('cursor', st.cursor);
    const button = append ? ui.more : ui.submit;
    st.busy = true;
    st.loaded = true;
    setBusy(button, true, append ? 'Loading…' : 'Searching…');
    say(ui.error, '');
    if (!append) say(ui.filterError, '');
    try {
      const data = await app.api('GET', `/audit/records?${query}`);
      if (seq !== st.searchSeq) return;
      const records = data && Array.isArray(data.records) ? data.records : null;
      if (!records) throw new app.ApiError(500, 'bad_response', null);
      if (!append) {
        st.filters = new URLSearchParams(params || new URLSearchParams());
        st.count = 0;
        ui.body.replaceChildren();
        clearInvalid();
        updateExports();
      }
      const first = renderRows(records);
      st.cursor = data.next_cursor === null || data.next_cursor === undefined ? null : String(data.next_cursor);
      ui.more.hidden = !st.cursor;
      ui.tableWrap.hidden = st.count === 0;
      ui.empty.hidden = st.count !== 0;
      const matching = describeFilters(st.filters);
      ui.status.textContent = st.count === 0
        ? `No records${matching}.`
        : st.cursor
          ? `Showing the newest ${plural(st.count, 'record')}${matching}. More are available.`
          : `Showing ${st.count === 1 ? 'the only record' : `all ${plural(st.count, 'record')}`}${matching}, newest first.`;
      if (append && first) first.focus();
      else if (append) ui.resultsTitle.focus();
      else if (focusResults) ui.resultsTitle.focus();
    } catch (err) {
      if (seq !== st.searchSeq || app.handleSessionErrors(err)) return;
      if (err.code === 'invalid_filter') {
        const detail = err.detail || 'One of the filters is not valid.';
        say(ui.filterError, `The server did not accept the filters: ${detail}`);
        // The detail starts with the parameter's name ("key_id: hex digits…"); else the first named.
        const named = FILTERS.map((name) => [name, detail.search(new RegExp(`\\b${name}\\b`))])
          .filter(([, at]) => at >= 0).sort((a, b) => a[1] - b[1]).map(([name]) => name)[0];
        clearInvalid();
        if (named) {
          setInvalid(ui.fields[named], true);
          ui.fields[named].focus();
        } else {
          ui.submit.focus();
        }
      } else {
        say(ui.error, `The audit log could not be read. ${app.commonErrorText(err)}`);
        if (append || focusResults) button.focus();
      }
    } finally {
      if (seq === st.searchSeq) {
        st.busy = false;
        setBusy(button, false);
      }
    }
  }

  // A lookup names what was typed in `query` (when the server sends the whole record).
  function recordComputer(r) {
    if (str(r.computer)) return r.computer;
    const q = r.query && typeof r.query === 'object' ? r.query : {};
    return str(q.computer);
  }

  function recordKeyId(r) {
    if (str(r.key_id)) return r.key_id;
    const q = r.query && typeof r.query === 'object' ? r.query : {};
    return str(q.key_id);
  }

  function outcomeBadge(outcome) {
    const kind = outcome === 'success' ? 'ok' : outcome === 'denied' || outcome === 'error' ? 'bad' : 'neutral';
    return el('span', { className: `badge badge--outcome badge--${kind}`, text: outcome || '—' });
  }

  function cell(label, content, className = '') {
    const td = el('td', { className, attrs: { 'data-label': label } });
    if (content instanceof Node) td.append(content);
    else td.textContent = content || '—';
    return td;
  }

  // Appends the records; returns the first new row's "open" button (for focus).
  function renderRows(records) {
    let firstButton = null;
    for (const r of records) {
      if (!r || typeof r !== 'object') continue;
      const seq = num(r.seq);
      const event = str(r.event);
      const row = el('tr', { className: 'audit-row' });
      row.dataset.seq = String(seq);
      const button = el('button', {
        className: 'link-button mono',
        text: `#${seq}`,
        attrs: { type: 'button', 'aria-label': `Record ${seq}: ${event}${r.actor ? ` by ${r.actor}` : ''}, all details` },
      });
      button.dataset.seq = String(seq);
      firstButton ??= button;
      const eventNode = el('span', { className: 'mono event', text: event || '—' });
      if (EVENT_LABELS[event]) eventNode.title = EVENT_LABELS[event];
      row.append(
        cell('Record', button),
        cell('Time', timeNode(r.time)),
        cell('Event', eventNode),
        cell('Staff', str(r.actor)),
        cell('Outcome', outcomeBadge(str(r.outcome))),
        cell('Computer', recordComputer(r), 'computer'),
        cell('Key ID', recordKeyId(r), 'mono key-id'),
        cell('Reason', str(r.reason)),
        cell('Ticket', str(r.ticket)),
      );
      ui.body.append(row);
      st.count++;
    }
    return firstButton;
  }

  // A click anywhere on a row opens it; its first cell's button is the keyboard way.
  function onTableClick(event) {
    const row = event.target.closest('tr.audit-row');
    if (!row || !ui.body.contains(row)) return;
    // Leave selected text (someone copying a Key ID) alone.
    if (event.target.closest('button') === null && String(window.getSelection && window.getSelection()).trim()) return;
    const button = row.querySelector('button');
    openDetail(Number(row.dataset.seq), button);
  }

  // --- one record ---------------------------------------------------------------

  function fieldValue(value) {
    if (value !== null && typeof value === 'object') {
      return el('pre', { className: 'json', text: JSON.stringify(value, null, 2) });
    }
    if (value === null) return el('span', { className: 'muted', text: 'null' });
    return el('span', { text: String(value) });
  }

  function addField(list, name, value, { mono = false } = {}) {
    const dd = el('dd', {}, value instanceof Node ? value : fieldValue(value));
    if (mono) dd.classList.add('mono');
    list.append(el('div', { className: 'fields__row' }, el('dt', { text: name }), dd));
  }

  function renderDetail(seq, data) {
    const record = data && data.record && typeof data.record === 'object' ? data.record : null;
    if (!record) throw new app.ApiError(500, 'bad_response', null);
    ui.dialogRecord.replaceChildren();
    for (const [name, value] of Object.entries(record)) {
      addField(ui.dialogRecord, name, value, { mono: ['key_id', 'seq', 'mac', 'prev', 'request_id'].includes(name) });
    }
    ui.dialogPlace.replaceChildren();
    const pos = data.position && typeof data.position === 'object' ? data.position : {};
    addField(ui.dialogPlace, 'File', str(pos.file) || '—', { mono: true });
    addField(ui.dialogPlace, 'Line', pos.line === undefined ? '—' : String(pos.line));
    const cp = data.checkpoint && typeof data.checkpoint === 'object' ? data.checkpoint : null;
    let checkpoint;
    if (!cp) {
      checkpoint = 'Not yet covered: no checkpoint has been written since this record.';
    } else {
      const when = parseDate(cp.time);
      checkpoint = `Record ${formatCount(num(cp.seq))}` + (when ? `, ${formatUtc(when)}` : '') +
        (cp.verified === true
          ? '; signature and hash verified by the last verification.'
          : '; not verified yet (the next verification checks it).');
    }
    addField(ui.dialogPlace, 'Covering checkpoint', checkpoint);
    addField(ui.dialogPlace, 'Line SHA-256', str(data.line_sha256) || '—', { mono: true });
    ui.dialogTitle.textContent = `Audit record ${seq}` + (record.event ? `: ${record.event}` : '');
    ui.dialogContent.hidden = false;
    ui.dialogStatus.textContent = '';
  }

  async function openDetail(seq, opener) {
    if (!Number.isFinite(seq)) return;
    const mine = ++st.detailSeq;
    st.opener = opener || null;
    ui.dialogTitle.textContent = `Audit record ${seq}`;
    ui.dialogContent.hidden = true;
    ui.dialogRecord.replaceChildren();
    ui.dialogPlace.replaceChildren();
    say(ui.dialogError, '');
    ui.dialogStatus.textContent = `Loading record ${seq}…`;
    if (!ui.dialog.open) ui.dialog.showModal();
    ui.dialogClose.focus();
    try {
      const data = await app.api('GET', `/audit/records/${encodeURIComponent(String(seq))}`);
      if (mine !== st.detailSeq || !ui.dialog.open) return;
      renderDetail(seq, data);
    } catch (err) {
      if (mine !== st.detailSeq || app.handleSessionErrors(err)) return;
      ui.dialogStatus.textContent = '';
      say(ui.dialogError, err.code === 'not_found'
        ? `There is no record ${seq}.`
        : `The record could not be read. ${app.commonErrorText(err)}`);
    }
  }

  function closeDetail() {
    if (ui.dialog.open) ui.dialog.close();
  }

  function onDetailClosed() {
    st.detailSeq++;
    ui.dialogRecord.replaceChildren();
    ui.dialogPlace.replaceChildren();
    const opener = st.opener;
    st.opener = null;
    if (opener && opener.isConnected && !ui.page.hidden) opener.focus();
  }

  // --- wiring ---------------------------------------------------------------------

  ui.verify.addEventListener('click', verifyNow);
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (st.busy && isBusy(ui.submit)) return;
    search({ params: readFilters(), focusResults: true });
  });
  ui.clear.addEventListener('click', () => {
    ui.form.reset();
    clearInvalid();
    say(ui.filterError, '');
    ui.fields.from.focus();
  });
  for (const field of Object.values(ui.fields)) {
    field.addEventListener('input', () => {
      if (field.getAttribute('aria-invalid') === 'true') {
        setInvalid(field, false);
        say(ui.filterError, '');
      }
    });
  }
  ui.more.addEventListener('click', () => {
    if (st.busy || !st.cursor) return;
    search({ append: true });
  });
  ui.body.addEventListener('click', onTableClick);
  for (const link of [ui.exportCsv, ui.exportJson, ui.exportBundle]) {
    // The download is a request with the session cookie: it restarts the idle timer.
    link.addEventListener('click', () => app.noteActivity());
  }
  ui.dialogClose.addEventListener('click', closeDetail);
  ui.dialog.addEventListener('close', onDetailClosed);

  return {
    // The page came on screen: fresh integrity state; the newest records the first time.
    show() {
      updateExports();
      loadIntegrity();
      if (!st.loaded) search({ params: readFilters() });
    },
    hide() {
      window.clearTimeout(st.recheckTimer);
      st.recheckTimer = 0;
      closeDetail();
    },
    // Signed out or another user: nothing of the previous one stays.
    reset() {
      st.searchSeq++;
      st.integritySeq++;
      st.loaded = false;
      st.busy = false;
      st.filters = new URLSearchParams();
      st.cursor = null;
      st.count = 0;
      st.signing = true;
      window.clearTimeout(st.recheckTimer);
      st.recheckTimer = 0;
      closeDetail();
      ui.form.reset();
      clearInvalid();
      setBusy(ui.submit, false);
      setBusy(ui.more, false);
      setBusy(ui.verify, false);
      ui.integrity.removeAttribute('aria-busy');
      renderIntegrity(null);
      ui.integrityDetail.textContent = '';
      for (const region of [ui.integrityError, ui.filterError, ui.error]) say(region, '');
      ui.body.replaceChildren();
      ui.status.textContent = '';
      ui.tableWrap.hidden = true;
      ui.empty.hidden = true;
      ui.more.hidden = true;
      ui.exports.hidden = true;
      ui.exportsHint.hidden = true;
    },
  };
}
