#!/usr/bin/env bash
# What `make deb` needs, installed when missing: the Build-Depends of debian/control (apt-get
# build-dep reads them from this checkout) and dpkg-dev, which reads them. The Swift toolchain is
# outside the Debian archive (debian/README.source).
source "$(dirname "$0")/common.sh"
cd "$repo_root"
if command -v dpkg-checkbuilddeps >/dev/null 2>&1 && dpkg-checkbuilddeps 2>/dev/null; then exit 0; fi
echo "installing the build dependencies of debian/control (apt-get build-dep ./)"
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dpkg-dev >/dev/null
as_root env DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq ./ >/dev/null
dpkg-checkbuilddeps
