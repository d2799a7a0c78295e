// keydesk browser UI: the Reports page (#security) – activity per day, per staff member and
// per computer, failed sign-ins, reveals outside business hours, unusual volume, and the
// revealed keys whose volume was not re-keyed since.
//
// Charts are inline SVG built here with createElementNS (no library, nothing loaded from
// elsewhere, no style attributes: geometry is plain SVG attributes, colours come from app.css).
// Each chart has a title and a description for screen readers and its numbers in a table.

'use strict';

import {
  $, dataTable, downloadLink, el, formatCount, formatDay, isBusy, isoDay, num, plural, say,
  setBusy, setInvalid, str, svg, timeNode,
} from './dom.js';

const DEFAULT_DAYS = 30; // today and the 29 days before, as the server's default
const MAX_FILLED_DAYS = 400; // a longer range is drawn with the days the server sent only

const SERIES = {
  lookups: { label: 'Lookups', className: 'series--lookups' },
  reveals: { label: 'Reveals', className: 'series--reveals' },
  count: { label: 'Failed sign-ins', className: 'series--failed' },
};

// The summary's tables, in page order.
const REPORTS = [
  {
    name: 'per_day',
    title: 'Lookups and reveals per day',
    chart: 'days',
    series: ['lookups', 'reveals'],
    empty: 'No lookups or reveals in this period.',
    caption: 'Days with activity (UTC)',
    columns: [
      { key: 'day', label: 'Day', render: (r) => formatDay(str(r.day)) },
      { key: 'lookups', label: 'Lookups', numeric: true },
      { key: 'reveals', label: 'Reveals', numeric: true },
      { key: 'failed_sign_ins', label: 'Failed sign-ins', numeric: true },
    ],
  },
  {
    name: 'per_staff',
    title: 'Per staff member',
    chart: 'bars',
    label: 'actor',
    series: ['lookups', 'reveals'],
    empty: 'No lookups or reveals in this period.',
    caption: 'Lookups and reveals per staff member',
    columns: [
      { key: 'actor', label: 'Staff member' },
      { key: 'lookups', label: 'Lookups', numeric: true },
      { key: 'reveals', label: 'Reveals', numeric: true },
    ],
  },
  {
    name: 'top_computers',
    title: 'Top computers',
    chart: 'bars',
    label: 'computer',
    series: ['lookups', 'reveals'],
    empty: 'No computer was looked up in this period.',
    caption: 'The computers looked up or revealed most (top 20)',
    columns: [
      { key: 'computer', label: 'Computer', className: 'computer' },
      { key: 'lookups', label: 'Lookups', numeric: true },
      { key: 'reveals', label: 'Reveals', numeric: true },
    ],
  },
  {
    name: 'failed_sign_ins',
    title: 'Failed sign-ins',
    chart: 'bars',
    label: 'actor',
    series: ['count'],
    empty: 'No failed sign-ins in this period.',
    caption: 'Failed sign-ins per user name',
    columns: [
      { key: 'actor', label: 'User name' },
      { key: 'count', label: 'Failed sign-ins', numeric: true },
      { key: 'last', label: 'Last', render: (r) => timeNode(r.last) },
    ],
  },
  {
    name: 'after_hours_reveals',
    title: 'Reveals outside business hours',
    empty: 'No reveals outside business hours in this period.',
    caption: 'Reveals outside business hours, with their audit record',
    columns: [
      { key: 'seq', label: 'Record', className: 'mono' },
      { key: 'time', label: 'Time', render: (r) => timeNode(r.time) },
      { key: 'actor', label: 'Staff member' },
      { key: 'computer', label: 'Computer', className: 'computer' },
      { key: 'key_id', label: 'Key ID', className: 'mono key-id' },
    ],
  },
  {
    name: 'unusual_volume',
    title: 'Unusual volume',
    description: 'Days on which a staff member’s lookups and reveals were well above their usual number (their median over the 30 days before).',
    empty: 'No unusual days in this period.',
    caption: 'Staff members with an unusual number of lookups and reveals on a day',
    columns: [
      { key: 'actor', label: 'Staff member' },
      { key: 'day', label: 'Day', render: (r) => formatDay(str(r.day)) },
      { key: 'count', label: 'Lookups and reveals', numeric: true },
      { key: 'median', label: 'Usual (median)', numeric: true },
    ],
  },
];

// --- charts ---------------------------------------------------------------------

