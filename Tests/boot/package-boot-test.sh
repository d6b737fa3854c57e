#!/usr/bin/env bash
# The Debian package under a real systemd: boots the rootfs (systemd-nspawn --boot) in a network
# namespace of ours with a veth to a prober's, and inside it installs the package (dpkg -i, which
# starts rampartd), assigns a policy blocking UDP port 9, upgrades to a newer version of the same
# package while the prober sends to that port without pause, then removes and purges it. Evidence
# goes to OUT for the test to check:
#   Tests/boot/package-boot-test.sh DEB OUT_DIR
# The container gets CAP_NET_ADMIN in that namespace of ours (nspawn grants it with
# --private-network, not with --network-namespace-path). The newer version is DEB repacked with a higher version number: dpkg upgrades to it (prerm
# upgrade, the new files, postinst configure OLD-VERSION, which restarts rampartd): the path under
# test. Addresses: 192.0.2.1 (the container), 192.0.2.2 (the prober).
set -euo pipefail
deb="$(realpath "$1")"
out="$(realpath -m "$2")"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
source "$repo/scripts/common.sh"
source "$here/rootfs.sh"
source "$here/wait-for.sh"
ensure_boot_tools
container=rp-boot-$$ prober=rp-probe-$$
boot_extra_cleanup() {
    [ -z "${flood:-}" ] || kill "$flood" 2>/dev/null || true
    ip netns del "$container" 2>/dev/null || true
    ip netns del "$prober" 2>/dev/null || true
}
mount_overlay_root
mkdir -p "$out" "$root/debs"

cp "$deb" "$root/debs/old.deb"
version="$(dpkg-deb -f "$deb" Version)"
dpkg-deb -R "$deb" "$work/newer"
sed -i "s/^Version: .*/Version: $version+upgradetest/" "$work/newer/DEBIAN/control"
dpkg-deb -b "$work/newer" "$root/debs/new.deb" >/dev/null
echo "$version" > "$out/version.old"

ip netns add "$container"
ip netns add "$prober"
ip link add rb0 netns "$container" type veth peer name rb1 netns "$prober"
ip -n "$container" addr add 192.0.2.1/24 dev rb0
ip -n "$prober" addr add 192.0.2.2/24 dev rb1
for ns in "$container" "$prober"; do ip -n "$ns" link set lo up; done
ip -n "$container" link set rb0 up
ip -n "$prober" link set rb1 up

install -D -m 0644 "$here/wait-for.sh" "$root/usr/local/lib/rampart-test/wait-for.sh"
cat > "$root/usr/local/bin/rampart-package" <<'SH'
#!/bin/sh
. /usr/local/lib/rampart-test/wait-for.sh
o=/out
# Whether more than $1 of the prober's datagrams have arrived (the probe table's first counter).
arrived_over() {
    [ "$(nft list chain inet probe before | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')" -gt "$1" ] 2>/dev/null
}
exec >$o/marker.log 2>&1
dpkg -i /debs/old.deb >$o/install.txt 2>&1; echo $? >$o/install.rc
systemctl is-active rampartd.service >$o/active.installed
getent group rampart >$o/group
rampart --version >$o/rampart.version
cat >/tmp/policy.netsh <<'NETSH'
pushd ipsec static
add filteraction name=Block action=block
add filter filterlist=Nine srcaddr=any dstaddr=me protocol=udp dstport=9 mirrored=no
add policy name=P assign=yes
add rule name=nine policy=P filterlist=Nine filteraction=Block
popd
NETSH
rampart exec /tmp/policy.netsh >$o/exec.txt 2>&1; echo $? >$o/exec.rc
# Counters of our own around rampart's input chain (priority 0): what arrived, and what passed it.
nft add table inet probe
nft add chain inet probe before '{ type filter hook input priority -10; }'
nft add rule inet probe before udp dport 9 counter comment '"arrived"'
nft add chain inet probe after '{ type filter hook input priority 100; }'
nft add rule inet probe after udp dport 9 counter comment '"passed"'
touch $o/probe-now
wait_for 300 test -e $o/probing
# The prober's datagrams reach the host before the upgrade begins.
wait_for 100 arrived_over 0
systemctl show -p MainPID --value rampartd.service >$o/pid.old
dpkg -i /debs/new.deb >$o/upgrade.txt 2>&1; echo $? >$o/upgrade.rc
systemctl show -p MainPID --value rampartd.service >$o/pid.new
systemctl is-active rampartd.service >$o/active.upgraded
dpkg-query -W -f '${Version}' rampart >$o/version.upgraded
# And go on after it: 500 more (a quarter of a second) before the prober is told to stop.
upgraded_at="$(nft list chain inet probe before | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')"
wait_for 100 arrived_over $((upgraded_at + 500))
touch $o/upgraded
wait_for 300 test -e $o/probed
nft -j list table inet probe >$o/probe.json
rampart status >$o/status.upgraded 2>&1
journalctl -b --no-pager -u rampartd.service >$o/journal.txt 2>&1
dpkg -r rampart >$o/remove.txt 2>&1; echo $? >$o/remove.rc
systemctl is-active rampartd.service >$o/active.removed
nft list table inet rampart >$o/ruleset.removed 2>&1
[ -e /etc/rampart/rampartd.conf ] && echo kept >$o/conf.removed
[ -e /usr/sbin/rampartd ] && echo present >$o/binary.removed
dpkg -P rampart >$o/purge.txt 2>&1; echo $? >$o/purge.rc
ls -d /etc/rampart /var/lib/rampart >$o/purged.ls 2>&1
systemctl poweroff --no-block
SH
chmod 0755 "$root/usr/local/bin/rampart-package"
cat > "$root/etc/systemd/system/rampart-package.service" <<'UNIT'
[Unit]
Description=Install, upgrade and remove the rampart package
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/bin/rampart-package
TimeoutStartSec=150

[Install]
WantedBy=multi-user.target
UNIT
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf ../rampart-package.service "$root/etc/systemd/system/multi-user.target.wants/rampart-package.service"

timeout -k 10 180 systemd-nspawn --quiet --register=no --keep-unit --machine="rampart-pkg-$$" --directory="$root" \
    --network-namespace-path="/run/netns/$container" --capability=CAP_NET_ADMIN --bind="$out:/out" --boot --console=read-only \
    </dev/null >"$out/console.log" 2>&1 &
nspawn=$!

# The prober: 2,000 datagrams a second to the blocked port from just before the upgrade until
# just after it (each flood bounded: 1 s, at most 2,000), summing what it sent.
probe_now_or_gone() { [ -e "$out/probe-now" ] || [ ! -d /proc/$nspawn ]; }
wait_for 1500 probe_now_or_gone || true
sent=0
if [ -e "$out/probe-now" ]; then
    touch "$out/probing"
    for i in $(seq 60); do
        n="$(ip netns exec "$prober" python3 "$repo/scripts/probe.py" flood 192.0.2.1 --rate 2000 --seconds 1 --ports 9-9)"
        sent=$((sent + n))
        [ -e "$out/upgraded" ] && break
    done
fi
echo "$sent" > "$out/sent"
touch "$out/probed"
wait "$nspawn" || true
