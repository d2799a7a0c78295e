#!/usr/bin/env bash
# keydesk's demo: installs what is missing, builds, starts a private AD-shaped OpenLDAP with
# sample data (≥ 200 computers, ≥ 300 recovery keys, staff in nested groups), makes a self-signed
# certificate and runs `keydesk serve` on https://localhost:8443 in the foreground.
# Ctrl-C stops keydesk and the directory. State lives in ./demo-state (KEYDESK_DEMO_DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=${KEYDESK_DEMO_DIR:-$root/demo-state}
port=${KEYDESK_DEMO_PORT:-8443}

"$root/deploy/install-deps.sh"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j2 --target keydesk

mkdir -p "$state"
state=$(cd "$state" && pwd)
slapdctl="$root/tests/directory/slapd/slapdctl.sh"
keydesk_pid=
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$keydesk_pid" ] && kill -0 "$keydesk_pid" 2>/dev/null; then
    kill -TERM "$keydesk_pid" 2>/dev/null || true
    wait "$keydesk_pid" 2>/dev/null || true
  fi
  "$slapdctl" stop "$state/directory" >/dev/null 2>&1 || true
  echo "demo stopped (state kept in $state)"
}
trap cleanup EXIT INT TERM

"$slapdctl" start "$state/directory"

"$root/tests/support/make-tls-cert.sh" "$state/tls"
if [ ! -s "$state/audit.key" ]; then
  (umask 077 && openssl rand -hex 32 > "$state/audit.key")
fi
{
  echo "# Written by deploy/demo.sh: a demo against a private slapd. See deploy/keydesk.example.toml."
  "$root/tests/directory/slapd/keydesk-config.sh" "$state/directory" "127.0.0.1:$port" 4 5
  cat <<TOML

[audit]
directory = "audit"
key_file = "audit.key"
signing_key_file = "audit-signing.pem"
checkpoint_file = "checkpoints/checkpoints.jsonl"

[lookup]
min_key_id_chars = 8
TOML
} > "$state/keydesk.toml"

mkdir -p "$state/checkpoints"
[ -s "$state/audit-signing.pem" ] || "$root/build/server/keydesk" audit keygen --config "$state/keydesk.toml"
"$root/build/server/keydesk" serve --config "$state/keydesk.toml" --ready-file "$state/ready" &
keydesk_pid=$!
for _ in $(seq 1 100); do
  [ -s "$state/ready" ] && break
  kill -0 "$keydesk_pid" 2>/dev/null || { echo "keydesk did not start"; exit 1; }
  sleep 0.1
done
rm -f "$state/ready"

cat <<INFO

  keydesk demo is running:  https://localhost:$port
  (self-signed: trust $state/tls/ca.pem, or accept the browser's warning)

  Sign in as                 password          role
  helpdesk1                  Helpdesk1-Pass!   helpdesk (through a nested group)
  auditor1                   Auditor1-Pass!    auditor
  security1                  Security1-Pass!   security
  admin1                     Admin1-Pass!      admin

  Try Key ID 063EA4E1 (two keys on LAPTOP-0042), 1F5A63B3 (two computers), or computer WS-0007.
  Verify the audit log:  $root/build/server/keydesk audit verify --config $state/keydesk.toml
  Check the install:     $root/build/server/keydesk doctor --config $state/keydesk.toml
  Ctrl-C stops keydesk and the directory.

INFO
wait "$keydesk_pid"
