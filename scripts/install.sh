#!/usr/bin/env bash
# Builds and installs rampart and rampartd: binaries, the systemd unit, /etc/rampart defaults and
# the 'rampart' group and user. DESTDIR stages the files elsewhere (packaging, boot tests).
source "$(dirname "$0")/common.sh"
cd "$repo_root"
ensure_packages
destdir="${DESTDIR:-}"
# A statically linked Swift runtime: the binaries need only glibc, libstdc++, libnftnl and libmnl.
# Measured against shipping the dynamic build with its runtime (docs/benchmarks.md): both idle
# with 0 wakeups; the static rampartd is 21 MB stripped against 25 MB + 25 MB of runtime, and
# idles at 7 MB resident against 16 MB. No exported symbols (--no-export-dynamic): nothing loads
# plugins into them, and exported functions are never dead-stripped (2.4 MB of rampartd). lld packs
# the relative relocations (DT_RELR, glibc >= 2.36): 1.5 MB less.
flags=(-c release --static-swift-stdlib -Xlinker --no-export-dynamic -Xswiftc -use-ld=lld
    -Xlinker -z -Xlinker pack-relative-relocs)
swift build "${flags[@]}" --product rampart
swift build "${flags[@]}" --product rampartd
bin="$(swift build "${flags[@]}" --show-bin-path)"
install -D -m 0755 -s "$bin/rampart" "$destdir/usr/sbin/rampart"
install -D -m 0755 -s "$bin/rampartd" "$destdir/usr/sbin/rampartd"
install -D -m 0644 systemd/rampartd.service "$destdir/lib/systemd/system/rampartd.service"
[ -e "$destdir/etc/rampart/rampartd.conf" ] || install -D -m 0644 etc/rampart/rampartd.conf "$destdir/etc/rampart/rampartd.conf"
install -d -m 0755 "$destdir/etc/rampart/examples"
install -m 0644 etc/rampart/examples/*.netsh "$destdir/etc/rampart/examples/"
install -d -m 0755 "$destdir/usr/share/doc/rampart"
install -m 0644 docs/*.md "$destdir/usr/share/doc/rampart/"
if [ -z "$destdir" ]; then
    getent group rampart >/dev/null || groupadd --system rampart
    # The unit runs rampartd as user rampart (docs/rampartd.md).
    getent passwd rampart >/dev/null || useradd --system --gid rampart --home-dir /var/lib/rampart --no-create-home \
        --shell /usr/sbin/nologin --comment "Rampart host packet filter daemon" rampart
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        echo "installed; enable with: systemctl enable --now rampartd"
    fi
else
    grep -q '^rampart:' "$destdir/etc/group" 2>/dev/null || echo "rampart:x:999:" >> "$destdir/etc/group"
    grep -q '^rampart:' "$destdir/etc/passwd" 2>/dev/null || \
        echo "rampart:x:999:999:Rampart host packet filter daemon:/var/lib/rampart:/usr/sbin/nologin" >> "$destdir/etc/passwd"
fi