// A round axis maximum and its step: 0–4 steps of 1, 2, 5 × 10^n.
function axis(max) {
  if (max <= 0) return { top: 1, step: 1 };
  const rough = max / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough && Number.isInteger(s)) || Math.ceil(rough);
  const safeStep = Math.max(1, Math.round(step));
  return { top: Math.ceil(max / safeStep) * safeStep, step: safeStep };
}

function shorten(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const tickFormat = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });

let chartIds = 0;

// <svg role="img"> with <title> and <desc>, labelled by them.
function chartFrame(width, height, title, desc) {
  const id = `chart-${++chartIds}`;
  return svg('svg', {
    className: 'chart__svg',
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'img',
    'aria-labelledby': `${id}-title ${id}-desc`,
    focusable: 'false',
  }, svg('title', { id: `${id}-title`, text: title }), svg('desc', { id: `${id}-desc`, text: desc }));
}

function legend(seriesNames) {
  if (seriesNames.length < 2) return null;
  const list = el('ul', { className: 'legend', attrs: { 'aria-hidden': 'true' } });
  for (const name of seriesNames) {
    list.append(el('li', {}, el('span', { className: `legend__swatch ${SERIES[name].className}` }), SERIES[name].label));
  }
  return list;
}

// Vertical bars per day, one bar per series side by side.
function dayChart(rows, seriesNames, title, desc) {
  const width = 720;
  const height = 240;
  const left = 44;
  const right = 8;
  const top = 12;
  const bottom = 40;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const max = Math.max(0, ...rows.flatMap((r) => seriesNames.map((s) => num(r[s]))));
  const { top: yTop, step } = axis(max);
  const chart = chartFrame(width, height, title, desc);
  const y = (v) => top + plotH - (v / yTop) * plotH;

  const grid = svg('g', { className: 'chart__grid', 'aria-hidden': 'true' });
  for (let v = 0; v <= yTop; v += step) {
    grid.append(svg('line', { x1: left, x2: width - right, y1: y(v), y2: y(v) }));
    grid.append(svg('text', { className: 'chart__tick', x: left - 6, y: y(v) + 4, 'text-anchor': 'end', text: formatCount(v) }));
  }
  chart.append(grid);

  const slot = plotW / Math.max(1, rows.length);
  const barW = Math.max(1, (slot * 0.8) / seriesNames.length);
  const labelEvery = Math.max(1, Math.ceil(rows.length / 8));
  const bars = svg('g', { className: 'chart__bars' });
  rows.forEach((r, i) => {
    const x0 = left + i * slot + slot * 0.1;
    seriesNames.forEach((s, j) => {
      const v = num(r[s]);
      if (v <= 0) return;
      bars.append(svg('rect', {
        className: `chart__bar ${SERIES[s].className}`,
        x: (x0 + j * barW).toFixed(2),
        y: y(v).toFixed(2),
        width: barW.toFixed(2),
        height: Math.max(1, top + plotH - y(v)).toFixed(2),
      }, svg('title', { text: `${formatDay(str(r.day))}: ${plural(v, SERIES[s].label.toLowerCase().replace(/s$/, ''))}` })));
    });
    if (i % labelEvery === 0) {
      const d = /^\d{4}-(\d{2})-(\d{2})$/.exec(str(r.day));
      bars.append(svg('text', {
        className: 'chart__tick',
        x: (left + i * slot + slot / 2).toFixed(2),
        y: height - bottom + 16,
        'text-anchor': 'middle',
        'aria-hidden': 'true',
        text: d ? tickFormat.format(new Date(`${str(r.day)}T00:00:00Z`)) : str(r.day),
      }));
    }
  });
  chart.append(bars);
  chart.append(svg('line', { className: 'chart__axis', x1: left, x2: width - right, y1: top + plotH, y2: top + plotH }));
  return chart;
}

