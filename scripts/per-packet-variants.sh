#!/usr/bin/env bash
# Where a packet's time goes in Rampart's ruleset: the 10,000-filter synthetic policy compiled by this
# build, and variants of it applied with nft, each flooded with UDP 64-byte datagrams by iperf3 between
# two namespaces (198.51.100.1 -> .2 on a veth pair), in interleaved rounds; medians against no table.
#   none  no table            a  as compiled (a FIB lookup per rule that tests `me`)
#   b     one FIB lookup, then a jump to the rules that test `me`      d  no FIB lookup at all
#   e     a without the defrag chain       f  d without the defrag chain
#   g     an empty input chain             h  f without the four rules over filter sets
# Needs root, iperf3 and a release build (swift build -c release). docs/benchmarks.md, issue 33.
set -euo pipefail
rounds="${1:-5}"
bin="$(cd "$(dirname "$0")/.." && pwd)/.build/release"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; ip netns del rpv-s 2>/dev/null || true; ip netns del rpv-r 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin/rampart-bench" --fixture 10000 > "$work/policy.netsh"
"$bin/rampart" exec --store "$work/store.json" "$work/policy.netsh" > /dev/null
"$bin/rampart" compile --nft --store "$work/store.json" > "$work/a.nft"
python3 - "$work" <<'PY'
import re, sys
w = sys.argv[1]
a = open(f"{w}/a.nft").read()
fib = "fib daddr type local - multicast "
def hoisted(text):
    out, run, inside = [], [], False
    for line in text.split("\n"):
        if line.strip().startswith("chain input"): inside = True
        if inside and line.strip().startswith(fib):
            run.append(line.replace(fib, "", 1)); continue
        if inside and run and line.strip() == "}":
            out += ["\t\t" + fib + "jump input_me", line, "\tchain input_me {"] + run + ["\t}"]
            run, inside = [], False; continue
        out.append(line)
    return "\n".join(out)
nodefrag = lambda t: re.sub(r"\tchain defrag \{.*?\n\t\}\n", "", t, flags=re.S)
d = a.replace(fib, "")
variants = {"a": a, "b": hoisted(a), "d": d, "e": nodefrag(a), "f": nodefrag(d),
            "g": "table inet rampart {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n",
            "h": "\n".join(l for l in nodefrag(d).split("\n") if 'comment "input_f' not in l)}
for name, text in variants.items(): open(f"{w}/{name}.nft", "w").write(text)
PY
for _ in $(seq "$rounds"); do
    for v in none a b d e f g h; do
        ip netns add rpv-s; ip netns add rpv-r
        ip link add rpv0 netns rpv-s type veth peer name rpv1 netns rpv-r
        ip -n rpv-s addr add 198.51.100.1/24 dev rpv0; ip -n rpv-r addr add 198.51.100.2/24 dev rpv1
        for ns in rpv-s rpv-r; do ip -n "$ns" link set lo up; done
        ip -n rpv-s link set rpv0 up; ip -n rpv-r link set rpv1 up
        [ "$v" = none ] || ip netns exec rpv-r nft -f "$work/$v.nft"
        ip netns exec rpv-r iperf3 -s -1 -B 198.51.100.2 -p 5201 > /dev/null 2>&1 &
        sleep 0.3
        ip netns exec rpv-s iperf3 -c 198.51.100.2 -p 5201 -u -l 64 -b 0 -t 3 -J > "$work/out.json"
        wait
        python3 -c "import json; s = json.load(open('$work/out.json'))['end']['sum']; print('$v', round((s['packets'] - s['lost_packets']) / s['seconds']))" >> "$work/rates"
        ip netns del rpv-s; ip netns del rpv-r
    done
done
python3 - "$work/rates" <<'PY'
import collections, statistics, sys
rates = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, rate = line.split()
    rates[name].append(int(rate))
base = statistics.median(rates["none"])
print("| variant | packets/s (median) | vs no table |\n|---|---|---|")
for name, values in rates.items():
    print(f"| {name} | {int(statistics.median(values))} | {statistics.median(values) / base:.2f}× |")
PY
