#!/usr/bin/env python3
"""Traffic probes for rampart's namespace tests and demo (never pointed outside them).

  probe.py serve --tcp 80,443 --udp 53      listen (IPv4 and IPv6) until killed; UDP echoes
  probe.py tcp HOST PORT [--sport N]        exit 0 if a TCP connection is established
  probe.py udp HOST PORT [--sport N]        exit 0 if the datagram is echoed back
  probe.py reach HOST [--timeout S]         resolve HOST's link-layer address (exit 0 once it is known)
  probe.py attempts HOST PORT --seconds S   connect again and again for S seconds; print how many got through
  probe.py segments SRC HOST PORT --count N --flags S   send N bare IPv4 TCP segments (raw, no retransmits);
                                            flags S (SYN) or SR (SYN+RST: conntrack calls it invalid)
  probe.py flood HOST --rate R --seconds S --ports A-B   UDP datagrams at R/s (at most) for S s, to ports A..B
                                            in turn; prints how many were sent (bounded: R*S at most)
  probe.py pings HOST --count N             send N ICMP echo requests (raw), without waiting for replies
  probe.py echo --tcp PORT                  a TCP echo server (IPv4 and IPv6) until killed
  probe.py stream HOST PORT --seconds S --interval I   one TCP connection: a numbered line every I s for
                                            S s, each echoed back in order; prints "sent N echoed M";
                                            exit 0 only if every line came back on that one connection
"""
import struct
import argparse
import select
import socket
import subprocess
import sys
import time


def serve(tcp_ports, udp_ports):
    sockets = []
    for port in tcp_ports:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
        s.listen(64)
        sockets.append(("tcp", s))
    for port in udp_ports:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
        sockets.append(("udp", s))
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select([s for _, s in sockets], [], [])
        for kind, s in sockets:
            if s not in ready:
                continue
            if kind == "tcp":
                conn, _ = s.accept()
                conn.close()
            else:
                data, peer = s.recvfrom(2048)
                s.sendto(data, peer)


def echo(port):
    import threading
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(16)
    print("ready", flush=True)

    def answer(conn):
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                conn.sendall(data)

    while True:
        conn, _ = s.accept()
        threading.Thread(target=answer, args=(conn,), daemon=True).start()


def stream(host, port, seconds, interval):
    s = socket.create_connection((host, port), timeout=10)
    s.settimeout(10)
    sent = echoed = 0
    pending = b""
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            sent += 1
            line = b"%d\n" % sent
            s.sendall(line)
            while not pending.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    raise OSError("closed by the peer")
                pending += chunk
            if pending != line:
                raise OSError("out of order: %r" % pending)
            pending = b""
            echoed += 1
            time.sleep(interval)
    except OSError as e:
        print("sent %d echoed %d: %s" % (sent, echoed, e), flush=True)
        return 1
    finally:
        s.close()
    print("sent %d echoed %d" % (sent, echoed), flush=True)
    return 0


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def tcp(host, port, sport, timeout):
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(timeout)
    if sport:
        s.bind(("", sport))
    try:
        s.connect((host, port))
        return 0
    except OSError:
        return 1
    finally:
        s.close()


def udp(host, port, sport, timeout):
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    s.settimeout(timeout)
    if sport:
        s.bind(("", sport))
    try:
        s.sendto(b"rampart-probe", (host, port))
        data, _ = s.recvfrom(2048)
        return 0 if data == b"rampart-probe" else 1
    except OSError:
        return 1
    finally:
        s.close()


def reach(host, timeout):
    # A fresh veth link loses the first packets sent while it settles; resolving the neighbour
    # first means the probes that follow measure the policy, not the link.
    deadline = time.time() + timeout
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    while time.time() < deadline:
        try:
            s.sendto(b"", (host, 9))
        except OSError:
            pass
        out = subprocess.run(["ip", "neigh", "show", host], capture_output=True, text=True).stdout
        if any(state in out for state in ("REACHABLE", "STALE", "DELAY", "PERMANENT")):
            return 0
        time.sleep(0.05)
    return 1


