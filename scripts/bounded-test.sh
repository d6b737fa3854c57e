#!/usr/bin/env bash
# bounded-test.sh SECONDS COMMAND...: runs a Swift Testing run, its output shown as it comes. If it
# has not ended after SECONDS, prints the tests that started and never finished and every thread's
# stack of the test process (gdb, when installed), kills the run and fails.
set -uo pipefail
limit="$1"; shift
log="$(mktemp /tmp/rampart-test-XXXXXX.log)"
setsid "$@" > >(tee "$log") 2>&1 &
pid=$!
for ((waited = 0; waited < limit; waited++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
done
if kill -0 "$pid" 2>/dev/null; then
    echo "error: the test run did not end within $limit s; started and never finished:" >&2
    python3 - "$log" >&2 <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
started = re.findall(r"◇ Test (\w+\([^)]*\)) started", text)
ended = set(re.findall(r"[✔✘] Test (\w+\([^)]*\)).* (?:passed|failed) after", text))
for name in dict.fromkeys(started):
    if name not in ended:
        print("  " + name)
PY
    if command -v gdb >/dev/null 2>&1; then
        for test in $(pgrep -s "$pid" -f 'PackageTests.xctest'); do
            echo "threads of $test:" >&2
            timeout 60 gdb -p "$test" -batch -ex "thread apply all bt 30" 2>/dev/null | grep -E '^(Thread|#)' >&2
        done
    fi
    kill -KILL -- "-$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$log"
    exit 124
fi
wait "$pid"
rc=$?
rm -f "$log"
exit "$rc"