// Horizontal bars, one group per row (staff member, computer), one bar per series.
function barChart(rows, labelKey, seriesNames, title, desc) {
  const width = 720;
  const labelW = 180;
  const valueW = 48;
  const barH = 14;
  const gap = 10;
  const groupH = seriesNames.length * barH + gap;
  const height = rows.length * groupH + gap;
  const plotW = width - labelW - valueW;
  const max = Math.max(1, ...rows.flatMap((r) => seriesNames.map((s) => num(r[s]))));
  const chart = chartFrame(width, height, title, desc);
  rows.forEach((r, i) => {
    const y0 = gap + i * groupH;
    const label = str(r[labelKey]) || '—';
    const text = svg('text', {
      className: 'chart__label',
      x: labelW - 8,
      y: y0 + (seriesNames.length * barH) / 2 + 5,
      'text-anchor': 'end',
      text: shorten(label, 24),
    });
    if (label.length > 24) text.append(svg('title', { text: label }));
    chart.append(text);
    seriesNames.forEach((s, j) => {
      const v = num(r[s]);
      const w = (v / max) * plotW;
      const y = y0 + j * barH;
      chart.append(svg('rect', {
        className: `chart__bar ${SERIES[s].className}`,
        x: labelW,
        y: y + 1,
        width: Math.max(v > 0 ? 2 : 0, w).toFixed(2),
        height: barH - 2,
      }, svg('title', { text: `${label}: ${formatCount(v)} ${SERIES[s].label.toLowerCase()}` })));
      chart.append(svg('text', {
        className: 'chart__value',
        x: (labelW + Math.max(v > 0 ? 2 : 0, w) + 4).toFixed(2),
        y: y + barH - 3,
        text: formatCount(v),
      }));
    });
  });
  chart.append(svg('line', { className: 'chart__axis', x1: labelW, x2: labelW, y1: 0, y2: height }));
  return chart;
}

// Every day of [from, to] (UTC), with the server's numbers where it has some.
function fillDays(rows, from, to) {
  const byDay = new Map(rows.map((r) => [str(r.day), r]));
  const start = /^\d{4}-\d{2}-\d{2}$/.test(from) ? new Date(`${from}T00:00:00Z`) : null;
  const end = /^\d{4}-\d{2}-\d{2}$/.test(to) ? new Date(`${to}T00:00:00Z`) : null;
  if (!start || !end || Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end < start ||
      (end - start) / 86400000 > MAX_FILLED_DAYS) {
    return [...rows].sort((a, b) => str(a.day).localeCompare(str(b.day)));
  }
  const out = [];
  for (let d = start; d <= end; d = new Date(d.getTime() + 86400000)) {
    const day = isoDay(d);
    out.push(byDay.get(day) || { day, lookups: 0, reveals: 0, failed_sign_ins: 0 });
  }
  return out;
}

function total(rows, key) {
  return rows.reduce((sum, r) => sum + num(r[key]), 0);
}

// --- the page ---------------------------------------------------------------------

