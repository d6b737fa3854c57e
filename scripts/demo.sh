#!/usr/bin/env bash
# Demo on a safe built-in default: the web-server example from Burnett's article is run into a
# throwaway store, its effective filter order is shown, and the compiled ruleset is loaded into
# a throwaway network namespace (never the host's), listed back, and the namespace deleted.
source "$(dirname "$0")/common.sh"
cd "$repo_root"
ensure_packages
swift build -q
rampart="$(swift build --show-bin-path)/rampart"

work="$(mktemp -d)"
ns="rampart-demo-$$"
cleanup() {
    ip netns delete "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
export RAMPART_STORE="$work/store.json"

echo "== rampart exec etc/rampart/examples/web-server.netsh"
"$rampart" exec etc/rampart/examples/web-server.netsh 2>/dev/null
echo
echo "== rampart show active   (most specific first; the first match wins)"
"$rampart" show active
echo
echo "== rampart compile --nft > ruleset.nft"
cat > "$work/addresses.json" <<'JSON'
{ "dns": ["192.0.2.53", "2001:db8::53"], "wins": [], "dhcp": [], "gateway": ["192.0.2.254"], "names": {} }
JSON
"$rampart" compile --nft --addresses "$work/addresses.json" > "$work/ruleset.nft"
echo "$(grep -c 'comment' "$work/ruleset.nft") rules"
echo
echo "== nft -f ruleset.nft inside throwaway namespace $ns"
ip netns add "$ns"
ip netns exec "$ns" nft -f "$work/ruleset.nft"
ip netns exec "$ns" nft list ruleset
echo
echo "== boot mode: rampart compile --boot"
"$rampart" compile --boot
