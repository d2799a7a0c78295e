#!/usr/bin/env bash
# Runs keydesk's libFuzzer harnesses: first each one's regression inputs and committed corpus
# (every input once), then fuzzing for N seconds from a scratch copy of the corpus, with its
# dictionary. Fails if any harness crashes, leaks, times out or breaks a property.
#
#   tests/fuzz/run.sh [seconds] [harness...]      default: 60 seconds, every harness
#
# The binaries come from $KEYDESK_FUZZ_BIN (default: build-sanitize/tests/fuzz), built with
#   CC=clang CXX=clang++ cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Debug \
#     -DKEYDESK_SANITIZE=ON -DKEYDESK_FUZZ=ON && cmake --build build-sanitize
# Logs and failing inputs go to $KEYDESK_FUZZ_ARTIFACTS (default: a fresh directory under /tmp,
# printed, and removed again when every harness passed); to make a failing input a regression
# test, copy it to tests/fuzz/regressions/<harness>/.
# $KEYDESK_FUZZ_ARGS adds libFuzzer flags (e.g. "-fork=2" to use two cores).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-60}
shift || true
all=(key_id ldap_filter http_request cookie_header config audit_verify audit_filter)
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${all[@]}")
bin=${KEYDESK_FUZZ_BIN:-$root/build-sanitize/tests/fuzz}
own_artifacts=0
if [ -z "${KEYDESK_FUZZ_ARTIFACTS:-}" ]; then
    KEYDESK_FUZZ_ARTIFACTS=$(mktemp -d /tmp/keydesk-fuzz-artifacts.XXXXXX)
    own_artifacts=1  # removed again if every harness passes
fi
artifacts=$KEYDESK_FUZZ_ARTIFACTS
mkdir -p "$artifacts"
scratch=$(mktemp -d /tmp/keydesk-fuzz-corpus.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

max_len() {
    case "$1" in
        http_request) echo 32768 ;;  # past the 8 KiB header and 16 KiB body limits
        config) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

status=0
summary=()
for name in "${harnesses[@]}"; do
    exe="$bin/fuzz_$name"
    if [ ! -x "$exe" ]; then
        echo "fuzz: $exe is missing (configure with -DKEYDESK_FUZZ=ON and build)" >&2
        exit 2
    fi
    log="$artifacts/$name.log"
    mkdir -p "$artifacts/$name"

    replay=()
    for dir in "$here/regressions/$name" "$here/corpus/$name"; do
        [ -d "$dir" ] && while IFS= read -r -d '' file; do replay+=("$file"); done \
            < <(find "$dir" -type f -print0 | sort -z)
    done
    if [ ${#replay[@]} -gt 0 ]; then
        if ! "$exe" -runs=1 "${replay[@]}" >"$log.replay" 2>&1; then
            echo "fuzz: $name FAILED on a committed input (see $log.replay)"
            tail -n 30 "$log.replay"
            summary+=("$name: FAILED replaying regressions/corpus")
            status=1
            continue
        fi
    fi

    corpus="$scratch/$name"
    mkdir -p "$corpus"
    [ -d "$here/corpus/$name" ] && cp -r "$here/corpus/$name/." "$corpus/"
    dict=()
    [ -f "$here/$name.dict" ] && dict=("-dict=$here/$name.dict")
    # shellcheck disable=SC2086
    if "$exe" "$corpus" "${dict[@]}" -max_total_time="$seconds" -print_final_stats=1 \
        -max_len="$(max_len "$name")" -timeout=30 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts/$name/" ${KEYDESK_FUZZ_ARGS:-} >"$log" 2>&1; then
        result=ok
    else
        result=FAILED
        status=1
        echo "fuzz: $name FAILED (log: $log, input: $artifacts/$name/)"
        grep -E "ERROR|property failed|detail:|SUMMARY|deadly signal|Test unit written" "$log" | head -n 20 || true
    fi
    execs=$(awk '/stat::number_of_executed_units:/ {print $2}' "$log" | tail -n 1)
    rate=$(awk '/stat::average_exec_per_sec:/ {print $2}' "$log" | tail -n 1)
    found=$(find "$corpus" -type f | wc -l)
    line="$name: $result, ${execs:-?} executions in ${seconds}s (${rate:-?}/s), corpus $found inputs"
    echo "fuzz: $line"
    summary+=("$line")
done

if [ $status -eq 0 ] && [ $own_artifacts -eq 1 ]; then
    rm -rf "$artifacts"
    echo "== fuzz summary"
else
    echo "== fuzz summary (logs and any failing inputs: $artifacts)"
fi
printf '  %s\n' "${summary[@]}"
exit $status
