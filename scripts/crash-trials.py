#!/usr/bin/env python3
"""Crash-safety trials (docs/hardening.md): kill -9 at random moments, then check what is left.

  exec     `rampart exec` of a large script (no daemon), killed at a random moment: the store is
           the old one or the new one, whole (never corrupt, never a mix), and so is the boot file.
  daemon   rampartd killed at a random moment while it applies a large script sent by the CLI:
           the store is the old or the new one, the kernel's table is exactly the compiled ruleset
           of one of the two, and once restarted rampartd enforces exactly what the store says.
  writers  concurrent `rampart exec` writers (alone, then through rampartd): no update is lost.

Runs in a network namespace it creates and deletes; prints the counts and exits 1 on any violation.
Needs root, the built binaries (`swift build`) and nft.
"""
import argparse, json, os, random, shutil, signal, statistics, subprocess, sys, time

from labkit import Daemon, Lab, listing

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--trials", type=int, default=1000, help="trials of each kill kind (default 1000)")
parser.add_argument("--filters", type=int, default=3000, help="filters in the large script (default 3000)")
parser.add_argument("--writers", type=int, default=8, help="concurrent writers per round (default 8)")
parser.add_argument("--rounds", type=int, default=10, help="rounds of concurrent writers (default 10)")
parser.add_argument("--kinds", default="exec,daemon,writers")
parser.add_argument("--bin", default=None, help="directory of rampart and rampartd (default: swift build's)")
parser.add_argument("--seed", type=int, default=None)
args = parser.parse_args()

lab = Lab("rc", args.bin, namespaces=["main", "scratch"])
RAMPART, RAMPARTD, work, bindir = lab.rampart, lab.rampartd, lab.work, lab.bindir
ns, scratch = lab.ns["main"], lab.ns["scratch"]
seed = args.seed if args.seed is not None else random.randrange(1 << 32)
rng = random.Random(seed)
failures = []


def fail(what):
    failures.append(what)
    print("VIOLATION:", what, flush=True)


def script(gen, filters=args.filters):
    """A whole policy that replaces whatever the store held: generation `gen` (0 or 1)."""
    lines = ["pushd ipsec static", "delete all", "add filteraction name=Permit action=permit", "add filteraction name=Block action=block"]
    for i in range(filters):
        net = ("192.0.2", "198.51.100", "203.0.113")[i % 3]
        proto = ("tcp", "udp")[i % 2]
        port = 1 + (i * 7 + gen * 3001) % 65000
        lines.append(f'add filter filterlist=L{i % 2} srcaddr={net}.{1 + i % 250} dstaddr=me protocol={proto} dstport={port} description="g{gen} f{i}"')
    lines += [f'add policy name=P description="g{gen}" assign=yes',
              "add rule name=Allowed policy=P filterlist=L0 filteraction=Permit",
              "add rule name=Denied policy=P filterlist=L1 filteraction=Block", "popd"]
    path = os.path.join(work, f"gen{gen}.netsh")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


NO_DAEMON = os.path.join(work, "no-daemon.sock")


def exec_alone(store, path):
    subprocess.run([RAMPART, "exec", "--store", store, path], env=lab.env(NO_DAEMON), check=True, capture_output=True)


