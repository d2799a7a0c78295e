// The whole browser suite in one process, sharing one Chromium (each test still gets its own
// browser context). run.sh runs this; every *.test.mjs also runs on its own.
import './helpdesk.test.mjs';
import './keyboard.test.mjs';
import './signin.test.mjs';
import './session.test.mjs';
import './csp.test.mjs';
import './a11y.test.mjs';
import './audit.test.mjs';
import './reports.test.mjs';
