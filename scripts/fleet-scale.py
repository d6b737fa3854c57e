#!/usr/bin/env python3
"""Fleet scale measurement (docs/benchmarks.md, docs/fleet.md): one etcd member (Debian's
etcd-server) on loopback with client-certificate TLS, N simulated hosts each holding one watch
on the group's policy key through etcd's JSON gateway, as rampartd's fleet service does.

Two ways of learning about a push, side by side in one run:
  watch: every host keeps a /v3/watch stream open; a push is delivered to all of them.
  poll:  every host reads /v3/kv/range every --poll-seconds (the obvious alternative).
Reports per push the time until every host has the new revision (median and max over
--pushes), and etcd's CPU time and RSS while each mode runs.

    python3 scripts/fleet-scale.py --hosts 500 --pushes 10
"""
import argparse, base64, json, os, shutil, ssl, statistics, subprocess, tempfile, threading, time, http.client

def b64(s): return base64.b64encode(s.encode()).decode()

def etcd_stats(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return cpu, rss / 1024

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=500)
    ap.add_argument("--pushes", type=int, default=10)
    ap.add_argument("--poll-seconds", type=float, default=5.0)
    ap.add_argument("--port", type=int, default=23_900)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="rampart-fleet-scale-")
    etcd = None
    try:
        def run(*cmd): subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt", "-subj", "/CN=scale-ca", "-days", "1")
        open(f"{d}/srv.ext", "w").write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
        open(f"{d}/cli.ext", "w").write("extendedKeyUsage=clientAuth\n")
        for name, subj, ext in [("member", "/CN=etcd-member", "srv.ext"), ("host", "/O=rampart-host", "cli.ext")]:
            run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr", "-subj", subj)
            run("openssl", "x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/ca.crt", "-CAkey", f"{d}/ca.key",
                "-CAcreateserial", "-out", f"{d}/{name}.crt", "-days", "1", "-extfile", f"{d}/{ext}")
        url = f"https://127.0.0.1:{a.port}"
        etcd = subprocess.Popen(["etcd", "--name", "s", "--data-dir", f"{d}/data", "--listen-client-urls", url,
                                 "--advertise-client-urls", url, "--listen-peer-urls", f"http://127.0.0.1:{a.port + 1}",
                                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{a.port + 1}",
                                 "--initial-cluster", f"s=http://127.0.0.1:{a.port + 1}",
                                 "--cert-file", f"{d}/member.crt", "--key-file", f"{d}/member.key",
                                 "--trusted-ca-file", f"{d}/ca.crt", "--client-cert-auth",
                                 "--max-concurrent-streams", "4294967295"],
                                stdout=subprocess.DEVNULL, stderr=open(f"{d}/etcd.log", "w"))
        ctx = ssl.create_default_context(cafile=f"{d}/ca.crt")
        ctx.load_cert_chain(f"{d}/host.crt", f"{d}/host.key")
        def conn(): return http.client.HTTPSConnection("127.0.0.1", a.port, context=ctx, timeout=30)
        def post(c, path, body):
            c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            r = c.getresponse()
            return json.loads(r.read())
        for _ in range(100):
            try:
                post(conn(), "/v3/kv/range", {"key": b64("x")})
                break
            except Exception:
                time.sleep(0.1)
        key = "/rampart/v1/groups/web/policy"
        script = "pushd ipsec static\n" + "".join(
            f"add filter filterlist=L srcaddr=any dstaddr=me protocol=tcp dstport={p}\n" for p in range(1, 60))
        admin = conn()
        def push(i):
            reply = post(admin, "/v3/kv/put", {"key": b64(key), "value": b64(script + f"# push {i}\n")})
            return int(reply["header"]["revision"])
        push(0)

        lock = threading.Lock()
        seen = {}          # revision -> number of hosts that have it
        done = {}          # revision -> time the last host got it
        created = [0]
        stop = threading.Event()
        current = ["watch"]
        def saw(rev, mode):
            with lock:
                # Watch streams stay open during the poll run: only the running mode counts.
                if mode != current[0]: return
                seen[rev] = seen.get(rev, 0) + 1
                if seen[rev] == a.hosts: done[rev] = time.monotonic()

        def watcher():
            c = conn()
            c.request("POST", "/v3/watch", json.dumps({"create_request": {"key": b64(key)}}), {"Content-Type": "application/json"})
            r = c.getresponse()
            while not stop.is_set():
                line = r.readline()
                if not line: return
                result = json.loads(line).get("result", {})
                if result.get("created"):
                    with lock: created[0] += 1
                for e in result.get("events", []):
                    saw(int(e["kv"]["mod_revision"]), "watch")

        def poller():
            c = conn()
            last = 0
            time.sleep(a.poll_seconds * (hash(threading.current_thread().name) % 1000) / 1000)
            while not stop.is_set():
                kvs = post(c, "/v3/kv/range", {"key": b64(key)}).get("kvs", [])
                rev = int(kvs[0]["mod_revision"]) if kvs else 0
                if rev != last:
                    last = rev
                    saw(rev, "poll")
                stop.wait(a.poll_seconds)

        results = {}
        for mode, body in [("watch", watcher), ("poll", poller)]:
            stop.clear()
            with lock: seen.clear(); done.clear(); created[0] = 0; current[0] = mode
            threads = [threading.Thread(target=body, daemon=True, name=f"{mode}{i}") for i in range(a.hosts)]
            for t in threads: t.start()
            if mode == "watch":
                while created[0] < a.hosts: time.sleep(0.05)
            else:
                time.sleep(a.poll_seconds * 1.5)
            cpu0, _ = etcd_stats(etcd.pid)
            t0 = time.monotonic()
            times = []
            for i in range(a.pushes):
                start = time.monotonic()
                rev = push(i + 1)
                while rev not in done and time.monotonic() - start < a.poll_seconds * 3 + 30: time.sleep(0.002)
                times.append((done.get(rev, float("inf")) - start) * 1000)
                time.sleep(0.2)
            cpu1, rss = etcd_stats(etcd.pid)
            wall = time.monotonic() - t0
            results[mode] = (statistics.median(times), max(times), (cpu1 - cpu0) / wall * 100, rss)
            stop.set()
            print(f"{mode:5}: {a.hosts} hosts, {a.pushes} pushes: all hosts have it after median {results[mode][0]:.1f} ms, "
                  f"max {results[mode][1]:.1f} ms; etcd CPU {results[mode][2]:.1f} % of a core, RSS {rss:.0f} MiB", flush=True)
        w, p = results["watch"], results["poll"]
        print(f"ratio poll/watch convergence (median): {p[0] / w[0]:.1f}x; etcd CPU poll/watch: {p[2] / max(w[2], 0.01):.1f}x")
    finally:
        if etcd: etcd.kill(); etcd.wait()
        shutil.rmtree(d, ignore_errors=True)

if __name__ == "__main__":
    main()
