#!/usr/bin/env bash
# keydesk-config.sh STATE_DIR LISTEN WORKERS TIMEOUT: prints the [server], [directory] and
# [roles] sections of a keydesk config for the slapd instance in STATE_DIR (slapdctl.sh's env
# file): the demo, the browser tests and the benchmarks append their own [audit], [lookup] and
# [limits]. Paths tls/server.pem, tls/server.key are relative to the config's folder.
set -euo pipefail
state=$1 listen=$2 workers=$3 timeout=$4
declare -A dir
while IFS='=' read -r key value; do dir[$key]=$value; done <"$state/env"
cat <<TOML
[server]
listen = "$listen"
tls_certificate = "tls/server.pem"
tls_private_key = "tls/server.key"
worker_threads = $workers

[directory]
uris = ["${dir[KD_LDAPS_URI]}"]
base_dn = "${dir[KD_BASE_DN]}"
bind_dn = "${dir[KD_BIND_DN]}"
bind_password_file = "${dir[KD_BIND_PASSWORD_FILE]}"
tls_ca_file = "${dir[KD_CA_FILE]}"
timeout_seconds = $timeout
domain = "CORP"

[roles]
helpdesk = ["CN=KD-Helpdesk,OU=Groups,DC=corp,DC=example,DC=com"]
auditor = ["CN=KD-Auditors,OU=Groups,DC=corp,DC=example,DC=com"]
security = ["CN=KD-Security,OU=Groups,DC=corp,DC=example,DC=com"]
admin = ["CN=KD-Admins,OU=Groups,DC=corp,DC=example,DC=com"]
TOML
