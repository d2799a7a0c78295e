// keydesk browser UI: session, navigation, the recovery-key pages. The Audit log and Reports
// pages live in audit.js and reports.js, shared DOM helpers in dom.js.
//
// Plain ES modules, no dependencies. Rules kept throughout these files:
//  * data from the server is untrusted: it only ever reaches the page through
//    textContent / setAttribute / createElement, never innerHTML;
//  * no inline script or style: nothing here sets a style attribute;
//  * a recovery password lives in exactly one variable (`reveal.password`) and in
//    the DOM of #reveal-password / #reveal-spell, and all are cleared when it is hidden;
//  * nothing secret is written to URLs, storage or the console.

'use strict';

import { $, el, parseDate, say, setBusy, setInvalid, str } from './dom.js';
import { createAuditPage } from './audit.js';
import { createReportsPage } from './reports.js';

const API = '/api/v1';

// Used when GET /api/v1/session does not say (older servers).
const DEFAULT_IDLE_SECONDS = 15 * 60;
const DEFAULT_REVEAL_SECONDS = 60;

const ROLE_LABELS = {
  helpdesk: 'Helpdesk',
  admin: 'Admin',
  auditor: 'Auditor',
  security: 'Security',
};

// The signed-in pages, in navigation order, and the roles that see each.
const PAGES = {
  keys: { title: 'Recovery keys', roles: ['helpdesk', 'admin'] },
  audit: { title: 'Audit log', roles: ['auditor', 'security', 'admin'] },
  security: { title: 'Reports', roles: ['security', 'admin'] },
};

const REASON_OTHER = 'other';

const DIGIT_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

// ---------------------------------------------------------------- DOM lookup

const ui = {
  nav: $('nav'),
  navItems: {
    keys: $('nav-item-keys'),
    audit: $('nav-item-audit'),
    security: $('nav-item-security'),
  },
  navLinks: {
    keys: $('nav-keys'),
    audit: $('nav-audit'),
    security: $('nav-security'),
  },
  account: $('account'),
  userName: $('user-display-name'),
  userRoles: $('user-roles'),
  signoutButton: $('signout-button'),

  viewLoading: $('view-loading'),
  viewSignin: $('view-signin'),
  viewMain: $('view-main'),

  signinForm: $('signin-form'),
  signinUsername: $('signin-username'),
  signinPassword: $('signin-password'),
  signinSubmit: $('signin-submit'),
  signinError: $('signin-error'),
  signinNotice: $('signin-notice'),

  mainError: $('main-error'),
  pages: {
    keys: $('page-keys'),
    audit: $('page-audit'),
    security: $('page-security'),
    denied: $('page-denied'),
  },
  pageTitles: {
    audit: $('audit-title'),
    security: $('security-title'),
    denied: $('denied-title'),
  },
  deniedText: $('denied-text'),

  roleNotice: $('role-notice'),
  roleNoticeTitle: $('role-notice-title'),
  roleNoticeText: $('role-notice-text'),
  lookupPanel: $('lookup-panel'),
  lookupForm: $('lookup-form'),
  lookupQuery: $('lookup-query'),
  lookupHint: $('lookup-hint'),
  lookupTicket: $('lookup-ticket'),
  lookupSubmit: $('lookup-submit'),
  lookupError: $('lookup-error'),

  results: $('results'),
  resultsTitle: $('results-title'),
  resultsStatus: $('results-status'),
  resultsEmpty: $('results-empty'),
  resultsTableWrap: $('results-table-wrap'),
  resultsBody: $('results-body'),

  dialog: $('reveal-dialog'),
  dialogTitle: $('reveal-title'),
  revealComputer: $('reveal-computer'),
  revealKeyId: $('reveal-key-id'),
  revealKeyPrefix: $('reveal-key-prefix'),
  revealConfirmHint: $('reveal-confirm-hint'),
  revealForm: $('reveal-form'),
  revealReason: $('reveal-reason'),
  revealReasonText: $('reveal-reason-text'),
  revealReasonTextFlag: $('reveal-reason-text-flag'),
  revealTicket: $('reveal-ticket'),
  revealTicketFlag: $('reveal-ticket-flag'),
  revealTicketHint: $('reveal-ticket-hint'),
  revealEndUser: $('reveal-end-user'),
  revealSubmit: $('reveal-submit'),
  revealCancel: $('reveal-cancel'),
  revealError: $('reveal-error'),
  revealResult: $('reveal-result'),
  revealPassword: $('reveal-password'),
  revealCopy: $('reveal-copy'),
  revealCopyStatus: $('reveal-copy-status'),
  revealSpellToggle: $('reveal-spell-toggle'),
  revealSpell: $('reveal-spell'),
  revealCountdown: $('reveal-countdown'),
  revealCountdownBar: $('reveal-countdown-bar'),
  revealClose: $('reveal-close'),
  revealHidden: $('reveal-hidden'),
  revealHiddenText: $('reveal-hidden-text'),
  revealAgain: $('reveal-again'),
  revealHiddenClose: $('reveal-hidden-close'),

  sessionDialog: $('session-dialog'),
  sessionText: $('session-text'),
  sessionStay: $('session-stay'),
  sessionSignout: $('session-signout'),
};

// ---------------------------------------------------------------- state

const state = {
  user: null, // {name, display_name, roles}
  csrf: null,
  page: null, // the signed-in page on screen: 'keys' | 'audit' | 'security' | 'denied'
  lastUsername: '',
  lookupSeq: 0, // increments per lookup; stale answers are dropped
  lookupBusy: false,
  lastQuery: null, // the parsed query of the results on screen
  lastTicket: '',
};

// What the server said about this session (GET/POST /api/v1/session), and when
// it ends if nothing else is sent. Every answer from the server to a signed-in
// request restarts its idle timer, so every answer moves `deadline`.
const session = {
  idleSeconds: DEFAULT_IDLE_SECONDS,
  revealSeconds: DEFAULT_REVEAL_SECONDS,
  ticketRequired: true,
  ticketPattern: null, // RegExp or null
  ticketPatternText: '',
  deadline: 0, // ms (Date.now() clock); 0 = not signed in
  hardDeadline: Infinity, // the session's maximum age, when the server told us
  timer: 0,
  warned: false,
  focusBeforeWarning: null,
};

// Everything about the open reveal dialog. `password` is the only JS copy of a
// revealed recovery password.
const reveal = {
  match: null,
  opener: null,
  body: null, // the last reveal request, for "Show again"
  seq: 0,
  busy: false,
  password: null,
  deadline: 0,
  tickTimer: 0,
  hideTimer: 0,
  copyTimer: 0,
};

// Tabs of this browser tell each other about activity and sign-out.
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('keydesk') : null;

// ---------------------------------------------------------------- helpers

function positiveNumber(v) {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : null;
}