def fingerprint(store):
    """What a store says, without GUIDs and sequence numbers; None when it cannot be read whole."""
    try:
        with open(store) as f:
            d = json.load(f)
        local = d["stores"]["local"]
        # A filter is "ID FIELDS…": the ID is a sequence number, different on every write.
        lists = sorted((l["name"], tuple(sorted(f.split(" ", 1)[1] for f in l["filters"]))) for l in local["filterLists"])
        actions = sorted((a["name"], a["action"]) for a in local["filterActions"])
        policies = sorted((p["name"], p["description"], p["assigned"], tuple(sorted(r["filterList"] + "/" + r["filterAction"] for r in p["rules"] if "filterList" in r)))
                          for p in local["policies"])
        return (tuple(lists), tuple(actions), tuple(policies), d["config"]["bootMode"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def boot_file_ok(store):
    """The boot file (read first at boot, docs/store-format.md) is whole and says the same boot mode."""
    try:
        with open(store + ".boot") as f:
            boot = json.load(f)
        with open(store) as f:
            mode = json.load(f)["config"]["bootMode"]
        return boot["format"] == "rampart-boot" and boot["config"]["bootMode"] == mode
    except (OSError, ValueError, KeyError, TypeError):
        return False


def compiled(store):
    """The ruleset `rampart compile --nft` makes of a store, as the kernel lists it (scratch namespace)."""
    text = subprocess.run([RAMPART, "compile", "--nft", "--store", store], env=lab.env(NO_DAEMON), capture_output=True, text=True, check=True).stdout
    subprocess.run(["ip", "netns", "exec", scratch, "nft", "flush", "ruleset"], check=True)
    subprocess.run(["ip", "netns", "exec", scratch, "nft", "-f", "-"], input=text, text=True, check=True)
    return listing(scratch)


def kill_at(proc, delay):
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def median_seconds(action, runs=3):
    times = []
    for _ in range(runs):
        t = time.monotonic()
        action()
        times.append(time.monotonic() - t)
    return statistics.median(times)


print(f"crash trials: seed {seed}, {args.trials} trials per kind, {args.filters} filters, binaries {bindir}", flush=True)
gen_scripts = [script(0), script(1)]
expected = []
for g in (0, 1):
    s = os.path.join(work, f"expected{g}.json")
    exec_alone(s, gen_scripts[g])
    expected.append(fingerprint(s))
assert expected[0] and expected[1] and expected[0] != expected[1]


def generation(store):
    fp = fingerprint(store)
    return expected.index(fp) if fp in expected else None


def leftovers(directory):
    return sorted(n for n in os.listdir(directory) if ".tmp." in n)


results = {}

if "exec" in args.kinds:
    store = os.path.join(work, "exec", "store.json")
    os.makedirs(os.path.dirname(store))
    exec_alone(store, gen_scripts[0])
    duration = median_seconds(lambda: (exec_alone(store, gen_scripts[1]), exec_alone(store, gen_scripts[0])), 3) / 2
    counts = {"old": 0, "new": 0}
    for trial in range(args.trials):
        old = generation(store)
        new = 1 - old
        p = subprocess.Popen([RAMPART, "exec", "--store", store, gen_scripts[new]], env=lab.env(NO_DAEMON), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kill_at(p, rng.uniform(0, duration * 1.1))
        now = generation(store)
        if now is None:
            fail(f"exec trial {trial}: the store is neither the old nor the new one")
            break
        if not boot_file_ok(store):
            fail(f"exec trial {trial}: the boot file is unreadable")
        counts["old" if now == old else "new"] += 1
    left = leftovers(os.path.dirname(store))
    results["exec"] = (duration, counts, left)
    print(f"exec: {args.trials} kills within {duration * 1.1 * 1000:.0f} ms of a {duration * 1000:.0f} ms exec: store old {counts['old']}, new {counts['new']}, "
          f"corrupt or mixed 0; temporary files left: {len(left)}", flush=True)


if "daemon" in args.kinds:
    d = Daemon(lab, os.path.join(work, "daemon"))
    exec_alone(d.store, gen_scripts[0])
    d.start()

    def via_daemon(g):
        subprocess.run([RAMPART, "exec", gen_scripts[g]], env=lab.env(d.socket), check=True, capture_output=True)
    duration = median_seconds(lambda: (via_daemon(1), via_daemon(0)), 3) / 2
    kernel = listing(ns)
    if kernel != compiled(d.store):
        fail("daemon: before any trial, the kernel's table is not the compiled store")
    combos = {}
    copy = os.path.join(work, "daemon-next.json")
    for trial in range(args.trials):
        old_gen = generation(d.store)
        new_gen = 1 - old_gen
        old_kernel = kernel
        # The store the request would leave, and its ruleset: the same plan run on a copy.
        shutil.copy(d.store, copy)
        exec_alone(copy, gen_scripts[new_gen])
        new_kernel = compiled(copy)
        client = subprocess.Popen([RAMPART, "exec", gen_scripts[new_gen]], env=lab.env(d.socket), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lab.children.append(client)
        time.sleep(rng.uniform(0, duration * 1.1))
        d.kill()
        client.wait()
        lab.children.remove(client)
        now = generation(d.store)
        after = listing(ns)
        if now is None:
            fail(f"daemon trial {trial}: the store is neither the old nor the new one")
            break
        if after is None:
            fail(f"daemon trial {trial}: no table inet rampart after the kill")
            break
        if after not in (old_kernel, new_kernel):
            fail(f"daemon trial {trial}: the kernel's table is neither the old nor the new ruleset")
            break
        key = ("store " + ("old" if now == old_gen else "new"), "kernel " + ("old" if after == old_kernel else "new"))
        combos[key] = combos.get(key, 0) + 1
        d.start()
        kernel = listing(ns)
        if kernel != compiled(d.store):
            fail(f"daemon trial {trial}: after the restart the kernel's table is not the compiled store")
            break
    d.kill()
    left = leftovers(d.dir)
    results["daemon"] = (duration, combos, left)
    shown = ", ".join(f"{a} + {b}: {n}" for (a, b), n in sorted(combos.items()))
    print(f"daemon: {sum(combos.values())} kills of rampartd within {duration * 1.1 * 1000:.0f} ms of a {duration * 1000:.0f} ms exec: {shown}; "
          f"every restart enforced its store; temporary files left: {len(left)}", flush=True)

if "writers" in args.kinds:
    def add_script(i, r):
        path = os.path.join(work, f"w{i}-{r}.netsh")
        with open(path, "w") as f:
            f.write(f"ipsec static add filter filterlist=W srcaddr=192.0.2.{1 + i} dstaddr=me protocol=udp dstport={1000 + r} description=\"w{i} r{r}\"\n")
        return path

    def count_w(store):
        with open(store) as f:
            local = json.load(f)["stores"]["local"]
        return sum(len(l["filters"]) for l in local["filterLists"] if l["name"] == "W")

    for mode in ("alone", "daemon"):
        directory = os.path.join(work, f"writers-{mode}")
        os.makedirs(directory)
        if mode == "daemon":
            wd = Daemon(lab, directory)
            store, sock = wd.store, wd.socket
            exec_alone(store, gen_scripts[0])
            wd.start()
        else:
            store, sock = os.path.join(directory, "store.json"), NO_DAEMON
            exec_alone(store, gen_scripts[0])
        for r in range(args.rounds):
            procs = [subprocess.Popen([RAMPART, "exec"] + (["--store", store] if mode == "alone" else []) + [add_script(i, r)],
                                      env=lab.env(sock), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for i in range(args.writers)]
            for p in procs:
                _, err = p.communicate()
                if p.returncode != 0:
                    fail(f"writers ({mode}) round {r}: a writer failed: {err.decode(errors='replace').strip()}")
        total = count_w(store)
        if total != args.writers * args.rounds:
            fail(f"writers ({mode}): {total} of {args.writers * args.rounds} updates in the store")
        if mode == "daemon":
            if listing(ns) != compiled(store):
                fail("writers (daemon): the kernel's table is not the compiled store")
            wd.kill()
        print(f"writers ({mode}): {args.rounds} rounds of {args.writers} concurrent writers, {total} of {args.writers * args.rounds} updates kept", flush=True)

print(f"crash trials: {'FAILED, ' + str(len(failures)) + ' violation(s)' if failures else 'no violation'} (seed {seed})", flush=True)
sys.exit(1 if failures else 0)
