#!/usr/bin/env bash
# Builds rampart-fuzz with libFuzzer and AddressSanitizer and runs fuzz targets on their corpora.
#   fuzz/run.sh                       every target, 60 s each
#   fuzz/run.sh -t 600 netsh store    those targets, 600 s each
#   fuzz/run.sh -r 10000000 resolvconf   until 10 million executions
#   fuzz/run.sh --smoke               every target, 5 s each (what CI runs)
#   fuzz/run.sh --no-asan -r 10000000 netsh   libFuzzer alone, without AddressSanitizer (2-4x faster;
#                                     for the pure-Swift text parsers, which check bounds themselves)
#   fuzz/run.sh -l 4096 …             longest input (default 65536; auto: libFuzzer's own default,
#                                     the larger of 4096 and the target's largest seed)
# New inputs that add coverage go to fuzz/work/TARGET (not checked in); a crash leaves
# fuzz/work/crash-TARGET-* and the script exits 1. Replay one with the normal build:
#   .build/debug/rampart-fuzz TARGET fuzz/work/crash-TARGET-…   (then make it a regression test)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../scripts/common.sh"
cd "$repo_root"
seconds=60 runs=0 max_len=65536 sanitizers=fuzzer,address scratch=.build/fuzz
while [ $# -gt 0 ]; do
    case "$1" in
        -t) seconds="$2"; shift 2 ;;
        -r) runs="$2"; seconds=0; shift 2 ;;
        --smoke) seconds=5; shift ;;
        --no-asan) sanitizers=fuzzer; scratch=.build/fuzz-noasan; shift ;;
        -l) max_len="$2"; shift 2 ;;
        *) break ;;
    esac
done
# lld: gold fails on the sanitized objects (internal error in format_file_lineno).
swift build -q -c release --scratch-path "$scratch" --product rampart-fuzz -Xswiftc -sanitize="$sanitizers" -Xswiftc -DFUZZING -Xswiftc -use-ld=lld
bin="$scratch/release/rampart-fuzz"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(ls fuzz/corpus))
mkdir -p fuzz/work
status=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/work/$t"
    limit=()
    [ "$seconds" -gt 0 ] && limit+=(-max_total_time="$seconds")
    [ "$runs" -gt 0 ] && limit+=(-runs="$runs")
    log="fuzz/work/$t.log"
    length="$max_len"
    if [ "$length" = auto ]; then
        length="$(find "fuzz/corpus/$t" -type f -printf '%s\n' | sort -n | tail -1)"
        [ "${length:-0}" -gt 4096 ] || length=4096
    fi
    if ASAN_OPTIONS=detect_leaks=0 "$bin" "$t" "${limit[@]}" -max_len="$length" -timeout=10 -rss_limit_mb=4096 \
        -artifact_prefix="fuzz/work/crash-$t-" -print_final_stats=1 "fuzz/work/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
        execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
        echo "$t: ${execs:-?} executions, $cov, no crash"
    else
        echo "$t: CRASH or error, see $log"; tail -20 "$log"
        status=1
    fi
done
exit $status
