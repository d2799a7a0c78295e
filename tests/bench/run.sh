#!/usr/bin/env bash
# tests/bench/run.sh [--quick] [options] [SIZE ...]: keydesk's benchmark suite. Prints figures,
# not pass/fail. For each SIZE (recovery objects; default 10000 100000 1000000, --quick = 10000
# with short runs): fill a private slapd (load-directory.sh, cached between runs), start keydesk
# on it and measure its ready time and idle RSS, run the raw libldap baseline (equality on the
# full GUID; the leading-wildcard substring on 8 characters) and keydesk itself (lookup;
# lookup+reveal, each audited with fsync) with the same number of concurrent clients, then print
# ONE table. Everything started here is stopped at the end (also on Ctrl-C or failure).
#
# Options: --clients N (16)  --duration S (10)  --warmup S (1)  --workers N (keydesk
# worker_threads = LDAP pool size; default = clients)  --state-dir DIR (/tmp/keydesk-bench:
# directory states, cached per size; keydesk's files, fresh per run).
# Environment: KEYDESK_JOBS (build parallelism, 2), KD_BENCH_KEYDESK (use this keydesk binary,
# do not build it), KD_BENCH_TOOLS (folder holding raw_ldap_bench and keydesk_load already
# built), KD_BENCH_KEYDESK_TOML (extra TOML for keydesk's config, appended to its [lookup]
# table; a further [table] may follow, except [limits], which run.sh writes itself when the
# binary has it), KD_BENCH_SKIP_DEPS=1 (do not call deploy/install-deps.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
jobs=${KEYDESK_JOBS:-2}
slapdctl=$root/tests/directory/slapd/slapdctl.sh

