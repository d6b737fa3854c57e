"""Shared by scripts/crash-trials.py and scripts/soak.py: throwaway network namespaces (deleted on
every exit path), the built binaries, rampartd with a NOTIFY_SOCKET of our own, and the kernel's
view of table inet rampart as normalised nft JSON."""
import atexit, json, os, shutil, signal, socket, subprocess, sys, tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = os.path.join(REPO, "scripts", "probe.py")


class Lab:
    def __init__(self, prefix, bindir=None, namespaces=("main",)):
        self.bindir = bindir or subprocess.run(["swift", "build", "--show-bin-path"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        self.rampart, self.rampartd = os.path.join(self.bindir, "rampart"), os.path.join(self.bindir, "rampartd")
        for binary in (self.rampart, self.rampartd):
            if not os.access(binary, os.X_OK):
                sys.exit(f"{binary} is missing: run 'swift build' first")
        self.work = tempfile.mkdtemp(prefix=f"rampart-{prefix}-")
        self.no_daemon = os.path.join(self.work, "no-daemon.sock")
        self.children = []
        self.ns = {name: f"{prefix}-{name}-{os.getpid()}" for name in namespaces}
        atexit.register(self.cleanup)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda *_: sys.exit(130))
        for name in self.ns.values():
            subprocess.run(["ip", "netns", "add", name], check=True)
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)

    def cleanup(self):
        for p in self.children:
            if p.poll() is None:
                p.kill()
                p.wait()
        for name in self.ns.values():
            for pid in subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)

    def env(self, socket_path=None):
        e = dict(os.environ)
        e["RAMPART_SOCKET"] = socket_path or self.no_daemon
        return e

    def link(self, a, a_addr, b, b_addr):
        """A veth pair between namespaces a and b (keys of self.ns), documentation addresses only."""
        ia, ib = f"va{os.getpid() % 100000}", f"vb{os.getpid() % 100000}"
        subprocess.run(["ip", "link", "add", ia, "netns", self.ns[a], "type", "veth", "peer", "name", ib, "netns", self.ns[b]], check=True)
        for name, iface, addr in ((a, ia, a_addr), (b, ib, b_addr)):
            subprocess.run(["ip", "-n", self.ns[name], "addr", "add", addr, "dev", iface], check=True)
            subprocess.run(["ip", "-n", self.ns[name], "link", "set", iface, "up"], check=True)

    def spawn(self, name, argv, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[name]] + argv, **kw)
        self.children.append(p)
        return p

    def run(self, name, argv, **kw):
        return subprocess.run(["ip", "netns", "exec", self.ns[name]] + argv, **kw)


def normalise(value):
    """nft -j output without handles and with every counter at zero."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "handle":
                continue
            if k == "counter" and isinstance(v, dict):
                out[k] = {"packets": 0, "bytes": 0}
                continue
            out[k] = normalise(v)
        return out
    if isinstance(value, list):
        return [normalise(v) for v in value if not (isinstance(v, dict) and "metainfo" in v)]
    return value


def listing(namespace):
    """table inet rampart in `namespace` as normalised JSON text, or None when it does not exist."""
    r = subprocess.run(["ip", "netns", "exec", namespace, "nft", "-j", "list", "table", "inet", "rampart"], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return json.dumps(normalise(json.loads(r.stdout)), sort_keys=True)


class Daemon:
    """rampartd in the lab's main namespace, with its own store, socket, configuration and sources."""

    def __init__(self, lab, directory, extra_config="", namespace="main"):
        self.lab, self.dir, self.namespace = lab, directory, namespace
        os.makedirs(directory, exist_ok=True)
        self.store = os.path.join(directory, "store.json")
        self.socket = os.path.join(directory, "control.sock")
        self.notify_path = os.path.join(directory, "notify.sock")
        self.resolv = os.path.join(directory, "resolv.conf")
        self.leases = os.path.join(directory, "leases")
        os.makedirs(self.leases, exist_ok=True)
        open(self.resolv, "w").close()
        self.config = os.path.join(directory, "rampartd.conf")
        with open(self.config, "w") as f:
            f.write(f"resolv_conf = {self.resolv}\nresolved_resolv_conf = {directory}/resolved.conf\nsmb_conf = {directory}/smb.conf\n")
            for key in ("dhclient_leases", "networkd_leases", "dhcpcd_leases", "networkmanager_leases"):
                f.write(f"{key} = {self.leases}\n")
            f.write(extra_config)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.proc = None

    def start(self):
        e = dict(os.environ)
        e["NOTIFY_SOCKET"] = self.notify_path
        e.pop("WATCHDOG_USEC", None)
        self.proc = self.lab.spawn(self.namespace, [self.lab.rampartd, "--config", self.config, "--store", self.store, "--socket", self.socket],
                                   env=e, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "rampartd.log"), "a"))
        self.notify.settimeout(30)
        while True:
            try:
                message = self.notify.recv(65536).decode(errors="replace")
            except TimeoutError:
                log = open(os.path.join(self.dir, "rampartd.log"), errors="replace").read()[-3000:]
                state = "still running" if self.proc.poll() is None else f"exited with {self.proc.returncode}"
                raise RuntimeError(f"rampartd sent no READY=1 within 30 s ({state}); its log ends:\n{log}")
            if "READY=1" in message.split("\n"):
                return

    def drain(self):
        """Reads the notify socket from now on, as systemd does; the messages are kept in order."""
        import threading
        self.messages = []

        def read():
            self.notify.settimeout(None)
            while True:
                try:
                    self.messages.append(self.notify.recv(65536).decode(errors="replace"))
                except OSError:
                    return
        threading.Thread(target=read, daemon=True).start()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.lab.children.remove(self.proc)

    def rampart(self, argv, **kw):
        return subprocess.run([self.lab.rampart] + argv, env=self.lab.env(self.socket), capture_output=True, text=True, **kw)
