#!/usr/bin/env python3
"""Soak test (docs/hardening.md): one rampartd under everything at once, for a bounded time.

At the same time, until the time is up:
  reloads     SIGHUP every 2 s (half of them after the store was rewritten by `rampart exec`)
  addresses   resolv.conf rewritten every second with a new name server; each change must reach
              the kernel's DNS set (checked against `nft list set`), none may be missed
  clients     `rampart status`, `show active`, `metrics`, `monitor --once`, `dynamic show config`
              in a loop, each must answer
  deletions   `nft delete table inet rampart` every 5 s; the table must be back within 5 s
  drops       bursts of 2,000 UDP datagrams to a blocked port every 2 s
  probes      TCP to a permitted port must connect, TCP and UDP to blocked ports must not; a probe
              never overlaps a deletion window (the table is gone then, by design)
RSS, descriptors and threads of rampartd are sampled every 5 s; they must stay flat (no growth past
the first minute beyond small allowances). Prints the figures and exits 1 on any violation.
"""
import argparse, json, os, signal, subprocess, sys, threading, time

from labkit import PROBE, Daemon, Lab

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--minutes", type=float, default=10.0)
parser.add_argument("--bin", default=None, help="directory of rampart and rampartd (default: swift build's)")
args = parser.parse_args()

SERVER, CLIENT = "192.0.2.1", "192.0.2.2"
lab = Lab("soak", args.bin, namespaces=["main", "client"])
lab.link("main", f"{SERVER}/24", "client", f"{CLIENT}/24")
d = Daemon(lab, os.path.join(lab.work, "daemon"), extra_config="log_interval_seconds = 5\n")
POLICY = f"""pushd ipsec static
delete all
add filteraction name=Permit action=permit
add filteraction name=Block action=block
add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=80
add filter filterlist=Dns srcaddr=me dstaddr=DNS protocol=udp dstport=53
add filter filterlist=Closed srcaddr=any dstaddr=me protocol=tcp dstport=23
add filter filterlist=Closed srcaddr=any dstaddr=me protocol=udp dstport=161
add policy name=Soak description="{{generation}}" assign=yes
add rule name=web policy=Soak filterlist=Web filteraction=Permit
add rule name=dns policy=Soak filterlist=Dns filteraction=Permit
add rule name=closed policy=Soak filterlist=Closed filteraction=Block
popd
ipsec dynamic set config ipsecdiagnostics 7
"""


def write_policy(generation):
    path = os.path.join(lab.work, "policy.netsh")
    with open(path, "w") as f:
        f.write(POLICY.replace("{generation}", f"g{generation}"))
    return path


with open(d.resolv, "w") as f:
    f.write("nameserver 198.51.100.1\n")