function formatDuration(seconds) {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

// Retry-After is either delta-seconds or an HTTP date.
function retryAfterSeconds(headers) {
  const raw = headers && headers.get('Retry-After');
  if (!raw) return null;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim());
  const when = Date.parse(raw);
  if (Number.isNaN(when)) return null;
  return Math.max(1, Math.round((when - Date.now()) / 1000));
}

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, code, headers, detail = '') {
    super(`HTTP ${status}${code ? ` ${code}` : ''}`);
    this.status = status;
    this.code = code;
    this.headers = headers;
    this.detail = detail; // the server's explanation, when it gave one (e.g. invalid_filter)
  }
}

// Performs a request; resolves to the parsed JSON body (or null), rejects with
// ApiError. status 0 means the server could not be reached.
async function api(method, path, body, { csrf = true } = {}) {
  const headers = { Accept: 'application/json' };
  const init = {
    method,
    headers,
    credentials: 'same-origin',
    cache: 'no-store',
    redirect: 'error',
  };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (csrf && method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;

  let response;
  try {
    response = await fetch(API + path, init);
  } catch {
    throw new ApiError(0, 'network', null);
  }
  // Any answer but 401 to a signed-in request restarted the server's idle timer.
  if (response.status !== 401 && state.user) noteActivity();

  let data = null;
  const type = response.headers.get('Content-Type') || '';
  if (response.status !== 204 && type.includes('json')) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const code = data && typeof data.error === 'string' ? data.error : '';
    throw new ApiError(response.status, code, response.headers, data ? str(data.detail) : '');
  }
  return data;
}

// Messages shared by several calls. Call-specific codes are handled first by
// the caller; anything unknown falls through to the generic text.
function commonErrorText(err) {
  switch (err.code) {
    case 'network':
      return 'Cannot reach the keydesk server. Check your network connection and try again.';
    case 'directory_unavailable':
      return 'The directory (Active Directory) cannot be reached right now. Try again in a few minutes; if it keeps happening, contact IT operations.';
    case 'audit_unavailable':
      return 'The audit log is unavailable, so keydesk cannot record this action and has refused it. Try again later; if it keeps happening, contact IT operations.';
    case 'forbidden':
      return 'Your role does not allow this action.';
    case 'audit_review_unavailable':
      return 'The audit log cannot be searched right now: its index is not available. Try again in a few minutes; if it keeps happening, contact IT operations.';
    case 'csrf_failed':
      return 'The request was rejected because its security token was out of date. It has been renewed: please try again.';
    case 'invalid_request':
      return 'The server did not accept the request. Reload the page and try again.';
    default:
      if (err.status === 503) return 'keydesk is temporarily unavailable. Try again in a few minutes.';
      if (err.status >= 500) return `The server reported an error (HTTP ${err.status}). Try again; if it keeps happening, contact IT operations.`;
      return `Unexpected answer from the server (HTTP ${err.status}${err.code ? `, ${err.code}` : ''}).`;
  }
}

// After a csrf_failed answer, fetch a fresh token so that a retry can work.
async function renewCsrf() {
  try {
    const data = await api('GET', '/session');
    if (data && typeof data.csrf_token === 'string') state.csrf = data.csrf_token;
    if (data) applySessionInfo(data);
  } catch (err) {
    if (err.status === 401) sessionEnded();
  }
}

// Handles errors every signed-in call shares. Returns true when the error was
// fully handled (the caller should stop).
function handleSessionErrors(err) {
  if (err.status === 401) {
    sessionEnded();
    return true;
  }
  if (err.code === 'csrf_failed') renewCsrf();
  return false;
}

// ---------------------------------------------------------------- session timing

// Reads the session settings the server sends with GET and POST /api/v1/session.
function applySessionInfo(data) {
  const idle = positiveNumber(data.idle_timeout_seconds);
  if (idle) session.idleSeconds = idle;
  const shown = positiveNumber(data.reveal_seconds);
  session.revealSeconds = shown ? Math.round(shown) : DEFAULT_REVEAL_SECONDS;

  if (typeof data.ticket_required === 'boolean') session.ticketRequired = data.ticket_required;
  session.ticketPattern = null;
  session.ticketPatternText = '';
  const pattern = str(data.ticket_pattern);
  if (pattern) {
    try {
      // The server matches the whole ticket (std::regex_match, ECMAScript).
      session.ticketPattern = new RegExp(`^(?:${pattern})$`);
      session.ticketPatternText = pattern;
    } catch {
      session.ticketPattern = null; // the server still checks it
    }
  }

  const now = Date.now();
  const maxLeft = positiveNumber(data.max_expires_in_seconds);
  session.hardDeadline = maxLeft ? now + maxLeft * 1000 : Infinity;
  const left = typeof data.expires_in_seconds === 'number' && data.expires_in_seconds >= 0
    ? data.expires_in_seconds
    : session.idleSeconds;
  // expires_in_seconds shorter than the idle timeout: the maximum age ends it first.
  if (left < session.idleSeconds - 1) session.hardDeadline = Math.min(session.hardDeadline, now + left * 1000);
  session.deadline = Math.min(now + left * 1000, session.hardDeadline);
  startSessionTimer();
}

// The server restarted its idle timer (an answer arrived, here or in another tab).
function noteActivity(at = Date.now(), broadcast = true) {
  if (!state.user) return;
  const deadline = Math.min(at + session.idleSeconds * 1000, session.hardDeadline);
  if (deadline > session.deadline) session.deadline = deadline;
  if (broadcast && channel) channel.postMessage({ type: 'activity', at, user: state.user.name });
  sessionTick();
}

// Seconds before the end at which the warning appears: 2 minutes, or half the
// idle timeout when that is shorter.
function warningSeconds() {
  return Math.min(120, Math.floor(session.idleSeconds / 2));
}

function startSessionTimer() {
  if (!session.timer) session.timer = window.setInterval(sessionTick, 1000);
  sessionTick();
}

function stopSessionTimer() {
  window.clearInterval(session.timer);
  session.timer = 0;
  session.deadline = 0;
  session.hardDeadline = Infinity;
  hideSessionWarning(false);
}

function sessionTick() {
  if (!state.user || !session.deadline) return;
  const left = session.deadline - Date.now();
  if (left <= 0) {
    sessionExpired();
  } else if (left <= warningSeconds() * 1000) {
    showSessionWarning(Math.ceil(left / 1000));
  } else if (session.warned) {
    hideSessionWarning(true); // activity in another tab pushed the end back
  }
}

function sessionWarningText(seconds) {
  if (seconds < 60) return 'Your session expires in less than a minute.';
  const minutes = Math.max(1, Math.round(seconds / 60));
  return `Your session expires in ${minutes} minute${minutes === 1 ? '' : 's'}.`;
}

function showSessionWarning(secondsLeft) {
  const text = `${sessionWarningText(secondsLeft)} keydesk signs you out after ${formatDuration(session.idleSeconds)} without activity.`;
  if (ui.sessionText.textContent !== text) ui.sessionText.textContent = text;
  if (session.warned) return;
  session.warned = true;
  session.focusBeforeWarning = document.activeElement;
  // On top of the reveal dialog, if that is open.
  ui.sessionDialog.showModal();
  ui.sessionStay.focus();
}

