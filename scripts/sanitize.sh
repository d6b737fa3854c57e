#!/usr/bin/env bash
# sanitize.sh address|thread: builds the unit and integration suites and the binaries they start
# (rampartd, rampart) with that sanitizer, in .build/asan or .build/tsan, and runs every test
# (root: namespaces). Every sanitizer report, from the test process or from any rampartd or
# rampart it started, goes to a file in $scratch/sanitizer-reports; the run fails if there is one
# (or if a test fails). address: scripts/test.sh (CI) runs it; thread: by hand (docs/hardening.md).
source "$(dirname "$0")/common.sh"
cd "$repo_root"
case "${1:-}" in
    address) scratch=.build/asan; reports="$repo_root/$scratch/sanitizer-reports"
        export ASAN_OPTIONS="detect_leaks=1:log_path=$reports/asan"
        export LSAN_OPTIONS="suppressions=$repo_root/scripts/sanitizers/lsan.supp:print_suppressions=0" ;;
    thread) scratch=.build/tsan; reports="$repo_root/$scratch/sanitizer-reports"
        export TSAN_OPTIONS="halt_on_error=0:log_path=$reports/tsan:suppressions=$repo_root/scripts/sanitizers/tsan.supp" ;;
    *) echo "usage: $0 address|thread" >&2; exit 2 ;;
esac
ensure_packages
flags=(--scratch-path "$scratch" --sanitize="$1" -Xswiftc -use-ld=lld)
swift build --build-tests "${flags[@]}"
rm -rf "$reports"; mkdir -p "$reports"
rc=0
"$repo_root/scripts/bounded-test.sh" "${RAMPART_TEST_TIMEOUT:-3600}" swift test --skip-build "${flags[@]}" || rc=$?
if [ -n "$(ls -A "$reports")" ]; then
    echo "error: $1 sanitizer reports:" >&2
    for f in "$reports"/*; do echo "== $f" >&2; cat "$f" >&2; done
    exit 1
fi
[ "$rc" -eq 0 ] && echo "$1 sanitizer: every test passed, no report"
exit "$rc"
