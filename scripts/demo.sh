#!/usr/bin/env bash
# Demo on a safe built-in default: rampartd enforces the standalone web server policy from
# Burnett's article in a throwaway "server" network namespace; real TCP/UDP probes from an
# "internal" and an "external" client namespace show what passes and what is dropped; the DNS
# server changes in resolv.conf and the DNS permit follows; the drops come back as aggregated
# records (rampart logs) and the monitor shows one frame. Documentation addresses only, on veth
# links between the demo's own namespaces; everything is deleted on exit.
source "$(dirname "$0")/common.sh"
become_root "$@"
cd "$repo_root"
ensure_packages
swift build -q
bin="$(swift build --show-bin-path)"
rampart="$bin/rampart"
probe="$repo_root/scripts/probe.py"

work="$(mktemp -d)"
tag="rampart-demo-$$"
srv="$tag-server" int="$tag-internal" ext="$tag-external"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    for ns in "$srv" "$int" "$ext"; do ip netns delete "$ns" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
export RAMPART_STORE="$work/store.json" RAMPART_SOCKET="$work/control.sock"

for ns in "$srv" "$int" "$ext"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
ip link add rd-si netns "$srv" type veth peer name rd-is netns "$int"
ip link add rd-se netns "$srv" type veth peer name rd-es netns "$ext"
ip -n "$srv" addr add 198.51.100.1/24 dev rd-si; ip -n "$srv" addr add 2001:db8:100::1/64 dev rd-si nodad
ip -n "$int" addr add 198.51.100.10/24 dev rd-is; ip -n "$int" addr add 2001:db8:100::10/64 dev rd-is nodad
ip -n "$srv" addr add 203.0.113.1/24 dev rd-se; ip -n "$srv" addr add 2001:db8:203::1/64 dev rd-se nodad
ip -n "$ext" addr add 203.0.113.10/24 dev rd-es; ip -n "$ext" addr add 2001:db8:203::10/64 dev rd-es nodad
for pair in "$srv rd-si" "$srv rd-se" "$int rd-is" "$ext rd-es"; do set -- $pair; ip -n "$1" link set "$2" up; done
for target in 198.51.100.10 2001:db8:100::10 203.0.113.10 2001:db8:203::10; do ip netns exec "$srv" python3 "$probe" reach "$target"; done
ip netns exec "$int" python3 "$probe" reach 198.51.100.1; ip netns exec "$ext" python3 "$probe" reach 203.0.113.1

echo "== rampart exec etc/rampart/examples/web-server.netsh; drops logged (ipsecdiagnostics 3), boot mode block"
RAMPART_SOCKET=/nonexistent "$rampart" exec etc/rampart/examples/web-server.netsh 2>/dev/null
RAMPART_SOCKET=/nonexistent "$rampart" dynamic set config ipsecdiagnostics 3 2>/dev/null
RAMPART_SOCKET=/nonexistent "$rampart" dynamic set config bootmode block 2>/dev/null
echo "nameserver 198.51.100.10" > "$work/resolv.conf"
cat > "$work/rampartd.conf" <<CONF
resolv_conf = $work/resolv.conf
log_file = $work/drops.log
log_interval_seconds = 2
CONF

echo
echo "== rampartd (in namespace $srv): boot mode at once, then the policy, then READY"
ip netns exec "$srv" "$bin/rampartd" --config "$work/rampartd.conf" >"$work/rampartd.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do "$rampart" status >/dev/null 2>&1 && break; sleep 0.1; done
sed -e 's/^[^ ]* [a-z]* rampartd: \[RampartDaemon\] /  /' "$work/rampartd.log"
echo
echo "== rampart show active   (most specific first; the first match wins)"
"$rampart" show active

ip netns exec "$srv" python3 "$probe" serve --tcp 80,443,21,3389,8080 >/dev/null & pids+=($!)
ip netns exec "$int" python3 "$probe" serve --tcp 80,53 --udp 53 >/dev/null & pids+=($!)
ip netns exec "$ext" python3 "$probe" serve --tcp 80,53 --udp 53 >/dev/null & pids+=($!)
sleep 0.5

check() {  # check FROM-NS LABEL PROTO HOST PORT
    if ip netns exec "$1" python3 "$probe" "$3" "$4" "$5" --timeout 0.5; then result="passes"; else result="DROPPED"; fi
    printf '  %-46s %-24s %s\n' "$2" "$3 $4:$5" "$result"
}
echo
echo "== real probes"
check "$int" "internal client -> server HTTP" tcp 198.51.100.1 80
check "$ext" "external client -> server HTTPS (IPv6)" tcp 2001:db8:203::1 443
check "$int" "internal client -> server FTP" tcp 198.51.100.1 21
check "$ext" "external client -> server Terminal Services" tcp 203.0.113.1 3389
check "$ext" "external client -> server port 8080" tcp 203.0.113.1 8080
check "$srv" "server -> external web server (outbound HTTP)" tcp 203.0.113.10 80
check "$srv" "server -> its DNS server (UDP)" udp 198.51.100.10 53
check "$srv" "server -> another DNS server" udp 203.0.113.10 53
echo
echo "== the DNS server changes in resolv.conf: the DNS permit follows"
echo "nameserver 203.0.113.10" > "$work/resolv.conf.new" && mv "$work/resolv.conf.new" "$work/resolv.conf"
for _ in $(seq 50); do ip netns exec "$srv" nft list set inet rampart dns_v4 2>/dev/null | grep -q 203.0.113.10 && break; sleep 0.1; done
check "$srv" "server -> its new DNS server (UDP)" udp 203.0.113.10 53
check "$srv" "server -> its old DNS server (UDP)" udp 198.51.100.10 53
echo
echo "== the drops, aggregated per interval (rampartd's log; the journal under systemd)"
for _ in $(seq 50); do grep -q "drops from" "$work/rampartd.log" && [ "$(grep -c "drops from" "$work/rampartd.log")" -ge 2 ] && break; sleep 0.1; done
sleep 2.2
grep -E "drop (in|out)|drops from" "$work/rampartd.log" | sed -e 's/^[^ ]* [a-z]* rampartd: \[RampartDaemon\] /  /'
echo
echo "== rampart logs --format w3c   (the W3C extended log, as Windows Firewall's pfirewall.log)"
"$rampart" logs --file "$work/drops.log" --format w3c
echo
echo "== rampart monitor --once"
"$rampart" monitor --once
echo
echo "== rampartd stops; its ruleset stays until 'rampart flush' (in $srv); namespaces are deleted on exit"
kill -TERM "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
ip netns exec "$srv" "$rampart" flush