function hideSessionWarning(restoreFocus) {
  if (!session.warned) return;
  session.warned = false;
  if (ui.sessionDialog.open) ui.sessionDialog.close();
  const back = session.focusBeforeWarning;
  session.focusBeforeWarning = null;
  if (restoreFocus && back && back.isConnected && typeof back.focus === 'function') back.focus();
}

async function onStaySignedIn() {
  if (ui.sessionStay.classList.contains('is-busy')) return;
  setBusy(ui.sessionStay, true, 'Staying signed in…');
  try {
    const data = await api('GET', '/session');
    if (data && typeof data.csrf_token === 'string') state.csrf = data.csrf_token;
    if (data) applySessionInfo(data);
    hideSessionWarning(true);
  } catch (err) {
    if (handleSessionErrors(err)) return;
    ui.sessionText.textContent = commonErrorText(err);
  } finally {
    setBusy(ui.sessionStay, false);
  }
}

// The idle timeout (or the maximum age) has passed: the server has ended the
// session by now. Leave nothing on screen and say why.
function sessionExpired() {
  const idle = session.deadline < session.hardDeadline;
  // Belt and braces: if the server still knew the session, end it.
  if (state.csrf) api('DELETE', '/session').catch(() => {});
  showSignin({
    notice: idle
      ? `You were signed out after ${formatDuration(session.idleSeconds)} without activity. Sign in again to continue.`
      : 'Your session has reached its maximum length. Sign in again to continue.',
  });
}

// ---------------------------------------------------------------- views

function showView(name) {
  ui.viewLoading.hidden = name !== 'loading';
  ui.viewSignin.hidden = name !== 'signin';
  ui.viewMain.hidden = name !== 'main';
  ui.account.hidden = name !== 'main';
  ui.nav.hidden = name !== 'main';
}

function showSignin({ notice = '', error = '' } = {}) {
  closeRevealDialog();
  stopSessionTimer();
  clearResults();
  auditPage.reset();
  reportsPage.reset();
  state.user = null;
  state.csrf = null;
  state.page = null;
  ui.userName.textContent = '';
  ui.userRoles.replaceChildren();
  ui.lookupQuery.value = '';
  ui.lookupTicket.value = '';
  state.lastTicket = '';
  updateQueryHint();
  say(ui.mainError, '');
  say(ui.lookupError, '');
  document.title = 'Sign in – keydesk';

  ui.signinPassword.value = '';
  if (!ui.signinUsername.value && state.lastUsername) ui.signinUsername.value = state.lastUsername;
  setInvalid(ui.signinUsername, false);
  setInvalid(ui.signinPassword, false);
  setBusy(ui.signinSubmit, false);
  showView('signin');
  say(ui.signinNotice, notice);
  say(ui.signinError, error);
  (ui.signinUsername.value ? ui.signinPassword : ui.signinUsername).focus();
}

function hasRole(page, user = state.user) {
  return Boolean(user) && PAGES[page].roles.some((r) => user.roles.includes(r));
}

function roleNames(user = state.user) {
  return user.roles.map((r) => ROLE_LABELS[r] || r).join(', ');
}

function showMain(data, { signedIn = false } = {}) {
  const user = data.user || {};
  const previous = state.user ? state.user.name : '';
  state.user = {
    name: str(user.name),
    display_name: str(user.display_name) || str(user.name),
    roles: Array.isArray(user.roles) ? user.roles.filter((r) => typeof r === 'string') : [],
  };
  state.csrf = str(data.csrf_token) || null;
  state.lastUsername = state.user.name || state.lastUsername;
  if (previous && previous !== state.user.name) {
    closeRevealDialog();
    clearResults();
    auditPage.reset();
    reportsPage.reset();
  }

  ui.userName.textContent = state.user.display_name;
  ui.userName.title = state.user.name;
  ui.userRoles.replaceChildren();
  const roles = state.user.roles.length ? state.user.roles : ['no role'];
  for (const role of roles) {
    ui.userRoles.append(el('span', { className: 'role', text: ROLE_LABELS[role] || role }));
  }
  for (const page of Object.keys(PAGES)) ui.navItems[page].hidden = !hasRole(page);

  ui.roleNoticeText.textContent =
    'Looking up and revealing BitLocker recovery passwords needs the Helpdesk or Admin role' +
    (state.user.roles.length ? `; you have: ${roleNames()}.` : '; your account has no keydesk role.');

  say(ui.signinError, '');
  say(ui.signinNotice, '');
  say(ui.mainError, '');
  showView('main');
  applySessionInfo(data);
  route({ focus: true, fallBack: signedIn });
}

const roleList = new Intl.ListFormat('en-GB', { type: 'disjunction' });

function defaultPage() {
  return Object.keys(PAGES).find((page) => hasRole(page)) || 'keys';
}

