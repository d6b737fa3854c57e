#!/usr/bin/env bash
# Builds the Debian package (make deb) and checks it without installing it on this host: lintian
# finds no error or warning, the package holds what docs/packaging.md says, every man page renders
# without a warning (groff -ww -z), the bash completion loads, and both binaries print the
# changelog's version. (Installing, upgrading and removing it is the nspawn boot test's part.)
source "$(dirname "$0")/common.sh"
cd "$repo_root"
ensure_packages
ensure_packaging_tools
make deb
version="$(dpkg-parsechangelog -S Version)"
deb="dist/rampart_${version}_amd64.deb"
echo "== lintian $deb"
lintian --fail-on error,warning "$deb"
contents="$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|')"
for path in /usr/sbin/rampart /usr/sbin/rampartd /lib/systemd/system/rampartd.service /etc/rampart/rampartd.conf \
    /usr/share/man/man8/rampart.8.gz /usr/share/man/man8/rampartd.8.gz /usr/share/man/man5/rampartd.conf.5.gz \
    /usr/share/bash-completion/completions/rampart /usr/share/zsh/vendor-completions/_rampart \
    /usr/share/fish/vendor_completions.d/rampart.fish /usr/share/doc/rampart/examples/web-server.netsh \
    /usr/share/doc/rampart/examples/extensions.netsh /usr/share/doc/rampart/extensions.md.gz /usr/share/doc/rampart/fleet.md.gz /usr/share/doc/rampart/ipsec.md.gz \
    /usr/lib/sysusers.d/rampart.conf /var/lib/rampart/; do
    grep -qx "$path" <<<"$contents" || { echo "error: $deb lacks $path" >&2; exit 1; }
done
dpkg-deb -f "$deb" Depends | grep -q 'libnftnl11' || { echo "error: Depends lacks libnftnl11" >&2; exit 1; }
[ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = /etc/rampart/rampartd.conf ] || { echo "error: rampartd.conf is not the conffile" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp"
for page in "$tmp"/usr/share/man/man*/*.gz; do
    warnings="$(zcat "$page" | groff -ww -z -mandoc 2>&1)"
    [ -z "$warnings" ] || { echo "error: $page: $warnings" >&2; exit 1; }
done
bash -c "source '$tmp/usr/share/bash-completion/completions/rampart' && complete -p rampart" >/dev/null
for b in rampart rampartd; do
    [ "$("$tmp/usr/sbin/$b" --version)" = "${version%%-*}" ] || { echo "error: $b --version is not $version" >&2; exit 1; }
    # ICU's data (34 MB, brought by Foundation proper) marks itself "icudt": docs/benchmarks.md, "Binary size".
    if grep -qa icudt "$tmp/usr/sbin/$b"; then echo "error: $b carries ICU's data (something imports Foundation)" >&2; exit 1; fi
done
size="$(stat -c %s "$tmp/usr/sbin/rampartd")"
[ "$size" -le 25000000 ] || { echo "error: rampartd is $size bytes, over the 25 MB budget" >&2; exit 1; }
echo "package: $deb, $(stat -c %s "$deb") bytes (rampartd $size), lintian clean, pages and completions checked"
