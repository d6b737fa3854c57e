#!/usr/bin/env bash
# Boots a real systemd (systemd-nspawn --boot, private network) with the package installed
# (RAMPART_DEB) and the unit UNIT_FILE, and collects evidence into OUT for the test to check:
#   RAMPART_DEB=dist/rampart_….deb [RAMPART_BIN=DIR] Tests/boot/boot-test.sh UNIT_FILE OUT_DIR
# The Debian rootfs is built once and cached (/var/tmp/rampart-rootfs-bookworm); each run boots a
# throwaway overlay of it, so nothing persists. See shared/reference/systemd-boot-test.md.
set -euo pipefail
unit="$(realpath "$1")"
out="$(realpath -m "$2")"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
source "$repo/scripts/common.sh"

source "$here/rootfs.sh"
ensure_boot_tools
mount_overlay_root
mkdir -p "$out"

# The package, installed as an admin would (dpkg in the rootfs: the group, the enabled unit, the
# conffile); RAMPART_BIN then replaces its binaries with the test bundle's own (a sanitizer build
# boots its own rampartd), with the Swift runtime libraries they link, at the same paths.
bin="${RAMPART_BIN:-$(cd "$repo" && swift build --show-bin-path)}"
cp "${RAMPART_DEB:?the package to install}" "$root/tmp/rampart.deb"
chroot "$root" dpkg -i /tmp/rampart.deb >"$out/dpkg.txt" 2>&1
if [ -n "${RAMPART_BIN:-}" ]; then
    install -m 0755 "$bin/rampartd" "$bin/rampart" "$root/usr/sbin/"
    for lib in $(ldd "$bin/rampartd" "$bin/rampart" | awk '$3 ~ /^\/opt\// {print $3}' | sort -u); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
fi
# UNIT_FILE, when it is not the package's: in /etc, where it takes precedence.
cmp -s "$unit" "$root/lib/systemd/system/rampartd.service" || install -m 0644 "$unit" "$root/etc/systemd/system/rampartd.service"
# Debian's nftables.service enabled too: its 'flush ruleset' at start must come before rampartd.
ln -sf /lib/systemd/system/nftables.service "$root/etc/systemd/system/sysinit.target.wants/nftables.service"
RAMPART_SOCKET=/nonexistent "$bin/rampart" exec --store "$root/var/lib/rampart/store.json" "$repo/etc/rampart/examples/web-server.netsh" >/dev/null 2>&1
# Outbound drops are logged, and summarised every 2 s: the journal path is tested below.
RAMPART_SOCKET=/nonexistent "$bin/rampart" dynamic set config ipsecdiagnostics 2 --store "$root/var/lib/rampart/store.json" >/dev/null
echo "log_interval_seconds = 2" >> "$root/etc/rampart/rampartd.conf"
# The documented paths, written under the unit's sandbox: the W3C log in LogsDirectory, the
# textfile in node_exporter's directory through the drop-in docs/metrics.md gives.
printf 'log_file = /var/log/rampart/drops.log\nmetrics_textfile = /var/lib/prometheus/node-exporter/rampart.prom\nmetrics_interval_seconds = 1\n' \
    >> "$root/etc/rampart/rampartd.conf"
chroot "$root" install -d -o rampart -g rampart -m 0755 /var/lib/prometheus/node-exporter
mkdir -p "$root/etc/systemd/system/rampartd.service.d"
printf '[Service]\nReadWritePaths=/var/lib/prometheus/node-exporter\n' > "$root/etc/systemd/system/rampartd.service.d/textfile.conf"

