#!/usr/bin/env bash
# keydesk's browser tests: headless Debian Chromium, driven by playwright-core (npm, lockfile),
# against the real keydesk binary and the real test directory.
#
#   KEYDESK_BINARY=build/server/keydesk KD_DIRECTORY_STATE=/tmp/kd-dir tests/browser/run.sh [TEST_FILE...]
#
# KEYDESK_BINARY      the keydesk binary (default: <repo>/build/server/keydesk)
# KD_DIRECTORY_STATE  state folder of a running tests/directory/slapd instance; when unset, this
#                     script starts a private one and stops it afterwards
# KD_CHROMIUM         the browser (default: /usr/bin/chromium)
# KD_KEEP_TEST_DIRS   set: keep the keydesk folder (config, log, audit log) for inspection
# KD_BROWSER_JOBS     1 (default): all files in one process, one browser; N: N files at a time
# TEST_FILE...        run only these (default: tests/browser/tests/suite.mjs, which imports them all)
#
# Writes screenshots of the main pages to tests/browser/screenshots/. Exits non-zero when a test
# fails. Never downloads a browser: playwright-core has no install step.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=${KEYDESK_BINARY:-$root/build/server/keydesk}
slapdctl=$root/tests/directory/slapd/slapdctl.sh
export KD_CHROMIUM=${KD_CHROMIUM:-/usr/bin/chromium}

[ -x "$binary" ] || { echo "run.sh: keydesk binary not found: $binary (set KEYDESK_BINARY)" >&2; exit 2; }
[ -x "$KD_CHROMIUM" ] || { echo "run.sh: chromium not found: $KD_CHROMIUM (apt-get install chromium)" >&2; exit 2; }
command -v node >/dev/null || { echo "run.sh: node not found (apt-get install nodejs npm)" >&2; exit 2; }

# --- npm dependencies: exactly the lockfile's, reinstalled when the lockfile changed.
lock_sum=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$here/node_modules/.keydesk-lock-sha256" 2>/dev/null)" != "$lock_sum" ]; then
  echo "== npm ci (tests/browser)"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > "$here/node_modules/.keydesk-lock-sha256"
fi

# --- state: a private folder for this run.
work=$(mktemp -d "${TMPDIR:-/tmp}/kd-browser.XXXXXX")
keydesk_pid=
own_directory=
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$keydesk_pid" ] && kill -0 "$keydesk_pid" 2>/dev/null; then
    kill -TERM "$keydesk_pid" 2>/dev/null || true
    wait "$keydesk_pid" 2>/dev/null || true
  fi
  if [ -n "$own_directory" ]; then "$slapdctl" stop "$own_directory" >/dev/null 2>&1 || true; fi
  if [ $status -ne 0 ] && [ -s "$work/keydesk.log" ]; then
    echo "== keydesk log (last 40 lines)"
    tail -n 40 "$work/keydesk.log"
  fi
  if [ -n "${KD_KEEP_TEST_DIRS:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${KD_DIRECTORY_STATE:-}" ]; then
  own_directory=$work/directory
  "$slapdctl" start "$own_directory" >/dev/null
  KD_DIRECTORY_STATE=$own_directory
fi
[ -s "$KD_DIRECTORY_STATE/env" ] || { echo "run.sh: no directory at $KD_DIRECTORY_STATE (env missing)" >&2; exit 2; }

# --- keydesk: certificate, audit keys (chain and checkpoint signing), config.
"$root/tests/support/make-tls-cert.sh" "$work/tls"
(umask 077 && openssl rand -hex 32 > "$work/audit.key")
{
  echo "# Written by tests/browser/run.sh."
  "$root/tests/directory/slapd/keydesk-config.sh" "$KD_DIRECTORY_STATE" "127.0.0.1:0" 2 5
  cat <<TOML

[audit]
directory = "audit"
key_file = "audit.key"
# Signed checkpoints (the evidence bundle needs them), soon after activity, kept off syslog.
signing_key_file = "audit-signing.pem"
checkpoint_seconds = 2
checkpoint_syslog = ""

[lookup]
min_key_id_chars = 8
require_ticket = true
ticket_pattern = '^INC[0-9]{7}\$'

[reports]
business_hours = "08:00-18:00"
business_days = ["Mon","Tue","Wed","Thu","Fri"]
timezone = "UTC"

[limits]
# The suite reveals and searches as helpdesk1 more often than a person would; the limits
# themselves are tested end to end in C++ (tests/e2e/hardening_e2e_test.cpp).
lookups_per_minute = 10000
reveals_per_10_minutes = 10000
reveals_per_hour = 10000
TOML
} > "$work/keydesk.toml"

"$binary" audit keygen --config "$work/keydesk.toml" >"$work/keygen.log" 2>&1 ||
  { cat "$work/keygen.log" >&2; echo "run.sh: keydesk audit keygen failed" >&2; exit 1; }
"$binary" serve --config "$work/keydesk.toml" --ready-file "$work/ready" >"$work/keydesk.log" 2>&1 &
keydesk_pid=$!
port=
for _ in $(seq 1 150); do
  port=$(cat "$work/ready" 2>/dev/null || true)
  [ -n "$port" ] && break
  kill -0 "$keydesk_pid" 2>/dev/null || { echo "run.sh: keydesk did not start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "run.sh: keydesk not ready after 15 s" >&2; exit 1; }

# Chromium trusts exactly this server key (--ignore-certificate-errors-spki-list); Node (for
# the tests' own API calls) trusts the test CA.
export KEYDESK_SPKI=$(openssl x509 -in "$work/tls/server.pem" -noout -pubkey |
  openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
export NODE_EXTRA_CA_CERTS=$work/tls/ca.pem
export KEYDESK_URL=https://localhost:$port
export KEYDESK_AUDIT_DIR=$work/audit
export KEYDESK_SCREENSHOTS=${KEYDESK_SCREENSHOTS:-$here/screenshots}
mkdir -p "$KEYDESK_SCREENSHOTS"

echo "== browser tests against $KEYDESK_URL ($binary)"
jobs=${KD_BROWSER_JOBS:-1}
if [ $# -eq 0 ]; then
  # Default: every file in one process with one browser; KD_BROWSER_JOBS=N: files in N processes.
  if [ "$jobs" -gt 1 ]; then set -- "$here"/tests/*.test.mjs; else set -- "$here"/tests/suite.mjs; fi
fi
# Test files named relative to where run.sh was called from (e.g. the repository root).
files=()
for f in "$@"; do files+=("$(realpath "$f")"); done
set -- "${files[@]}"
cd "$here"
node --test --test-concurrency="$jobs" --test-reporter=spec "$@"