def attempts(host, port, seconds):
    deadline = time.time() + seconds
    through = tried = 0
    while time.time() < deadline:
        tried += 1
        if tcp(host, port, 0, 0.05) == 0:
            through += 1
    print(f"{through} of {tried}", flush=True)
    return 0


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def segments(src, host, port, count, flags):
    bits = {"S": 0x02, "SR": 0x06}[flags]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    for i in range(count):
        sport = 40000 + i
        header = struct.pack("!HHIIBBHHH", sport, port, 1000 + i, 0, 5 << 4, bits, 8192, 0, 0)
        pseudo = socket.inet_aton(src) + socket.inet_aton(host) + struct.pack("!BBH", 0, 6, len(header))
        header = header[:16] + struct.pack("!H", checksum(pseudo + header)) + header[18:]
        s.sendto(header, (host, 0))
    return 0


def pings(host, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    for i in range(count):
        header = struct.pack("!BBHHH", 8, 0, 0, 0x5250, i) + b"rampart"
        header = header[:2] + struct.pack("!H", checksum(header)) + header[4:]
        s.sendto(header, (host, 0))
    return 0


def flood(host, rate, seconds, first, last):
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    payload = b"rampart-flood"
    limit = int(rate * seconds)
    start = time.monotonic()
    sent = 0
    port = first
    while sent < limit:
        now = time.monotonic() - start
        if now >= seconds:
            break
        due = min(limit, int(rate * now) + 1000)
        if sent >= due:
            time.sleep(0.001)
            continue
        for _ in range(min(1000, due - sent)):
            try:
                s.sendto(payload, (host, port))
            except OSError:
                pass
            sent += 1
            port = first if port >= last else port + 1
    print(sent, flush=True)
    return 0


def ports(text):
    return [int(p) for p in text.split(",") if p]


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--tcp", type=ports, default=[])
    p.add_argument("--udp", type=ports, default=[])
    for name in ("tcp", "udp"):
        p = sub.add_parser(name)
        p.add_argument("host")
        p.add_argument("port", type=int)
        p.add_argument("--sport", type=int, default=0)
        p.add_argument("--timeout", type=float, default=1.0)
    p = sub.add_parser("attempts")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--seconds", type=float, default=3.0)
    p = sub.add_parser("segments")
    p.add_argument("src")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--flags", default="S")
    p = sub.add_parser("flood")
    p.add_argument("host")
    p.add_argument("--rate", type=float, default=100000)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--ports", default="9-9")
    p = sub.add_parser("pings")
    p.add_argument("host")
    p.add_argument("--count", type=int, default=1)
    p = sub.add_parser("reach")
    p.add_argument("host")
    p.add_argument("--timeout", type=float, default=3.0)
    p = sub.add_parser("echo")
    p.add_argument("--tcp", type=int, required=True)
    p = sub.add_parser("stream")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--interval", type=float, default=0.2)
    a = parser.parse_args()
    if a.cmd == "echo":
        echo(a.tcp)
    elif a.cmd == "stream":
        sys.exit(stream(a.host, a.port, a.seconds, a.interval))
    elif a.cmd == "serve":
        serve(a.tcp, a.udp)
    elif a.cmd == "attempts":
        sys.exit(attempts(a.host, a.port, a.seconds))
    elif a.cmd == "segments":
        sys.exit(segments(a.src, a.host, a.port, a.count, a.flags))
    elif a.cmd == "flood":
        first, last = (int(x) for x in a.ports.split("-"))
        sys.exit(flood(a.host, a.rate, a.seconds, first, last))
    elif a.cmd == "pings":
        sys.exit(pings(a.host, a.count))
    elif a.cmd == "reach":
        sys.exit(reach(a.host, a.timeout))
    elif a.cmd == "tcp":
        sys.exit(tcp(a.host, a.port, a.sport, a.timeout))
    else:
        sys.exit(udp(a.host, a.port, a.sport, a.timeout))


if __name__ == "__main__":
    main()