# The marker collects the evidence once the system is up, then powers off.
install -D -m 0644 "$here/wait-for.sh" "$root/usr/local/lib/rampart-test/wait-for.sh"
cat > "$root/usr/local/bin/rampart-collect" <<'SH'
#!/bin/sh
. /usr/local/lib/rampart-test/wait-for.sh
o=/out
lists_8081() { nft list ruleset | grep -q "dport 8081"; }
journal_has_drops() { journalctl -q -o json MESSAGE_ID=b0652373b651450e94d4462294043fbd | grep -q .; }
systemctl is-active rampartd.service > $o/active
systemctl show -p ActiveEnterTimestampMonotonic --value rampartd.service > $o/rampartd.ts
systemctl show -p ActiveEnterTimestampMonotonic --value network-pre.target > $o/netpre.ts
systemctl show -p After --value network-pre.target > $o/netpre.after
nft list ruleset > $o/ruleset.txt 2>&1
systemctl show -p ActiveEnterTimestampMonotonic --value nftables.service > $o/nftables.ts
systemctl show -p ExecMainStartTimestampMonotonic --value rampartd.service > $o/rampartd.start
systemctl show -p After --value rampartd.service > $o/rampartd.after
rampart status --json > $o/status.json 2>&1
systemctl show -p MainPID --value rampartd.service > $o/pid.before
# Who rampartd runs as, with which capabilities, and the unit's exposure as systemd rates it live.
ps -o user= -p "$(cat $o/pid.before)" > $o/user 2>&1
grep -E '^Cap(Eff|Prm|Bnd|Amb):' /proc/"$(cat $o/pid.before)"/status > $o/caps 2>&1
systemd-analyze security rampartd.service > $o/security.txt 2>&1
stat -c '%U %a' /var/lib/rampart/store.json > $o/store.stat 2>&1
stat -c '%U %a' /var/lib/rampart > $o/statedir.stat 2>&1
rampart static add filter filterlist="Web In" srcaddr=any dstaddr=me protocol=tcp dstport=8081 --store /var/lib/rampart/store.json > $o/offline.txt 2>&1
systemctl reload rampartd.service > $o/reload.txt 2>&1
wait_for 50 lists_8081
nft list ruleset > $o/ruleset-after-reload.txt 2>&1
systemctl show -p MainPID --value rampartd.service > $o/pid.after
systemd-analyze verify /etc/systemd/system/rampartd.service > $o/verify.txt 2>&1; echo $? > $o/verify.rc
# Five datagrams out of a veth link (documentation addresses): the policy blocks them, rampartd
# logs them to the journal as one record with its fields.
ip link add rp0 type veth peer name rp1
# No IPv6 on the link: its MLD reports would be blocked (and logged) too.
echo 1 > /proc/sys/net/ipv6/conf/rp0/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/rp1/disable_ipv6
ip addr add 192.0.2.1/24 dev rp0 && ip link set rp0 up && ip link set rp1 up
bash -c 'for i in 1 2 3 4 5; do echo x 2>/dev/null > /dev/udp/192.0.2.2/9; done' 2>/dev/null
wait_for 100 journal_has_drops
journalctl -b -q --no-pager -o json MESSAGE_ID=5fc87e72c7924a2c9bb114fbaef7a8bf MESSAGE_ID=b0652373b651450e94d4462294043fbd > $o/drops.json 2>&1
rampart logs --format json > $o/logs.json 2>&1
wait_for 50 grep -qs "F16" /var/log/rampart/drops.log
cat /var/log/rampart/drops.log > $o/drops.log 2>&1
stat -c '%U %a' /var/log/rampart/drops.log > $o/drops.log.stat 2>&1
cat /var/lib/prometheus/node-exporter/rampart.prom > $o/rampart.prom 2>&1
stat -c '%U %a' /var/lib/prometheus/node-exporter/rampart.prom > $o/rampart.prom.stat 2>&1
journalctl -b --no-pager -u rampartd.service > $o/journal.txt 2>&1
systemctl poweroff --no-block
SH
chmod 0755 "$root/usr/local/bin/rampart-collect"
cat > "$root/etc/systemd/system/rampart-collect.service" <<'UNIT'
[Unit]
Description=Collect rampart boot-test evidence
After=multi-user.target rampartd.service network-pre.target

[Service]
Type=oneshot
ExecStart=/usr/local/bin/rampart-collect

[Install]
WantedBy=multi-user.target
UNIT
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf ../rampart-collect.service "$root/etc/systemd/system/multi-user.target.wants/rampart-collect.service"

start=$(date +%s%N)
timeout -k 10 120 systemd-nspawn --quiet --register=no --keep-unit --machine="rampart-boot-$$" --directory="$root" \
    --private-network --bind="$out:/out" --boot --console=read-only </dev/null >"$out/console.log" 2>&1 || true
echo $(( ($(date +%s%N) - start) / 1000000 )) > "$out/boot-ms"