export function createReportsPage(app) {
  const ui = {
    page: $('page-security'),
    form: $('reports-form'),
    from: $('reports-from'),
    to: $('reports-to'),
    submit: $('reports-submit'),
    hours: $('reports-hours'),
    error: $('reports-error'),
    status: $('reports-status'),
    results: $('reports-results'),

    unrotatedError: $('unrotated-error'),
    unrotatedStatus: $('unrotated-status'),
    unrotatedCounts: $('unrotated-counts'),
    unrotatedEmpty: $('unrotated-empty'),
    unrotatedTable: $('unrotated-table'),
  };

  const st = { loaded: false, seq: 0, unrotatedSeq: 0 };

  function defaultRange() {
    const to = new Date();
    const from = new Date(to.getTime() - (DEFAULT_DAYS - 1) * 86400000);
    ui.from.value = isoDay(from);
    ui.to.value = isoDay(to);
  }

  function csvHref(table, from, to) {
    const q = new URLSearchParams({ format: 'csv', table });
    if (from) q.set('from', from);
    if (to) q.set('to', to);
    return `/api/v1/reports/summary?${q}`;
  }

  function describe(report, rows, from, to) {
    const period = `from ${formatDay(from)} to ${formatDay(to)}`;
    if (report.name === 'per_day') {
      const busiest = rows.reduce((best, r) => (num(r.lookups) + num(r.reveals) > num(best.lookups) + num(best.reveals) ? r : best), rows[0] || {});
      return `Bar chart of lookups and reveals per day ${period}: ${plural(total(rows, 'lookups'), 'lookup')} and ` +
        `${plural(total(rows, 'reveals'), 'reveal')} in all` +
        (busiest.day ? `; the busiest day was ${formatDay(busiest.day)} with ${formatCount(num(busiest.lookups) + num(busiest.reveals))}.` : '.') +
        ' The numbers are in the table below.';
    }
    const top = rows[0] || {};
    const what = report.series.map((s) => SERIES[s].label.toLowerCase()).join(' and ');
    return `Bar chart of ${what} ${period}, one bar${report.series.length > 1 ? ' each' : ''} per ` +
      `${report.label === 'computer' ? 'computer' : 'user name'}, ${plural(rows.length, 'row')}` +
      (top[report.label] ? `; first: ${top[report.label]}.` : '.') + ' The numbers are in the table below.';
  }

  function renderReport(report, data, from, to) {
    const rows = Array.isArray(data[report.name]) ? data[report.name].filter((r) => r && typeof r === 'object') : [];
    const titleId = `report-${report.name}-title`;
    const section = el('section', {
      className: 'card report',
      attrs: { id: `report-${report.name}`, 'aria-labelledby': titleId },
    });
    section.append(el('div', { className: 'card-head' },
      el('h2', { text: report.title, attrs: { id: titleId } }),
      el('div', { className: 'actions downloads' },
        downloadLink('Download CSV', csvHref(report.name, from, to), `Download CSV: ${report.title.toLowerCase()}`))));
    if (report.description) section.append(el('p', { className: 'muted', text: report.description }));

    const active = report.name === 'per_day'
      ? rows.filter((r) => num(r.lookups) + num(r.reveals) + num(r.failed_sign_ins) > 0)
      : rows;
    const hasData = report.name === 'per_day'
      ? rows.some((r) => num(r.lookups) + num(r.reveals) > 0)
      : rows.length > 0;
    if (!hasData && active.length === 0) {
      section.append(el('p', { className: 'empty', text: report.empty }));
      return section;
    }
    if (report.chart && hasData) {
      const chartRows = report.name === 'per_day' ? fillDays(rows, from, to) : rows;
      const chart = report.chart === 'days'
        ? dayChart(chartRows, report.series, report.title, describe(report, chartRows, from, to))
        : barChart(chartRows, report.label, report.series, report.title, describe(report, chartRows, from, to));
      section.append(el('figure', { className: 'chart' }, legend(report.series), chart));
    } else if (report.chart) {
      section.append(el('p', { className: 'empty', text: report.empty }));
    }
    section.append(dataTable({ caption: report.caption, columns: report.columns, rows: active, className: 'report-table' }));
    return section;
  }

  async function loadSummary(from, to) {
    const seq = ++st.seq;
    const q = new URLSearchParams();
    if (from) q.set('from', from);
    if (to) q.set('to', to);
    setBusy(ui.submit, true, 'Loading…');
    ui.results.setAttribute('aria-busy', 'true');
    say(ui.error, '');
    ui.status.textContent = 'Loading the report…';
    try {
      const query = q.toString();
      const data = await app.api('GET', `/reports/summary${query ? `?${query}` : ''}`);
      if (seq !== st.seq) return;
      if (!data || typeof data !== 'object') throw new app.ApiError(500, 'bad_response', null);
      const shownFrom = str(data.from) || from;
      const shownTo = str(data.to) || to;
      if (shownFrom) ui.from.value = shownFrom;
      if (shownTo) ui.to.value = shownTo;
      const bh = data.business_hours && typeof data.business_hours === 'object' ? data.business_hours : null;
      ui.hours.textContent = bh
        ? `Business hours: ${str(bh.start)}–${str(bh.end)}, ${Array.isArray(bh.days) ? bh.days.join(', ') : ''}` +
          ` (${str(bh.timezone) || 'UTC'}).`
        : '';
      ui.results.replaceChildren(...REPORTS.map((r) => renderReport(r, data, shownFrom, shownTo)));
      ui.results.hidden = false;
      const perDay = Array.isArray(data.per_day) ? data.per_day : [];
      const reveals = total(perDay, 'reveals');
      ui.status.textContent = `Report from ${formatDay(shownFrom)} to ${formatDay(shownTo)}: ` +
        `${plural(total(perDay, 'lookups'), 'lookup')}, ${plural(reveals, 'reveal')}, ` +
        `${plural(total(perDay, 'failed_sign_ins'), 'failed sign-in')}.` +
        (reveals === 0 ? ' No reveals in this period.' : '');
    } catch (err) {
      if (seq !== st.seq || app.handleSessionErrors(err)) return;
      ui.status.textContent = '';
      ui.results.replaceChildren();
      ui.results.hidden = true;
      say(ui.error, err.code === 'invalid_filter'
        ? `The server did not accept the dates: ${err.detail || 'check them'}.`
        : `The report could not be made. ${app.commonErrorText(err)}`);
    } finally {
      if (seq === st.seq) {
        setBusy(ui.submit, false);
        ui.results.removeAttribute('aria-busy');
      }
    }
  }

  async function loadUnrotated() {
    const seq = ++st.unrotatedSeq;
    say(ui.unrotatedError, '');
    ui.unrotatedStatus.textContent = 'Checking revealed keys against the directory…';
    try {
      const data = await app.api('GET', '/reports/unrotated');
      if (seq !== st.unrotatedSeq) return;
      if (!data || typeof data !== 'object') throw new app.ApiError(500, 'bad_response', null);
      const keys = (Array.isArray(data.keys) ? data.keys : []).filter((k) => k && typeof k === 'object');
      // Oldest reveal first (the server's order; kept if it ever is not).
      keys.sort((a, b) => str(a.first_revealed).localeCompare(str(b.first_revealed)));

      ui.unrotatedCounts.replaceChildren();
      const counts = [
        ['Revealed', data.revealed, 'keys revealed through keydesk'],
        ['Not rotated', keys.length, 'still in force'],
        ['Rotated', data.rotated, 'a newer recovery password exists'],
        ['Gone', data.gone, 'no longer in the directory'],
        ['Unknown', data.unknown, 'the directory could not say'],
      ];
      for (const [label, value, hint] of counts) {
        ui.unrotatedCounts.append(el('div', { className: 'stats__item' },
          el('dt', { text: label }),
          el('dd', {}, el('span', { className: 'stats__value', text: formatCount(num(value)) }),
            el('span', { className: 'stats__hint', text: hint }))));
      }
      ui.unrotatedCounts.hidden = false;

      if (keys.length === 0) {
        ui.unrotatedTable.replaceChildren();
        ui.unrotatedEmpty.hidden = false;
        ui.unrotatedEmpty.textContent = num(data.revealed) === 0
          ? 'No recovery password has been revealed.'
          : 'Every revealed key has been rotated or is gone.';
      } else {
        ui.unrotatedEmpty.hidden = true;
        ui.unrotatedTable.replaceChildren(dataTable({
          caption: 'Revealed keys still in force, oldest reveal first',
          className: 'unrotated-table',
          rows: keys,
          columns: [
            { key: 'key_id', label: 'Key ID', className: 'mono key-id' },
            { key: 'computer', label: 'Computer', className: 'computer' },
            { key: 'first_revealed', label: 'First revealed', render: (k) => timeNode(k.first_revealed) },
            { key: 'revealed_by', label: 'Revealed by', render: (k) => (Array.isArray(k.revealed_by) ? k.revealed_by.map(str).join(', ') : str(k.revealed_by)) },
            { key: 'reveals', label: 'Reveals', numeric: true },
            { key: 'days_in_force', label: 'Days in force', numeric: true },
          ],
        }));
      }
      ui.unrotatedStatus.textContent = keys.length
        ? `${plural(keys.length, 'revealed key')} not rotated.`
        : '';
    } catch (err) {
      if (seq !== st.unrotatedSeq || app.handleSessionErrors(err)) return;
      ui.unrotatedStatus.textContent = '';
      ui.unrotatedCounts.hidden = true;
      ui.unrotatedEmpty.hidden = true;
      ui.unrotatedTable.replaceChildren();
      say(ui.unrotatedError, `The revealed keys could not be checked. ${app.commonErrorText(err)}`);
    }
  }

  function load() {
    const from = ui.from.value;
    const to = ui.to.value;
    setInvalid(ui.from, false);
    setInvalid(ui.to, false);
    if (from && to && from > to) {
      setInvalid(ui.to, true);
      say(ui.error, 'The end date is before the start date.');
      ui.to.focus();
      return;
    }
    st.loaded = true;
    loadSummary(from, to);
    loadUnrotated();
  }

  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (isBusy(ui.submit)) return;
    load();
  });
  for (const field of [ui.from, ui.to]) {
    field.addEventListener('input', () => {
      if (field.getAttribute('aria-invalid') === 'true') {
        setInvalid(field, false);
        say(ui.error, '');
      }
    });
  }
  // Downloads are requests with the session cookie: they restart the idle timer.
  ui.page.addEventListener('click', (event) => {
    if (event.target.closest('a.download-link')) app.noteActivity();
  });

  return {
    show() {
      if (st.loaded) return;
      if (!ui.from.value && !ui.to.value) defaultRange();
      load();
    },
    reset() {
      st.seq++;
      st.unrotatedSeq++;
      st.loaded = false;
      ui.form.reset();
      setInvalid(ui.from, false);
      setInvalid(ui.to, false);
      setBusy(ui.submit, false);
      ui.results.removeAttribute('aria-busy');
      ui.results.replaceChildren();
      ui.results.hidden = true;
      ui.hours.textContent = '';
      ui.status.textContent = '';
      say(ui.error, '');
      say(ui.unrotatedError, '');
      ui.unrotatedStatus.textContent = '';
      ui.unrotatedCounts.replaceChildren();
      ui.unrotatedCounts.hidden = true;
      ui.unrotatedEmpty.hidden = true;
      ui.unrotatedTable.replaceChildren();
    },
  };
}
