#!/usr/bin/env bash
# load-directory.sh SIZE STATE_DIR: a running private slapd (tests/directory/slapd/slapdctl.sh)
# holding exactly SIZE BitLocker recovery objects, for the benchmarks.
#
# The first call for a STATE_DIR makes the instance with slapdctl.sh (TLS, passwords, ports and
# the fixtures: staff users, KD-* groups, service account, K1-K5 at KD_DATA_SCALE=0), stops it,
# then reloads the database offline with slapadd from the fixtures' LDIF followed by
# gen-bulk-ldif.py's SIZE-5 generated recovery objects (piped: no LDIF on disk), and starts it
# again. Later calls with the same SIZE reuse the loaded database (slapdctl.sh start only); a
# different SIZE rebuilds the state dir from scratch. Prints one "load:" line with the timings.
# STATE_DIR must not be inside the repository.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
slapdctl="$root/tests/directory/slapd/slapdctl.sh"
PYTHON=/usr/bin/python3
[[ -x "$PYTHON" ]] || PYTHON=$(command -v python3)

size=${1:?usage: load-directory.sh SIZE STATE_DIR}
state=${2:?usage: load-directory.sh SIZE STATE_DIR}
[[ "$size" =~ ^[0-9]+$ ]] && ((size >= 5)) || { echo "load-directory: SIZE must be a number >= 5" >&2; exit 2; }

mkdir -p "$state"
state=$(cd "$state" && pwd -P)
case "$state/" in "$root"/*) echo "load-directory: keep STATE_DIR out of the repository" >&2; exit 2 ;; esac

now_ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
marker="bench recovery_objects=$size"

t0=$(now_ms)
if [[ -f "$state/data/.loaded" ]] && grep -qx "$marker" "$state/data/.loaded"; then
    "$slapdctl" start "$state" >/dev/null
    t1=$(now_ms)
    echo "load: $size recovery objects (cached in $state): slapd start $(secs $((t1 - t0)))s"
    exit 0
fi

# From scratch: a fixtures-only instance first (slapdctl.sh makes every file it needs).
"$slapdctl" stop "$state" >/dev/null 2>&1 || true
rm -rf "$state"
mkdir -p "$state"
KD_DATA_SCALE=0 "$slapdctl" start "$state" >/dev/null
"$slapdctl" stop "$state" >/dev/null
t1=$(now_ms)

# Offline bulk load. slapd.conf is slapdctl.sh's; the copy for slapadd adds tool-threads and
# raises mdb's maxsize (2 GB there; a million recovery objects need ~2.2 GB). slapd itself then
# maps at least the database's size whatever maxsize says (LMDB), so reads work; online writes
# beyond 2 GB would fail with MDB_MAP_FULL (the benchmark writes nothing to the directory).
{ echo "tool-threads 2"; sed 's/^maxsize .*/maxsize 17179869184/' "$state/slapd.conf"; } >"$state/slapadd.conf"
rm -rf "$state/data"
mkdir -p "$state/data"
set +e
{
    cat "$state/data.ldif"
    "$PYTHON" "$here/gen-bulk-ldif.py" --recovery-objects $((size - 5)) 2>"$state/gen.log"
} | /usr/sbin/slapadd -q -f "$state/slapadd.conf" >"$state/slapadd.log" 2>&1
status=("${PIPESTATUS[@]}")
set -e
if ((status[0] != 0 || status[1] != 0)); then
    cat "$state/gen.log" "$state/slapadd.log" >&2
    echo "load-directory: generation or slapadd failed (exit ${status[*]})" >&2
    exit 1
fi
echo "$marker" >"$state/data/.loaded"
t2=$(now_ms)

"$slapdctl" start "$state" >/dev/null
t3=$(now_ms)
db_mb=$(($(du -sk "$state/data" | cut -f1) / 1024))
echo "load: $size recovery objects ($(tail -n1 "$state/gen.log" | sed 's/^gen-bulk-ldif.py: //')):" \
     "instance $(secs $((t1 - t0)))s, generate+slapadd $(secs $((t2 - t1)))s," \
     "slapd start $(secs $((t3 - t2)))s, database ${db_mb} MB, total $(secs $((t3 - t0)))s"
