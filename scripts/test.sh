#!/usr/bin/env bash
# Runs every test: unit tests, golden rulesets checked by the kernel (nft -c in fresh network
# namespaces) and end-to-end CLI tests, then a fuzz smoke run, short crash and soak trials, the
# Debian package's checks, and every suite once more under AddressSanitizer. Needs root (network
# namespaces); installs what it needs.
source "$(dirname "$0")/common.sh"
become_root "$@"
cd "$repo_root"
ensure_packages
# Readable code, checked before anything is built: the formatter's rules (.swift-format, 120
# columns) and no function in Sources over 60 lines.
swift format lint --strict --configuration .swift-format -r Sources Tests Package.swift
long="$(python3 scripts/function-lengths.py Sources 60)"
if [ -n "$long" ]; then echo "functions over 60 lines (split them):"; echo "$long"; exit 1; fi
swift build --build-tests
# The Debian package: built (make deb), lintian-clean, its man pages and completions checked; the
# boot tests below install, upgrade and remove it under systemd.
"$repo_root/scripts/package-test.sh"
# Bounded: a hang fails the run with the tests that never finished and their threads' stacks,
# instead of using up CI's time (RAMPART_TEST_TIMEOUT seconds; the suite takes about 5 minutes).
"$repo_root/scripts/bounded-test.sh" "${RAMPART_TEST_TIMEOUT:-2400}" swift test --skip-build --skip ESPVirtualMachineTests
# The IPsec tests that need ESP and AH in the kernel, in a VM booting Debian's kernel (this one may
# have neither): on their own, since software emulation keeps both cores busy (docs/ipsec.md#tests).
"$repo_root/scripts/bounded-test.sh" 1800 swift test --skip-build --filter ESPVirtualMachineTests
# Every input a fuzz target once crashed on (fuzz/crashes/TARGET-what), replayed: fixed stays fixed.
bin="$(swift build --show-bin-path)"
for f in fuzz/crashes/*; do name="${f##*/}"; "$bin/rampart-fuzz" "${name%%-*}" "$f"; done
# A short smoke run of every fuzz target (libFuzzer + AddressSanitizer, 5 s each): docs/fuzzing.md.
./fuzz/run.sh --smoke
# Short runs of the crash-safety trials and the soak test (docs/hardening.md has the long runs).
python3 scripts/crash-trials.py --trials 20 --filters 300 --writers 4 --rounds 3 --bin "$bin"
python3 scripts/soak.py --minutes 0.5 --bin "$bin"
# Every suite again under AddressSanitizer + LeakSanitizer (about 10 minutes from a clean clone;
# ThreadSanitizer is run by hand: docs/hardening.md).
"$repo_root/scripts/sanitize.sh" address