subprocess.run([lab.rampart, "exec", "--store", d.store, write_policy(0)], env=lab.env(), check=True, capture_output=True)
d.start()
d.drain()
lab.spawn("main", ["python3", PROBE, "serve", "--tcp", "80,23", "--udp", "161"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(0.5)

started = time.monotonic()
stop = threading.Event()
table_lock = threading.Lock()   # probes never overlap a deletion window or a drop burst
counts = {k: 0 for k in ("reloads", "execs", "address changes", "client requests", "deletions", "drop bursts", "datagrams sent", "probes")}
violations = []
lock = threading.Lock()


def count(key, n=1):
    with lock:
        counts[key] += n


def violate(what):
    with lock:
        violations.append(what)
    print(f"VIOLATION at {time.monotonic() - started:.1f} s:", what, flush=True)


def table_exists():
    return lab.run("main", ["nft", "list", "table", "inet", "rampart"], capture_output=True).returncode == 0


def dns_set():
    r = lab.run("main", ["nft", "-j", "list", "set", "inet", "rampart", "dns_v4"], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    for item in json.loads(r.stdout)["nftables"]:
        if "set" in item:
            return sorted(e if isinstance(e, str) else json.dumps(e) for e in item["set"].get("elem", []))
    return None


def until(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def loop(period, body):
    def run():
        while not stop.is_set():
            started = time.monotonic()
            try:
                body()
            except Exception as e:  # a broken worker is a failed soak, not a silent one
                violate(f"{body.__name__}: {e!r}")
            stop.wait(max(0.0, period - (time.monotonic() - started)))
    t = threading.Thread(target=run, name=body.__name__, daemon=True)
    t.start()
    return t


generation = [0]


def reloads():
    if counts["reloads"] % 2 == 1:
        generation[0] += 1
        r = subprocess.run([lab.rampart, "exec", write_policy(generation[0])], env=lab.env(d.socket), capture_output=True, text=True)
        if r.returncode != 0:
            violate(f"exec through rampartd failed: {r.stderr.strip()}")
        count("execs")
    d.proc.send_signal(signal.SIGHUP)
    count("reloads")


server_index = [1]


def addresses():
    server_index[0] = server_index[0] % 250 + 1
    address = f"198.51.100.{server_index[0]}"
    tmp = d.resolv + ".new"
    with open(tmp, "w") as f:
        f.write(f"# soak\nnameserver {address}\n")
    os.rename(tmp, d.resolv)
    # Deletions may race the check (the table is restored with its sets); allow for that.
    if not until(lambda: dns_set() == [address], 5):
        violate(f"the DNS set did not follow resolv.conf to {address}: {dns_set()}")
    count("address changes")


def clients():
    for argv in (["status"], ["show", "active"], ["metrics"], ["monitor", "--once"], ["dynamic", "show", "config"]):
        r = d.rampart(argv, timeout=30)
        if r.returncode != 0:
            violate(f"rampart {' '.join(argv)} exited {r.returncode}: {r.stderr.strip()[:300]}")
        count("client requests")


def deletions():
    with table_lock:
        lab.run("main", ["nft", "delete", "table", "inet", "rampart"], capture_output=True)
        if not until(table_exists, 5):
            violate("the table was not restored within 5 s of an external deletion")
        count("deletions")


def drops():
    # Not during a probe: a burst fills the veth's backlog queue (netdev_max_backlog) on a loaded
    # machine, and a probe's SYN dropped there would read as a policy failure.
    with table_lock:
        burst()


def burst():
    r = lab.run("client", ["python3", PROBE, "flood", SERVER, "--rate", "20000", "--seconds", "0.1", "--ports", "161-161"], capture_output=True, text=True)
    count("drop bursts")
    count("datagrams sent", int(r.stdout.split()[-1]) if r.returncode == 0 and r.stdout.split() else 0)


def probe(kind, port):
    return lab.run("client", ["python3", PROBE, kind, SERVER, str(port), "--timeout", "0.8"], capture_output=True).returncode == 0


def probes():
    with table_lock:
        for kind, port, expected in (("tcp", 80, True), ("tcp", 23, False), ("udp", 161, False)):
            if probe(kind, port) != expected:
                violate(f"{kind} {port} {'did not answer' if expected else 'answered'} (policy: {'permit' if expected else 'block'})")
            count("probes")


def status_of(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return int(fields["VmRSS"].split()[0]), len(os.listdir(f"/proc/{pid}/fd")), int(fields["Threads"])


samples = []


def sample():
    rss, fds, threads = status_of(d.proc.pid)
    samples.append((time.monotonic(), rss, fds, threads))


sample()
workers = [loop(2, reloads), loop(1, addresses), loop(0.2, clients), loop(5, deletions), loop(2, drops), loop(0.5, probes), loop(5, sample)]
end = started + args.minutes * 60
while time.monotonic() < end and d.proc.poll() is None:
    time.sleep(1)
stop.set()
for w in workers:
    w.join(timeout=60)
if d.proc.poll() is not None:
    violate(f"rampartd exited during the soak (status {d.proc.returncode})")
else:
    sample()

status = d.rampart(["status"]).stdout
metrics = d.rampart(["metrics"]).stdout
d.kill()
elapsed = time.monotonic() - started
warm = [s for s in samples if s[0] - started >= min(60, elapsed / 4)] or samples
first, last = warm[0], samples[-1]
peak = max(s[1] for s in samples)
print(f"soak: {elapsed / 60:.1f} min against one rampartd ({lab.bindir})")
for k, v in counts.items():
    print(f"  {k}: {v}")
print(f"  RSS: {samples[0][1]} KiB at start, {first[1]} KiB after warm-up, {last[1]} KiB at the end, peak {peak} KiB")
print(f"  descriptors: {samples[0][2]} at start, {first[2]} after warm-up, {last[2]} at the end, most {max(s[2] for s in samples)}")
print(f"  threads: {samples[0][3]} at start, {first[3]} after warm-up, {last[3]} at the end, most {max(s[3] for s in samples)}")
dropped = [line for line in metrics.splitlines() if line.startswith(("rampart_drops_logged_total", "rampart_log_events_total", "rampart_restores_total", "rampart_applies_total"))]
print("  " + "\n  ".join(dropped[:12]))
def metric(name):
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


lost = metric('rampart_log_events_total{outcome="lost"}')
logged = sum(float(l.split()[-1]) for l in dropped if l.startswith("rampart_drops_logged_total"))
if lost is None or lost > 0:
    violate(f"drop events lost: {lost}")
if logged < counts["datagrams sent"]:
    violate(f"{logged:.0f} drops logged, fewer than the {counts['datagrams sent']} datagrams sent to the blocked port")
if last[1] > first[1] * 1.25 + 2048:
    violate(f"RSS grew from {first[1]} KiB to {last[1]} KiB")
if last[2] > first[2] + 4:
    violate(f"descriptors grew from {first[2]} to {last[2]}")
if last[3] > first[3] + 2:
    violate(f"threads grew from {first[3]} to {last[3]}")
if "rampartd running" not in status:
    violate(f"status at the end: {status.strip()[:300]}")
print(f"soak: {'FAILED, ' + str(len(violations)) + ' violation(s)' if violations else 'no violation'}", flush=True)
sys.exit(1 if violations else 0)