// Shows the page named by the URL's fragment (#keys, #audit, #security).
// fallBack: right after signing in, a page of someone else's (left in the
// address by the previous user) gives way to this user's first page.
function route({ focus = false, fallBack = false } = {}) {
  if (!state.user) return;
  let page = location.hash.replace(/^#/, '');
  if (!(page in PAGES) || (fallBack && !hasRole(page))) {
    page = defaultPage();
    history.replaceState(null, '', `#${page}`);
  }
  const allowed = hasRole(page);
  const shown = allowed || page === 'keys' ? page : 'denied';
  if (shown !== 'keys') closeRevealDialog();
  if (shown !== 'audit') auditPage.hide();

  for (const [name, section] of Object.entries(ui.pages)) section.hidden = name !== shown;
  for (const [name, link] of Object.entries(ui.navLinks)) {
    if (name === page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${PAGES[page].title} – keydesk`;
  state.page = shown;

  if (shown === 'keys') {
    ui.lookupPanel.hidden = !allowed;
    ui.roleNotice.hidden = allowed;
    if (!allowed) clearResults();
  } else if (shown === 'audit') {
    auditPage.show();
  } else if (shown === 'security') {
    reportsPage.show();
  } else if (shown === 'denied') {
    ui.deniedText.textContent = `The ${PAGES[page].title} page needs the ` +
      `${roleList.format(PAGES[page].roles.map((r) => ROLE_LABELS[r]))} role` +
      (state.user.roles.length ? `; you have: ${roleNames()}.` : '.');
  }
  if (!focus) return;
  if (shown === 'keys') (allowed ? ui.lookupQuery : ui.roleNoticeTitle).focus();
  else ui.pageTitles[shown].focus();
}

function sessionEnded() {
  showSignin({ notice: 'Your session has ended. Sign in again to continue.' });
}

// ---------------------------------------------------------------- start-up

async function start() {
  showView('loading');
  try {
    const data = await api('GET', '/session');
    if (data && data.user) showMain(data);
    else showSignin();
  } catch (err) {
    if (err.status === 401) showSignin();
    else showSignin({ error: commonErrorText(err) });
  }
}

// ---------------------------------------------------------------- sign-in

async function onSignin(event) {
  event.preventDefault();
  if (ui.signinSubmit.classList.contains('is-busy')) return;

  const username = ui.signinUsername.value.trim();
  const password = ui.signinPassword.value;
  say(ui.signinNotice, '');
  setInvalid(ui.signinUsername, !username);
  setInvalid(ui.signinPassword, username && !password);
  if (!username) {
    say(ui.signinError, 'Enter your user name.');
    ui.signinUsername.focus();
    return;
  }
  if (!password) {
    say(ui.signinError, 'Enter your password.');
    ui.signinPassword.focus();
    return;
  }

  say(ui.signinError, '');
  setBusy(ui.signinSubmit, true, 'Signing in…');
  try {
    const data = await api('POST', '/session', { username, password }, { csrf: false });
    ui.signinPassword.value = '';
    setBusy(ui.signinSubmit, false);
    if (!data || !data.user) throw new ApiError(500, 'bad_response', null);
    showMain(data, { signedIn: true });
    if (channel) channel.postMessage({ type: 'signed-in', user: state.user.name });
  } catch (err) {
    ui.signinPassword.value = '';
    setBusy(ui.signinSubmit, false);
    let message;
    switch (err.code) {
      case 'invalid_credentials':
        message = 'Sign-in failed: check your user name and password.';
        break;
      case 'no_role':
        message = 'Your account has no keydesk role. Ask your IT administrator to add you to a keydesk group.';
        break;
      case 'too_many_attempts': {
        const wait = retryAfterSeconds(err.headers);
        message = 'Too many sign-in attempts. ' +
          (wait ? `Wait ${formatDuration(wait)} before trying again.` : 'Wait a few minutes before trying again.');
        break;
      }
      case 'directory_unavailable':
        message = 'Sign-in is not possible right now: the directory (Active Directory) cannot be reached. Try again in a few minutes; if it keeps happening, contact IT operations.';
        break;
      default:
        message = err.status === 401
          ? 'Sign-in failed: check your user name and password.'
          : commonErrorText(err);
    }
    say(ui.signinError, message);
    setInvalid(ui.signinPassword, err.status === 401);
    ui.signinPassword.focus();
  }
}

// ---------------------------------------------------------------- sign-out

async function signOut() {
  if (ui.signoutButton.classList.contains('is-busy')) return;
  setBusy(ui.signoutButton, true, 'Signing out…');
  try {
    await api('DELETE', '/session');
  } catch (err) {
    if (err.status !== 401) {
      setBusy(ui.signoutButton, false);
      if (err.code === 'csrf_failed') await renewCsrf();
      hideSessionWarning(false);
      say(ui.mainError, err.code === 'network'
        ? 'Sign-out failed: the keydesk server cannot be reached. Close the browser to be sure your session ends.'
        : `Sign-out failed. ${commonErrorText(err)}`);
      ui.signoutButton.focus();
      return;
    }
  }
  setBusy(ui.signoutButton, false);
  if (channel) channel.postMessage({ type: 'signed-out' });
  ui.signinUsername.value = '';
  state.lastUsername = '';
  showSignin({ notice: 'You have signed out.' });
}

// Another tab of this browser shares the session cookie.
function onChannelMessage(event) {
  const msg = event.data || {};
  if (msg.type === 'signed-out' && state.user) {
    ui.signinUsername.value = '';
    state.lastUsername = '';
    showSignin({ notice: 'You signed out in another keydesk tab.' });
  } else if (msg.type === 'signed-in' && state.user && msg.user !== state.user.name) {
    // The cookie now belongs to someone else: this tab must not act on it.
    showSignin({ notice: 'Someone signed in to keydesk in another tab of this browser. Sign in again to continue.' });
  } else if (msg.type === 'signed-in' && !state.user) {
    start();
  } else if (msg.type === 'signed-in' && state.user) {
    renewCsrf(); // same user, new session: this tab's CSRF token is out of date
  } else if (msg.type === 'activity' && state.user && msg.user === state.user.name &&
             typeof msg.at === 'number') {
    noteActivity(Math.min(msg.at, Date.now()), false);
  }
}

// ---------------------------------------------------------------- query parsing

const HEX_RE = /^[0-9a-f]*$/i;
const COMPUTER_RE = /^[A-Za-z0-9._$-]{1,64}$/;
const KEY_GROUPS = [8, 4, 4, 4, 12];

// Formats (part of) a compact hex key ID as 8-4-4-4-12, adding "…" when it
// is not complete.
function formatKeyPrefix(hex) {
  const parts = [];
  let pos = 0;
  for (const len of KEY_GROUPS) {
    if (pos >= hex.length) break;
    parts.push(hex.slice(pos, pos + len));
    pos += len;
  }
  return parts.join('-') + (hex.length < 32 ? '…' : '');
}

// Returns {kind: 'empty' | 'key' | 'computer' | 'invalid', value, display, hint}.
function parseQuery(raw) {
  const trimmed = raw.trim();
  if (!trimmed) {
    return {
      kind: 'empty',
      hint: 'Type at least the first 8 characters of the key ID shown on the recovery screen, or a computer name.',
    };
  }
  const compact = trimmed.replace(/[\s{}-]/g, '').toUpperCase();
  const allHex = compact.length > 0 && HEX_RE.test(compact);

  if (allHex && compact.length >= 8 && compact.length <= 32) {
    const display = formatKeyPrefix(compact);
    return {
      kind: 'key',
      value: compact,
      display,
      hint: `Key ID ${display}` + (compact.length < 32 ? ` (first ${compact.length} of 32 hex digits)` : ''),
    };
  }
  // More than 32 hex digits is a mistyped key ID, not a computer name.
  if (COMPUTER_RE.test(trimmed) && !(allHex && compact.length > 32)) {
    const hint = allHex
      ? `Computer name ${trimmed}. For a key ID, type at least 8 hex digits (${compact.length} typed).`
      : `Computer name ${trimmed}`;
    return { kind: 'computer', value: trimmed, display: trimmed, hint };
  }

  // Not valid yet: explain why.
  let hint;
  if (allHex && compact.length > 32) {
    hint = `A key ID has at most 32 hex digits; ${compact.length} typed.`;
  } else if (allHex || compact.length === 0) {
    hint = `Key ID: 8 hex digits needed, ${compact.length} typed.`;
  } else if (/[{}]/.test(trimmed)) {
    const bad = [...compact].find((c) => !/[0-9A-F]/.test(c));
    hint = `A key ID only contains the digits 0–9 and the letters A–F; “${bad}” is not allowed.`;
  } else if (trimmed.length > 64) {
    hint = `A computer name has at most 64 characters; ${trimmed.length} typed.`;
  } else if (/\s/.test(trimmed)) {
    hint = 'A computer name cannot contain spaces.';
  } else {
    const bad = [...trimmed].find((c) => !/[A-Za-z0-9._$-]/.test(c));
    hint = `“${bad}” is not allowed. Key IDs use 0–9 and A–F; computer names use letters, digits and - _ . $`;
  }
  return { kind: 'invalid', hint };
}

function updateQueryHint() {
  const q = parseQuery(ui.lookupQuery.value);
  ui.lookupHint.textContent = q.hint;
  ui.lookupHint.classList.toggle('query-hint--ok', q.kind === 'key' || q.kind === 'computer');
  ui.lookupHint.classList.toggle('query-hint--problem', q.kind === 'invalid');
  // Only flag the field once the user tried to submit an invalid query.
  if (q.kind !== 'invalid') setInvalid(ui.lookupQuery, false);
  return q;
}

// ---------------------------------------------------------------- lookup

async function onLookup(event) {
  event.preventDefault();
  if (state.lookupBusy) return;

  const q = updateQueryHint();
  if (q.kind === 'empty' || q.kind === 'invalid') {
    setInvalid(ui.lookupQuery, true);
    say(ui.lookupError, q.kind === 'empty' ? 'Type a key ID or a computer name.' : q.hint);
    ui.lookupQuery.focus();
    return;
  }
  setInvalid(ui.lookupQuery, false);
  say(ui.lookupError, '');
  say(ui.mainError, '');

  const ticket = ui.lookupTicket.value.trim();
  const body = q.kind === 'key' ? { key_id: q.value } : { computer: q.value };
  if (ticket) body.ticket = ticket;

  const seq = ++state.lookupSeq;
  state.lookupBusy = true;
  setBusy(ui.lookupSubmit, true, 'Finding…');
  try {
    const data = await api('POST', '/lookups', body);
    if (seq !== state.lookupSeq) return;
    const matches = data && Array.isArray(data.matches) ? data.matches : null;
    if (!matches) throw new ApiError(500, 'bad_response', null);
    state.lastQuery = q;
    state.lastTicket = ticket;
    renderResults(q, matches);
  } catch (err) {
    if (seq !== state.lookupSeq) return;
    if (handleSessionErrors(err)) return;
    let message;
    switch (err.code) {
      case 'invalid_key_id':
        message = 'The server did not accept this key ID. Check it against the recovery screen: it has 32 hex digits (0–9, A–F).';
        break;
      case 'invalid_computer':
        message = 'The server did not accept this computer name. Use letters, digits and - _ . $ only, at most 64 characters.';
        break;
      case 'forbidden':
        message = 'Your role does not allow looking up recovery keys.';
        break;
      default:
        message = commonErrorText(err);
    }
    say(ui.lookupError, message);
    setInvalid(ui.lookupQuery, err.code === 'invalid_key_id' || err.code === 'invalid_computer');
    ui.lookupQuery.focus();
  } finally {
    if (seq === state.lookupSeq) {
      state.lookupBusy = false;
      setBusy(ui.lookupSubmit, false);
    }
  }
}

function clearResults() {
  state.lookupSeq++;
  state.lookupBusy = false;
  setBusy(ui.lookupSubmit, false);
  state.lastQuery = null;
  ui.resultsBody.replaceChildren();
  ui.resultsStatus.textContent = '';
  ui.resultsEmpty.textContent = '';
  ui.resultsEmpty.hidden = true;
  ui.results.hidden = true;
}

// --- DN → OU path -----------------------------------------------------------

// Splits a DN into [type, value] pairs, honouring "\," and "\2C" escapes.
function parseDn(dn) {
  const rdns = [];
  let current = '';
  for (let i = 0; i < dn.length; i++) {
    const c = dn[i];
    if (c === '\\' && i + 1 < dn.length) {
      current += c + dn[i + 1];
      i++;
    } else if (c === ',' || c === ';') {
      rdns.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  if (current) rdns.push(current);
  return rdns.map((rdn) => {
    const eq = rdn.indexOf('=');
    if (eq < 0) return ['', unescapeDnValue(rdn.trim())];
    return [rdn.slice(0, eq).trim().toUpperCase(), unescapeDnValue(rdn.slice(eq + 1).trim())];
  });
}

function unescapeDnValue(v) {
  const bytes = [];
  const out = [];
  const flush = () => {
    if (bytes.length) {
      try {
        out.push(new TextDecoder('utf-8', { fatal: false }).decode(new Uint8Array(bytes)));
      } catch {
        out.push('?');
      }
      bytes.length = 0;
    }
  };
  for (let i = 0; i < v.length; i++) {
    if (v[i] === '\\' && /^[0-9a-fA-F]{2}$/.test(v.slice(i + 1, i + 3))) {
      bytes.push(parseInt(v.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (v[i] === '\\' && i + 1 < v.length) {
      flush();
      out.push(v[i + 1]);
      i++;
    } else {
      flush();
      out.push(v[i]);
    }
  }
  flush();
  return out.join('');
}

// "CN=PC1,OU=Workstations,OU=Branch-Berlin,DC=corp,DC=example,DC=com"
//   → "Branch-Berlin / Workstations". Containers (CN=Computers) count too.
function ouPath(dn) {
  if (!dn) return '';
  const rdns = parseDn(dn).slice(1); // drop the computer's own CN
  const path = rdns.filter(([type]) => type === 'OU' || type === 'CN').map(([, value]) => value);
  return path.reverse().join(' / ');
}

// --- dates ------------------------------------------------------------------

const relativeFormat = new Intl.RelativeTimeFormat('en', { numeric: 'always' });
const exactFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: 'numeric',
  hour: '2-digit', minute: '2-digit',
  timeZoneName: 'short',
});

function relativeTime(date, now = Date.now()) {
  const seconds = Math.round((date.getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  const units = [
    ['year', 365 * 86400],
    ['month', 30 * 86400],
    ['week', 7 * 86400],
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
  ];
  for (const [unit, size] of units) {
    if (abs >= size) return relativeFormat.format(Math.trunc(seconds / size), unit);
  }
  return 'just now';
}

// --- key ID highlight -------------------------------------------------------

// Builds the key ID with the part that matches the typed hex digits wrapped in
// <mark>. The match is found on the compact (dash-less) form and mapped back.
function keyIdNode(keyId, typedHex) {
  const span = el('span', { className: 'mono key-id' });
  if (!typedHex) {
    span.textContent = keyId;
    return span;
  }
  const positions = []; // index in keyId of each hex digit
  let compact = '';
  for (let i = 0; i < keyId.length; i++) {
    if (/[0-9a-f]/i.test(keyId[i])) {
      positions.push(i);
      compact += keyId[i].toUpperCase();
    }
  }
  const at = compact.indexOf(typedHex.toUpperCase());
  if (at < 0) {
    span.textContent = keyId;
    return span;
  }
  const start = positions[at];
  const end = positions[at + typedHex.length - 1] + 1;
  if (start > 0) span.append(keyId.slice(0, start));
  span.append(el('mark', { text: keyId.slice(start, end) }));
  if (end < keyId.length) span.append(keyId.slice(end));
  return span;
}

// --- rendering --------------------------------------------------------------

function normalizeMatch(m) {
  return {
    key_id: str(m && m.key_id),
    computer: str(m && m.computer),
    computer_dn: str(m && m.computer_dn),
    created: str(m && m.created),
    volume_id: str(m && m.volume_id),
    date: parseDate(m && m.created),
  };
}

// Among matches that share a volume ID, the newest created is "newest"; the
// others are "superseded". Matches without a volume ID get no badge.
function computeStatus(matches) {
  const newest = new Map();
  for (const m of matches) {
    if (!m.volume_id || !m.date) continue;
    const v = m.volume_id.toUpperCase();
    const t = m.date.getTime();
    if (!newest.has(v) || t > newest.get(v)) newest.set(v, t);
  }
  for (const m of matches) {
    if (!m.volume_id) m.status = null;
    else if (!m.date) m.status = newest.has(m.volume_id.toUpperCase()) ? 'superseded' : null;
    else m.status = m.date.getTime() === newest.get(m.volume_id.toUpperCase()) ? 'newest' : 'superseded';
  }
}

function cell(label, ...children) {
  return el('td', { attrs: { 'data-label': label } }, ...children);
}

function renderResults(q, rawMatches) {
  const matches = rawMatches.map(normalizeMatch).filter((m) => m.key_id);
  computeStatus(matches);
  matches.sort((a, b) =>
    a.computer.localeCompare(b.computer, undefined, { sensitivity: 'base', numeric: true }) ||
    a.volume_id.localeCompare(b.volume_id) ||
    (b.date ? b.date.getTime() : 0) - (a.date ? a.date.getTime() : 0));

  const what = q.kind === 'computer'
    ? `computer ${q.display}`
    : q.value.length < 32
      ? `key ID starting ${q.display.replace(/…$/, '')}`
      : `key ID ${q.display}`;
  ui.resultsBody.replaceChildren();
  ui.results.hidden = false;

  if (matches.length === 0) {
    ui.resultsTableWrap.hidden = true;
    ui.resultsEmpty.hidden = false;
    ui.resultsEmpty.textContent = q.kind === 'key'
      ? `No key matches ${what}. Check the key ID on the user's recovery screen, or search by computer name.`
      : `No key matches ${what}. Check the computer name, or search by the key ID shown on the recovery screen.`;
    ui.resultsStatus.textContent = 'No key matches.';
    ui.lookupQuery.focus();
    ui.lookupQuery.select();
    return;
  }

  ui.resultsEmpty.hidden = true;
  ui.resultsEmpty.textContent = '';
  ui.resultsTableWrap.hidden = false;
  ui.resultsStatus.textContent =
    `${matches.length} key${matches.length === 1 ? '' : 's'} found for ${what}.`;

  const now = Date.now();
  const typedHex = q.kind === 'key' ? q.value : '';
  for (const m of matches) {
    const row = el('tr', { className: 'result-row' });
    row.dataset.keyId = m.key_id;
    row.dataset.computer = m.computer;
    if (m.status === 'superseded') row.classList.add('result-row--superseded');

    // Computer
    row.append(cell('Computer', el('span', { className: 'computer', text: m.computer || '—' })));

    // OU
    const ou = ouPath(m.computer_dn);
    const ouCell = cell('OU', el('span', { text: ou || '—' }));
    if (m.computer_dn) ouCell.title = m.computer_dn;
    row.append(ouCell);

    // Key ID + badge
    const keyBox = el('div', { className: 'key-cell' }, keyIdNode(m.key_id, typedHex));
    if (m.status === 'newest') {
      keyBox.append(el('span', { className: 'badge badge--newest', text: 'newest for this volume' }));
    } else if (m.status === 'superseded') {
      keyBox.append(el('span', { className: 'badge badge--superseded', text: 'superseded' }));
    }
    row.append(cell('Key ID', keyBox));

    // Created
    if (m.date) {
      const time = el('time', {
        className: 'created',
        attrs: { datetime: m.date.toISOString() },
      });
      const exact = exactFormat.format(m.date);
      time.title = exact;
      time.append(
        el('span', { className: 'created__relative', text: relativeTime(m.date, now) }),
        el('span', { className: 'created__exact', text: exact }),
      );
      row.append(cell('Created', time));
    } else {
      row.append(cell('Created', el('span', { text: m.created || 'unknown' })));
    }

    // Volume ID
    row.append(cell('Volume ID', el('span', { className: 'mono volume-id', text: m.volume_id || '—' })));

    // Action
    const button = el('button', {
      className: 'button button--small reveal-button',
      text: 'Reveal…',
      attrs: {
        type: 'button',
        'aria-label': `Reveal recovery password for ${m.computer || 'unknown computer'}, key ID ${m.key_id}` +
          (m.status === 'newest' ? ', newest for this volume' : m.status === 'superseded' ? ', superseded' : ''),
      },
    });
    button.dataset.keyId = m.key_id;
    button.addEventListener('click', () => openRevealDialog(m, button));
    row.append(el('td', { className: 'cell-action' }, button));

    ui.resultsBody.append(row);
  }

  // Move focus to the next likely action.
  if (matches.length === 1) {
    ui.resultsBody.querySelector('.reveal-button').focus();
  } else {
    ui.resultsTitle.focus();
  }
}


// ---------------------------------------------------------------- reveal dialog

function openRevealDialog(match, opener) {
  closeRevealDialog();
  reveal.match = match;
  reveal.opener = opener;
  reveal.body = null;

  ui.dialogTitle.textContent = 'Reveal recovery password';
  ui.revealComputer.textContent = match.computer || '—';
  ui.revealComputer.title = match.computer_dn;
  ui.revealKeyId.textContent = match.key_id;
  ui.revealKeyPrefix.textContent = match.key_id.slice(0, 8).toUpperCase();

  ui.revealForm.reset();
  ui.revealTicket.value = state.lastTicket;
  updateReasonText();
  updateTicketField();
  for (const f of [ui.revealReason, ui.revealReasonText, ui.revealTicket, ui.revealEndUser]) setInvalid(f, false);
  say(ui.revealError, '');
  setBusy(ui.revealSubmit, false);
  showRevealPart('form');

  ui.dialog.showModal();
  ui.revealReason.focus();
}

// The dialog shows one of: the form, the password, or "hidden, show again".
function showRevealPart(part) {
  ui.revealForm.hidden = part !== 'form';
  ui.revealConfirmHint.hidden = part !== 'form';
  ui.revealResult.hidden = part !== 'password';
  ui.revealHidden.hidden = part !== 'hidden';
}

// Closes the dialog (if open) and wipes the revealed password. The wipe comes first: "close"
// (→ onDialogClosed) is queued as a task, and a hidden dialog must not hold the password even
// for that long.
function closeRevealDialog() {
  wipeSecret();
  if (ui.dialog.open) ui.dialog.close();
}

function onDialogClosed() {
  wipeSecret();
  reveal.seq++; // drop an in-flight reveal answer
  reveal.busy = false;
  reveal.body = null;
  setBusy(ui.revealSubmit, false);
  setBusy(ui.revealAgain, false);
  ui.revealForm.reset();
  say(ui.revealError, '');
  const opener = reveal.opener;
  reveal.match = null;
  reveal.opener = null;
  if (opener && opener.isConnected && !ui.viewMain.hidden && !ui.pages.keys.hidden) opener.focus();
}

function updateReasonText() {
  const required = ui.revealReason.value === REASON_OTHER;
  ui.revealReasonText.required = required;
  ui.revealReasonTextFlag.textContent = required ? '(required)' : '(optional)';
  ui.revealReasonTextFlag.classList.toggle('required', required);
}

// Editing the field a problem was reported on clears the report.
function onRevealFieldEdited(field) {
  if (field.getAttribute('aria-invalid') !== 'true') return;
  setInvalid(field, false);
  const fields = [ui.revealReason, ui.revealReasonText, ui.revealTicket, ui.revealEndUser];
  if (!fields.some((f) => f.getAttribute('aria-invalid') === 'true')) say(ui.revealError, '');
}

function updateTicketField() {
  ui.revealTicket.required = session.ticketRequired;
  ui.revealTicketFlag.textContent = session.ticketRequired ? '(required)' : '(optional)';
  ui.revealTicketHint.textContent = 'Helpdesk ticket number, recorded in the audit log.' +
    (session.ticketPatternText ? ` Expected format: ${session.ticketPatternText}` : '');
}

// Checks the form; returns the request body, or null after showing the problem.
function revealRequest() {
  const reason = ui.revealReason.value;
  const reasonText = ui.revealReasonText.value.trim();
  const ticket = ui.revealTicket.value.trim();
  const endUser = ui.revealEndUser.value.trim();
  for (const f of [ui.revealReason, ui.revealReasonText, ui.revealTicket, ui.revealEndUser]) setInvalid(f, false);

  const problem = (field, message) => {
    setInvalid(field, true);
    say(ui.revealError, message);
    field.focus();
    return null;
  };
  if (!reason) return problem(ui.revealReason, 'Choose a reason.');
  if (reason === REASON_OTHER && !reasonText) {
    return problem(ui.revealReasonText, 'Describe the reason: it is required when the reason is “Other”.');
  }
  if (!ticket && session.ticketRequired) return problem(ui.revealTicket, 'Enter the ticket number.');
  if (ticket && session.ticketPattern && !session.ticketPattern.test(ticket)) {
    return problem(ui.revealTicket, `This ticket number does not have the expected format (${session.ticketPatternText}).`);
  }

  const body = {
    key_id: reveal.match.key_id,
    computer_dn: reveal.match.computer_dn,
    reason,
  };
  if (reasonText) body.reason_text = reasonText;
  if (ticket) body.ticket = ticket;
  if (endUser) body.end_user = endUser;
  return body;
}

async function onReveal(event) {
  event.preventDefault();
  if (reveal.busy || !reveal.match) return;
  const body = revealRequest();
  if (!body) return;
  say(ui.revealError, '');
  await requestReveal(body, ui.revealSubmit);
}

// "Show again" after the password was hidden: the same request, a new reveal.
async function onRevealAgain() {
  if (reveal.busy || !reveal.match || !reveal.body) return;
  await requestReveal(reveal.body, ui.revealAgain);
}

async function requestReveal(body, button) {
  const seq = ++reveal.seq;
  reveal.busy = true;
  setBusy(button, true, 'Revealing…');
  try {
    const data = await api('POST', '/reveals', body);
    if (seq !== reveal.seq || !ui.dialog.open) return; // dialog closed meanwhile
    const password = data ? str(data.recovery_password) : '';
    if (!password) throw new ApiError(500, 'bad_response', null);
    reveal.body = body;
    if (body.ticket) state.lastTicket = body.ticket;
    showSecret(password, data);
  } catch (err) {
    if (seq !== reveal.seq) return;
    if (handleSessionErrors(err)) return;
    // Problems are explained on the form, also for "Show again".
    showRevealPart('form');
    let message;
    let focus = ui.revealSubmit;
    switch (err.code) {
      case 'invalid_reason':
        message = 'The server did not accept this reason. Choose another one.';
        focus = ui.revealReason;
        setInvalid(ui.revealReason, true);
        break;
      case 'reason_text_required':
        message = 'Describe the reason: a description is required.';
        focus = ui.revealReasonText;
        setInvalid(ui.revealReasonText, true);
        break;
      case 'ticket_required':
        message = 'A ticket number is required to reveal a recovery password.';
        focus = ui.revealTicket;
        setInvalid(ui.revealTicket, true);
        break;
      case 'invalid_ticket':
        message = 'This ticket number is not valid. Check its format.';
        focus = ui.revealTicket;
        setInvalid(ui.revealTicket, true);
        break;
      case 'invalid_key_id':
        message = 'The server did not accept this key ID. Close this dialog and search again.';
        break;
      case 'forbidden':
        message = 'Your role does not allow revealing recovery passwords.';
        break;
      case 'not_permitted':
        message = 'keydesk is not permitted to read this recovery key in the directory. Escalate to the directory team.';
        break;
      case 'key_not_found':
        message = 'This recovery key is no longer in the directory. Close this dialog and search again.';
        break;
      default:
        message = commonErrorText(err);
    }
    say(ui.revealError, message);
    focus.focus();
  } finally {
    if (seq === reveal.seq) {
      reveal.busy = false;
      setBusy(button, false);
    }
  }
}

// Renders the password as numbered groups; the text content of #reveal-password
// is exactly the password (groups joined by "-"), so selecting it copies it.
function passwordGroups(password) {
  return /^\d{6}(-\d{6}){7}$/.test(password) ? password.split('-') : null;
}

function renderPassword(password) {
  const groups = passwordGroups(password);
  ui.revealPassword.replaceChildren();
  ui.revealPassword.classList.toggle('password--raw', !groups);
  if (!groups) {
    ui.revealPassword.append(el('span', { className: 'password-group', text: password }));
    return;
  }
  groups.forEach((g, i) => {
    if (i > 0) ui.revealPassword.append(el('span', { className: 'password-sep', text: '-', attrs: { 'aria-hidden': 'true' } }));
    ui.revealPassword.append(el('span', { className: 'password-group', text: g }));
  });
}

// The "read aloud" view: each group digit by digit, with the digits' names.
function renderSpelling(password) {
  ui.revealSpell.replaceChildren();
  const groups = passwordGroups(password) || [password];
  groups.forEach((g, i) => {
    const digits = el('span', { className: 'spell__digits', attrs: { 'aria-hidden': 'true' } });
    for (const d of g) digits.append(el('span', { className: 'spell__digit', text: d }));
    const words = [...g].map((d) => DIGIT_WORDS[Number(d)] || d);
    // Read in two halves of three, the way people say them on the phone.
    const spoken = words.length === 6 ? `${words.slice(0, 3).join(' ')} – ${words.slice(3).join(' ')}` : words.join(' ');
    ui.revealSpell.append(el('li', { className: 'spell__group' },
      el('span', { className: 'spell__label', text: `Group ${i + 1}` }),
      digits,
      el('span', { className: 'spell__words', text: spoken })));
  });
}

function setSpelling(open) {
  ui.revealSpell.hidden = !open;
  ui.revealSpellToggle.setAttribute('aria-expanded', String(open));
  ui.revealSpellToggle.textContent = open ? 'Hide read-aloud view' : 'Read aloud';
}

function showSecret(password, data) {
  wipeSecret();
  reveal.password = password;
  renderPassword(password);
  renderSpelling(password);
  setSpelling(false);

  const computer = str(data.computer) || (reveal.match ? reveal.match.computer : '');
  ui.dialogTitle.textContent = computer ? `Recovery password for ${computer}` : 'Recovery password';
  showRevealPart('password');
  say(ui.revealCopyStatus, '');

  const seconds = session.revealSeconds;
  reveal.deadline = Date.now() + seconds * 1000;
  ui.revealCountdownBar.max = seconds;
  updateCountdown();
  reveal.tickTimer = window.setInterval(updateCountdown, 250);
  reveal.hideTimer = window.setTimeout(expireSecret, seconds * 1000);
  ui.revealCopy.focus();
}

function updateCountdown() {
  if (!reveal.password) return;
  const left = Math.max(0, Math.ceil((reveal.deadline - Date.now()) / 1000));
  const text = `Hidden automatically in ${left} s`;
  if (ui.revealCountdown.textContent !== text) ui.revealCountdown.textContent = text;
  ui.revealCountdownBar.value = left;
  ui.revealCountdownBar.classList.toggle('countdown__bar--low', left <= 10);
  if (left <= 0) expireSecret();
}

// The display time is over: wipe the password, keep the dialog open with a way
// to show it again (a new, audited reveal).
function expireSecret() {
  if (!reveal.password) return;
  const hadFocus = ui.dialog.contains(document.activeElement);
  wipeSecret();
  ui.dialogTitle.textContent = 'Recovery password hidden';
  ui.revealHiddenText.textContent =
    `The recovery password was hidden after ${formatDuration(session.revealSeconds)}.`;
  showRevealPart('hidden');
  if (hadFocus || ui.dialog.open) ui.revealAgain.focus();
}

function wipeSecret() {
  window.clearInterval(reveal.tickTimer);
  window.clearTimeout(reveal.hideTimer);
  window.clearTimeout(reveal.copyTimer);
  reveal.tickTimer = 0;
  reveal.hideTimer = 0;
  reveal.copyTimer = 0;
  reveal.deadline = 0;
  reveal.password = null;
  ui.revealPassword.replaceChildren();
  ui.revealPassword.classList.remove('password--raw');
  ui.revealSpell.replaceChildren();
  setSpelling(false);
  ui.revealCountdown.textContent = '';
  ui.revealCountdownBar.value = ui.revealCountdownBar.max;
  ui.revealCountdownBar.classList.remove('countdown__bar--low');
  say(ui.revealCopyStatus, '');
  ui.revealCopyStatus.classList.remove('copy-status--problem');
  ui.revealResult.hidden = true;
  const sel = window.getSelection && window.getSelection();
  if (sel && sel.rangeCount && ui.dialog.contains(sel.anchorNode)) sel.removeAllRanges();
}

async function onCopy() {
  if (!reveal.password) return;
  window.clearTimeout(reveal.copyTimer);
  try {
    if (!navigator.clipboard || !navigator.clipboard.writeText) throw new Error('no clipboard');
    await navigator.clipboard.writeText(reveal.password);
    if (!reveal.password) return;
    say(ui.revealCopyStatus, 'Copied');
    ui.revealCopyStatus.classList.remove('copy-status--problem');
  } catch {
    if (!reveal.password) return;
    // Fall back to selecting the text so the user can press Ctrl+C.
    const range = document.createRange();
    range.selectNodeContents(ui.revealPassword);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    say(ui.revealCopyStatus, 'Copying is blocked by the browser: the password is selected, press Ctrl+C.');
    ui.revealCopyStatus.classList.add('copy-status--problem');
  }
  reveal.copyTimer = window.setTimeout(() => say(ui.revealCopyStatus, ''), 4000);
}

// ---------------------------------------------------------------- audit and reports pages

// What the page modules need from here: the API, the shared error texts and the user.
const pageContext = {
  api,
  ApiError,
  commonErrorText,
  handleSessionErrors,
  noteActivity: () => noteActivity(),
  roles: () => (state.user ? state.user.roles : []),
};
const auditPage = createAuditPage(pageContext);
const reportsPage = createReportsPage(pageContext);

// ---------------------------------------------------------------- wiring

ui.signinForm.addEventListener('submit', onSignin);
ui.signoutButton.addEventListener('click', signOut);
ui.lookupForm.addEventListener('submit', onLookup);
ui.lookupQuery.addEventListener('input', () => {
  updateQueryHint();
  if (ui.lookupError.firstChild) say(ui.lookupError, '');
});
ui.revealForm.addEventListener('submit', onReveal);
ui.revealReason.addEventListener('change', () => {
  updateReasonText();
  onRevealFieldEdited(ui.revealReason);
});
for (const field of [ui.revealReasonText, ui.revealTicket, ui.revealEndUser]) {
  field.addEventListener('input', () => onRevealFieldEdited(field));
}
ui.revealCancel.addEventListener('click', closeRevealDialog);
ui.revealClose.addEventListener('click', closeRevealDialog);
ui.revealHiddenClose.addEventListener('click', closeRevealDialog);
ui.revealAgain.addEventListener('click', onRevealAgain);
ui.revealCopy.addEventListener('click', onCopy);
ui.revealSpellToggle.addEventListener('click', () => setSpelling(ui.revealSpell.hidden));
ui.dialog.addEventListener('close', onDialogClosed);
// Escape: the browser closes the dialog after "cancel"; wipe now rather than at "close".
ui.dialog.addEventListener('cancel', () => wipeSecret());

ui.sessionStay.addEventListener('click', onStaySignedIn);
ui.sessionSignout.addEventListener('click', () => {
  hideSessionWarning(false);
  signOut();
});
// Escape on the warning means "I'm still here".
ui.sessionDialog.addEventListener('cancel', (event) => {
  event.preventDefault();
  onStaySignedIn();
});

window.addEventListener('hashchange', () => route({ focus: true }));
// The skip link moves focus without touching the URL's fragment (which names the page).
document.querySelector('.skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  const main = $('main');
  main.focus();
  main.scrollIntoView();
});
if (channel) channel.addEventListener('message', onChannelMessage);

// Timers are throttled in background tabs: re-check the deadlines on return.
document.addEventListener('visibilitychange', () => {
  if (reveal.password && Date.now() >= reveal.deadline) expireSecret();
  sessionTick();
});
// Don't leave a password in the page if it is put in the back/forward cache.
window.addEventListener('pagehide', () => closeRevealDialog());

start();