quick=0 clients=16 duration=10 warmup=1 workers= work=${KD_BENCH_DIR:-/tmp/keydesk-bench}
sizes=()
while (($#)); do
    case $1 in
        --quick) quick=1 ;;
        --clients) clients=$2; shift ;;
        --duration) duration=$2; shift ;;
        --warmup) warmup=$2; shift ;;
        --workers) workers=$2; shift ;;
        --state-dir) work=$2; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        [0-9]*) sizes+=("$1") ;;
        *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if ((quick)); then
    ((${#sizes[@]})) || sizes=(10000)
    duration=3
    warmup=1
fi
((${#sizes[@]})) || sizes=(10000 100000 1000000)
workers=${workers:-$clients}
mkdir -p "$work"
work=$(cd "$work" && pwd -P)
case "$work/" in "$root"/*) echo "run.sh: keep --state-dir out of the repository" >&2; exit 2 ;; esac

now_ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
phase_start=$(now_ms)
phase() {  # NAME: prints the time the previous phase took
    local t
    t=$(now_ms)
    echo "== $(date -u +%T) $1 (previous phase $(secs $((t - phase_start)))s)"
    phase_start=$t
}
run_start=$(now_ms)

# ---------------------------------------------------------------- dependencies and build
phase "dependencies and build"
[[ "${KD_BENCH_SKIP_DEPS:-0}" == 1 ]] || "$root/deploy/install-deps.sh"
targets=()
[[ -n "${KD_BENCH_KEYDESK:-}" ]] || targets+=(keydesk)
[[ -n "${KD_BENCH_TOOLS:-}" ]] || targets+=(raw_ldap_bench keydesk_load)
if ((${#targets[@]})); then
    [[ -f "$build/CMakeCache.txt" ]] ||
        cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$build" -j"$jobs" --target "${targets[@]}"
fi
keydesk_bin=${KD_BENCH_KEYDESK:-$build/server/keydesk}
tools=${KD_BENCH_TOOLS:-$build/tests/bench}
raw_bench=$tools/raw_ldap_bench
load_gen=$tools/keydesk_load
for b in "$keydesk_bin" "$raw_bench" "$load_gen"; do
    [[ -x "$b" ]] || { echo "run.sh: $b missing" >&2; exit 1; }
done

# ---------------------------------------------------------------- cleanup
current_state=
keydesk_pid=
stop_keydesk() {
    [[ -n "$keydesk_pid" ]] || return 0
    if kill -0 "$keydesk_pid" 2>/dev/null; then
        kill -TERM "$keydesk_pid" 2>/dev/null || true
        for _ in $(seq 1 150); do kill -0 "$keydesk_pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$keydesk_pid" 2>/dev/null && kill -KILL "$keydesk_pid" 2>/dev/null || true
    fi
    wait "$keydesk_pid" 2>/dev/null || true
    keydesk_pid=
}
stop_directory() {
    [[ -n "$current_state" ]] || return 0
    "$slapdctl" stop "$current_state" >/dev/null 2>&1 || true
    current_state=
}
cleanup() {
    trap - EXIT INT TERM
    stop_keydesk
    stop_directory
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# "key=value" from a RESULT line
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }
load1() { cut -d' ' -f1 /proc/loadavg; }

declare -A R  # R[size,row,field]
notes=()

start_keydesk() {  # SIZE STATE_DIR
    local size=$1 state=$2 kd=$work/keydesk-$1
    rm -rf "$kd"
    mkdir -p "$kd"
    "$root/tests/support/make-tls-cert.sh" "$kd/tls" >/dev/null
    (umask 077 && openssl rand -hex 32 >"$kd/audit.key")
    {
        echo "# Written by tests/bench/run.sh."
        # timeout 120 s, the maximum: a leading-wildcard scan of a large directory under load
        # takes long; the benchmark wants its latency, not a timeout.
        "$root/tests/directory/slapd/keydesk-config.sh" "$state" "127.0.0.1:0" "$workers" 120
        cat <<TOML

[audit]
directory = "audit"
key_file = "audit.key"

[lookup]
min_key_id_chars = 8
${KD_BENCH_KEYDESK_TOML:-}
TOML
    } >"$kd/keydesk.toml"
    # keydesk builds with per-staff rate limits ([limits], 60 lookups/min and 10 reveals/10 min
    # by default) would turn the load into 429s: lift them when the binary knows the section.
    if grep -aq 'lookups_per_minute' "$keydesk_bin"; then
        cat >>"$kd/keydesk.toml" <<TOML

[limits]
lookups_per_minute = 1000000
lookups_per_hour = 100000000
reveals_per_10_minutes = 1000000
reveals_per_hour = 100000000
TOML
    fi
    local t0 t1
    t0=$(date +%s%N)
    "$keydesk_bin" serve --config "$kd/keydesk.toml" --ready-file "$kd/ready" >"$kd/keydesk.log" 2>&1 &
    keydesk_pid=$!
    while ! grep -qs $'^[0-9][0-9]*$' "$kd/ready"; do
        if ! kill -0 "$keydesk_pid" 2>/dev/null; then
            tail -n 20 "$kd/keydesk.log" >&2
            echo "run.sh: keydesk exited during start-up" >&2
            keydesk_pid=
            return 1
        fi
        if (($(date +%s%N) - t0 > 120000000000)); then
            echo "run.sh: keydesk not ready after 120 s" >&2
            return 1
        fi
        sleep 0.005
    done
    t1=$(date +%s%N)
    KD_PORT=$(head -n1 "$kd/ready")
    KD_CA=$kd/tls/ca.pem
    R[$size,kd,ready_ms]=$(((t1 - t0) / 1000000))
    # The index loads in the background after ready; measure once it has (lookups before that
    # fall back to live searches).
    local waited=0
    until curl -s --cacert "$KD_CA" "https://localhost:$KD_PORT/readyz" | grep -q '"loaded":true'; do
        sleep 0.2
        waited=$((waited + 1))
        if ((waited > 3000)); then echo "run.sh: the index did not load in 600 s" >&2; break; fi
    done
    local t2
    t2=$(date +%s%N)
    R[$size,kd,index_ms]=$(((t2 - t0) / 1000000))
    local index
    index=$(curl -s --cacert "$KD_CA" "https://localhost:$KD_PORT/readyz")
    notes+=("$size: index loaded $((R[$size,kd,index_ms])) ms after start: $(grep -o '"index":{[^}]*}' <<<"$index")")
    sleep 1
    R[$size,kd,idle_kb]=$(awk '/^VmRSS:/{print $2}' "/proc/$keydesk_pid/status")
}

for size in "${sizes[@]}"; do
    state=$work/directory-$size
    phase "size $size: directory"
    stop_directory
    current_state=$state
    line=$("$here/load-directory.sh" "$size" "$state")
    echo "$line"
    notes+=("$size: ${line#load: $size recovery objects }")

    keys=$state/bench-keys.txt
    if [[ ! -s "$keys" ]]; then
        phase "size $size: Key ID sample (paged read of every recovery object)"
        "$raw_bench" --env "$state" --mode sample --sample-file "$keys" --sample-size 2000 | grep -v '^RESULT'
    fi
    notes+=("$size: sample $(head -n1 "$keys" | sed 's/^# //')")

    for mode in equality substring; do
        phase "size $size: raw LDAP $mode, $clients threads"
        R[$size,raw_$mode,load1]=$(load1)
        out=$("$raw_bench" --env "$state" --mode "$mode" --threads "$clients" --duration "$duration" \
              --warmup "$warmup" --sample-file "$keys" --timeout 600)
        echo "$out" | grep -v '^RESULT'
        result=$(grep '^RESULT' <<<"$out")
        for f in p50_ms p99_ms rps errors misses requests; do R[$size,raw_$mode,$f]=$(field "$result" $f); done
    done

    phase "size $size: keydesk start"
    start_keydesk "$size" "$state"
    echo "keydesk ready in ${R[$size,kd,ready_ms]} ms (pid $keydesk_pid, port $KD_PORT), idle RSS $((R[$size,kd,idle_kb] / 1024)) MB"
    for mode in lookup reveal; do
        phase "size $size: keydesk $mode, $clients clients"
        R[$size,kd_$mode,load1]=$(load1)
        out=$("$load_gen" --port "$KD_PORT" --ca "$KD_CA" --keys "$keys" --mode "$mode" \
              --clients "$clients" --duration "$duration" --warmup "$warmup" --pid "$keydesk_pid")
        echo "$out" | grep -v '^RESULT'
        result=$(grep '^RESULT' <<<"$out")
        for f in p50_ms p99_ms rps errors misses requests peak_rss_kb reveal_p50_ms lookup_p50_ms; do
            R[$size,kd_$mode,$f]=$(field "$result" $f)
        done
    done
    R[$size,kd,after_kb]=$(awk '/^VmRSS:/{print $2}' "/proc/$keydesk_pid/status")
    R[$size,kd,hwm_kb]=$(awk '/^VmHWM:/{print $2}' "/proc/$keydesk_pid/status")
    audit_records=$(cat "$work/keydesk-$size"/audit/audit-*.jsonl 2>/dev/null | wc -l)
    notes+=("$size: keydesk $audit_records audit records; RSS after the runs $((R[$size,kd,after_kb] / 1024)) MB; log $work/keydesk-$size/keydesk.log")
    phase "size $size: stop"
    stop_keydesk
    stop_directory
done
phase "report"

# ---------------------------------------------------------------- the table
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else if (a / b >= 0.01) printf "%.2f", a / b; else printf "%.1e", a / b }'; }
diff_ms() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "-"; else { d = a - b; m = d < 0 ? -d : d; if (m >= 100) printf "%+.0f", d; else if (m >= 10) printf "%+.1f", d; else printf "%+.2f", d } }'; }
mb() { [[ -n "$1" && "$1" != -1 ]] && awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }' || echo "-"; }
fmt() { awk -v v="$1" 'BEGIN { if (v == "") print "-"; else if (v + 0 >= 100) printf "%.0f", v; else if (v + 0 >= 10) printf "%.1f", v; else printf "%.2f", v }'; }

echo
echo "keydesk benchmark: $clients concurrent clients/threads, ${duration}s per run after ${warmup}s warm-up," \
     "keydesk worker_threads=$workers, $(nproc) CPUs, $(date -u +%FT%TZ), keydesk binary $keydesk_bin ($(stat -c %y "$keydesk_bin" | cut -d. -f1))"
echo "raw = libldap, one LDAPS connection per thread (directory's own limit); keydesk = HTTPS keep-alive, signed-in helpdesk1;"
echo "ratios and Δp50 = keydesk row vs the raw equality (eq) and raw substring (sub) rows of the same size; load1 = 1-min load average when the run began"
hdr="%-8s %-34s %9s %9s %9s %6s | %8s %7s %7s | %8s %7s %7s | %8s %8s %6s %5s\n"
printf "$hdr" size measurement "p50 ms" "p99 ms" "req/s" errors "Δp50 eq" "×p50 eq" "×rps eq" "Δp50 sb" "×p50 sb" "×rps sb" "peak RSS" "idle RSS" "ready" load1
printf "$hdr" "" "" "" "" "" "" "ms" "" "" "ms" "" "" "MB" "MB" "ms" ""
for size in "${sizes[@]}"; do
    for row in raw_equality raw_substring kd_lookup kd_reveal; do
        case $row in
            raw_equality) label="raw LDAP equality (full GUID)" ;;
            raw_substring) label="raw LDAP substring cn=*{8 chars*" ;;
            kd_lookup) label="keydesk lookup (8 chars)" ;;
            kd_reveal) label="keydesk lookup+reveal (pair)" ;;
        esac
        p50=${R[$size,$row,p50_ms]:-} p99=${R[$size,$row,p99_ms]:-} rps=${R[$size,$row,rps]:-}
        errs=$((${R[$size,$row,errors]:-0} + ${R[$size,$row,misses]:-0}))
        eq_d=- eq_p=- eq_r=- sb_d=- sb_p=- sb_r=- peak=- idle=- ready=-
        if [[ $row == kd_* ]]; then
            eq_d=$(diff_ms "$p50" "${R[$size,raw_equality,p50_ms]:-}")
            eq_p=$(ratio "$p50" "${R[$size,raw_equality,p50_ms]:-}")
            eq_r=$(ratio "$rps" "${R[$size,raw_equality,rps]:-}")
            sb_d=$(diff_ms "$p50" "${R[$size,raw_substring,p50_ms]:-}")
            sb_p=$(ratio "$p50" "${R[$size,raw_substring,p50_ms]:-}")
            sb_r=$(ratio "$rps" "${R[$size,raw_substring,rps]:-}")
            peak=$(mb "${R[$size,$row,peak_rss_kb]:-}")
            idle=$(mb "${R[$size,kd,idle_kb]:-}")
            ready=${R[$size,kd,ready_ms]:--}
        fi
        printf "$hdr" "$size" "$label" "$(fmt "$p50")" "$(fmt "$p99")" "$(fmt "$rps")" "$errs" \
            "$eq_d" "$eq_p" "$eq_r" "$sb_d" "$sb_p" "$sb_r" "$peak" "$idle" "$ready" "${R[$size,$row,load1]:--}"
    done
done
echo "(errors = failed requests + lookups that did not return the sampled key; lookup+reveal = one lookup then one reveal, timed as a pair)"
for n in "${notes[@]}"; do echo "  $n"; done
echo "total $(secs $(($(now_ms) - run_start)))s"
