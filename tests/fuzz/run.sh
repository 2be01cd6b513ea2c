#!/usr/bin/env bash
# run.sh SECONDS TARGET... - runs each libFuzzer target from build/fuzz/ for SECONDS on a
# copy of its seed corpus (tests/fuzz/corpus/<target>/) in a temporary folder. A finding is
# saved as tests/fuzz/crashes/<target>-<kind>-<sha1> and makes the script fail. Prints one
# summary line per target (exec/s, coverage) from libFuzzer's final output.
set -uo pipefail
cd "$(dirname "$0")/../.."
secs="$1"
shift
mkdir -p tests/fuzz/crashes
fail=0
for t in "$@"; do
    tmp="$(mktemp -d /tmp/gzy-fuzz-XXXXXX)"
    mkdir -p "$tmp/corpus"
    cp -r "tests/fuzz/corpus/$t/." "$tmp/corpus/" 2>/dev/null || true
    echo "fuzz: $t for ${secs}s"
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
        "build/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="tests/fuzz/crashes/$t-" \
        "$tmp/corpus" >"$tmp/log" 2>&1
    rc=$?
    cov="$(grep -Eo 'cov: [0-9]+' "$tmp/log" | tail -1)"
    execs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$tmp/log" | grep -Eo '[0-9]+$')"
    eps="$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "$tmp/log" | grep -Eo '[0-9]+$')"
    if [ "$rc" -ne 0 ]; then
        echo "fuzz: $t FAILED (exit $rc); last lines of its log:"
        tail -n 60 "$tmp/log"
        fail=1
    else
        echo "fuzz: $t ok: ${execs:-?} runs, ${eps:-?} exec/s, ${cov:-cov: ?}"
    fi
    rm -rf "$tmp"
done
exit "$fail"
