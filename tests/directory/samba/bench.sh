#!/usr/bin/env bash
# bench.sh STATE_DIR [QUERIES] -- time Key ID search strategies against a running directory
# (sambactl.sh or slapdctl.sh: it only uses STATE_DIR/env), as the service account, over one
# persistent LDAPS connection per strategy (ldapbench.c, built into STATE_DIR).
# Strategies: equality on the full msFVE-RecoveryGuid; >=/<= range on it for the 8-character
# prefix; (cn=*{XXXXXXXX*); (name=*{XXXXXXXX*); plus the cost of connect+TLS+bind.
set -euo pipefail
(($# >= 1)) || { echo "usage: $0 STATE_DIR [QUERIES]" >&2; exit 2; }
# shellcheck disable=SC1091
. "$1/env.sh"
N=${2:-300}
HERE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
export LDAPCONF=/dev/null LDAPRC=.kd-no-ldaprc

BIN="$KD_STATE_DIR/ldapbench"
[[ "$BIN" -nt "$HERE/ldapbench.c" ]] || cc -O2 -Wall -o "$BIN" "$HERE/ldapbench.c" -lldap -llber

KEYS="$KD_STATE_DIR/bench-keys"
t0=$(date +%s%N)
LDAPTLS_CACERT=$KD_CA_FILE ldapsearch -x -LLL -o ldif-wrap=no -H "$KD_LDAPS_URI" \
    -D "$KD_BIND_DN" -y "$KD_BIND_PASSWORD_FILE" -b "$KD_BASE_DN" -E pr=1000/noprompt \
    '(objectClass=msFVE-RecoveryInformation)' cn 2>/dev/null \
    | sed -n 's/^cn: .*{\([0-9A-Fa-f-]\{36\}\)}$/\1/p' | tr 'a-f' 'A-F' >"$KEYS"
echo "bench: $(wc -l <"$KEYS") recovery objects listed in $((($(date +%s%N) - t0) / 1000000)) ms" \
     "(paged, 1000/page); $N queries per strategy"
# The sample: every (count/N)-th key, in a shuffled but fixed order (the listing is by DN).
sort -R --random-source=<(yes) "$KEYS" -o "$KEYS"
# The server's own CPU time per query (utime+stime of its PID) does not depend on how busy the
# machine is, unlike the wall-clock figures.
SERVER_PID=${KD_DC_PID:-${KD_SLAPD_PID:-}}
TICK=$(getconf CLK_TCK)
cpu_ms() {
    local f
    if [[ -z "$SERVER_PID" ]] || ! read -r f <"/proc/$SERVER_PID/stat" 2>/dev/null; then echo 0; return; fi
    f=${f##*) }
    read -r -a f <<<"$f"
    echo $(((f[11] + f[12]) * 1000 / TICK))
}
echo "bench: load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
for mode in ${KD_BENCH_MODES:-connect eq range cn name}; do
    n=$N
    [[ $mode == connect ]] && n=$((N < 50 ? N : 50))
    c0=$(cpu_ms)
    line=$("$BIN" "$KD_LDAPS_URI" "$KD_CA_FILE" "$KD_BIND_DN" "$KD_BIND_PASSWORD_FILE" \
        "$KD_BASE_DN" "$mode" "$KEYS" "$n")
    c1=$(cpu_ms)
    printf '%s  | server CPU %d.%02d ms/op\n' "$line" $(((c1 - c0) / n)) $(((c1 - c0) * 100 / n % 100))
done
