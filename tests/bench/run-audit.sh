#!/usr/bin/env bash
# tests/bench/run-audit.sh [--quick|--full] [audit_bench options]: the audit trail benchmark.
# Builds audit_bench and runs it; every argument is passed through (see `audit_bench --help`).
# It runs --quick (100,000 records, 2 s append runs, < 1 min) unless given --full (or --records N):
# the 1,000,000-record run (~4-5 min on 2 cores). Figures, not pass/fail: one table on stdout,
# progress on stderr. The logs, keys and index live under --dir (/tmp/keydesk-audit-bench); the
# big log is cached there per size (--rebuild to build it again; `rm -rf` the folder to start over).
# Environment: KEYDESK_JOBS (build parallelism, 2), KD_BENCH_TOOLS (folder holding an audit_bench
# already built: no build).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
case ${1:-} in -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;; esac

if [[ -n ${KD_BENCH_TOOLS:-} ]]; then
    bench=$KD_BENCH_TOOLS/audit_bench
else
    cmake --build "$root/build" --target audit_bench -j"${KEYDESK_JOBS:-2}" >&2  # stdout: the table only
    bench=$root/build/tests/bench/audit_bench
fi
quick=1  # unless a size is asked for
for arg in "$@"; do case $arg in --full|--records|--quick) quick=0 ;; esac; done
((quick)) && set -- --quick "$@"
exec "$bench" "$@"
