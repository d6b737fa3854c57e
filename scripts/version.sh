#!/usr/bin/env bash
# The version lives in debian/changelog (its top entry). This writes its upstream part (before the
# Debian revision) into Sources/RampartSystem/Version.swift, which `rampart --version` and
# `rampartd --version` print; VersionTests fails when the two differ.
#   scripts/version.sh          print the version
#   scripts/version.sh --write  rewrite Version.swift from the changelog
source "$(dirname "$0")/common.sh"
cd "$repo_root"
version="$(sed -n '1s/^rampart (\([^)-]*\)\(-[^)]*\)\?).*/\1/p' debian/changelog)"
[ -n "$version" ] || { echo "error: debian/changelog: no version on its first line" >&2; exit 1; }
if [ "${1:-}" = --write ]; then
    cat > Sources/RampartSystem/Version.swift <<SWIFT
/// rampart's version: the upstream part of debian/changelog's top entry, written by
/// scripts/version.sh --write (VersionTests fails when they differ).
public enum RampartVersion {
    public static let current = "$version"
}
SWIFT
fi
echo "$version"
