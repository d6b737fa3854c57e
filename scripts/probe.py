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
  probe.py sink --udp PORTS --seconds S      count UDP datagrams (IPv4 and IPv6) until `send --end` arrives (S s
                                            at most); print "PORT DESTINATION" per datagram received, then "done"
  probe.py send HOST PORT --from ADDR --count N [--size B]   N UDP datagrams (of B bytes: over the MTU,
                                            fragmented) out of ADDR's interface: to a unicast, broadcast
                                            (255.255.255.255, a subnet's) or multicast address
  probe.py nd KIND --dev IFACE --hops H [--to ADDR] [--src ADDR] [--count N]   send neighbour discovery
                                            (ra: a router advertisement to ff02::1, lifetime 1800 s; ns: a
                                            neighbour solicitation for ADDR; a number: that ICMPv6 type to
                                            ADDR) from IFACE's link-local address (or ADDR), hop limit H
  probe.py stream HOST PORT --seconds S --interval I   one TCP connection: a numbered line every I s for
                                            S s, each echoed back in order; prints "sent N echoed M";
                                            exit 0 only if every line came back on that one connection
  probe.py tunlink NS_A NS_B --name IFACE   a point-to-point link between two network namespaces: a tun
                                            device IFACE in each (link type none, as PPP or WireGuard
                                            would be), packets relayed between them until killed;
                                            prints "ready" once both exist
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


def session(host, port):
    """Holds one TCP connection to an echo server (an admin's SSH session): says its local end,
    then sends each line read from stdin and prints "echoed" when it comes back, "lost" when it
    does not within 2 s (a later echo of it is skipped)."""
    s = socket.create_connection((host, port), timeout=10)
    print("connected %s %d" % s.getsockname()[:2], flush=True)
    s.settimeout(2)
    pending = b""
    for line in sys.stdin:
        token = line.strip().encode() + b"\n"
        try:
            s.sendall(token)
            while token not in pending:
                chunk = s.recv(4096)
                if not chunk:
                    print("closed", flush=True)
                    return 1
                pending += chunk
            pending = pending.split(token, 1)[1]
            print("echoed", flush=True)
        except socket.timeout:
            print("lost", flush=True)
    return 0


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


IP_PKTINFO = 8  # linux/in.h; Python's socket module does not name it


def sink(udp_ports, seconds):
    sockets = []
    for port in udp_ports:
        for fam, where in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            else:
                s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            s.bind((where, port))
            sockets.append((port, fam, s))
    print("ready", flush=True)
    # Until the end marker (`send --end`) arrives, then a moment for stragglers; at most S seconds.
    deadline = time.time() + seconds
    while time.time() < deadline:
        ready, _, _ = select.select([s for _, _, s in sockets], [], [], max(0, deadline - time.time()))
        for port, fam, s in sockets:
            if s not in ready:
                continue
            data, ancillary, _, _ = s.recvmsg(8192, 256)
            if data.startswith(b"rampart-probe-end"):
                deadline = min(deadline, time.time() + 0.3)
                continue
            destination = "?"
            for level, kind, data in ancillary:
                if fam == socket.AF_INET and kind == IP_PKTINFO:
                    destination = socket.inet_ntop(socket.AF_INET, data[8:12])
                elif fam == socket.AF_INET6 and kind == socket.IPV6_PKTINFO:
                    destination = socket.inet_ntop(socket.AF_INET6, data[0:16])
            print("%d %s" % (port, destination), flush=True)
    print("done", flush=True)


def send(host, port, source, count, size, end=False):
    fam = family(host)
    links = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True).stdout.splitlines()
    device = next(line.split()[1] for line in links if (" " + source + "/") in line)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    if fam == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(source))
        target = (host, port)
    else:
        index = socket.if_nametoindex(device)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        target = (host, port, 0, index if host.lower().startswith("ff02") or host.lower().startswith("fe80") else 0)
    for i in range(count):
        s.sendto(b"rampart-probe-end" if end else (b"rampart-probe %d " % i).ljust(size, b"."), target)
    s.close()
    return 0


def nd(kind, dev, hops, to, count, src):
    # The link-local address must have finished DAD before a socket may use it.
    deadline = time.time() + 5
    while time.time() < deadline:
        out = subprocess.run(["ip", "-6", "-o", "addr", "show", "dev", dev, "scope", "link"], capture_output=True, text=True).stdout
        if out and "tentative" not in out:
            break
        time.sleep(0.05)
    source = src or out.split()[3].split("/")[0]
    index = socket.if_nametoindex(dev)
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.bind((source, 0, 0, index))
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, hops)
    if kind.isdigit():
        # Any ICMPv6 type: a 32-bit word (a packet too big's MTU, 1280) and 40 bytes of payload.
        message = struct.pack("!BBHI", int(kind), 0, 0, 1280 if kind == "2" else 0) + bytes(40)
        target = (to, 0, 0, index)
    elif kind == "ra":
        # type 134, code, checksum (the kernel's), cur hop limit 64, flags, router lifetime 1800 s,
        # reachable time, retrans timer
        message = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)
        target = ("ff02::1", 0, 0, index)
    else:
        message = struct.pack("!BBHI", 135, 0, 0, 0) + socket.inet_pton(socket.AF_INET6, to)
        target = (to, 0, 0, index)
    for _ in range(count):
        s.sendto(message, target)
    s.close()
    print(source, flush=True)
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


def tunlink(ns_a, ns_b, name):
    import ctypes
    import fcntl
    import os
    libc = ctypes.CDLL(None, use_errno=True)
    fds = []
    for ns in (ns_a, ns_b):
        nsfd = os.open("/run/netns/" + ns, os.O_RDONLY)
        # setns(fd, CLONE_NEWNET): this process only; it configures nothing in any namespace.
        if libc.setns(nsfd, 0x40000000) != 0:
            raise OSError(ctypes.get_errno(), "setns " + ns)
        os.close(nsfd)
        fd = os.open("/dev/net/tun", os.O_RDWR)
        # TUNSETIFF with IFF_TUN | IFF_NO_PI: the device appears in the namespace entered.
        fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", name.encode(), 0x0001 | 0x1000))
        fds.append(fd)
    print("ready", flush=True)
    while True:
        readable, _, _ = select.select(fds, [], [])
        for fd in readable:
            packet = os.read(fd, 65536)
            try:
                os.write(fds[1] if fd == fds[0] else fds[0], packet)
            except OSError:
                pass  # the other end is down: the packet is lost, as on a link that is down


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
    p = sub.add_parser("sink")
    p.add_argument("--udp", type=ports, default=[])
    p.add_argument("--seconds", type=float, default=3)
    p = sub.add_parser("send")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--from", dest="source", required=True)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--end", action="store_true", help="send the marker that ends a sink")
    p = sub.add_parser("nd")
    p.add_argument("kind", help="ra, ns, or an ICMPv6 type number")
    p.add_argument("--dev", required=True)
    p.add_argument("--hops", type=int, default=255)
    p.add_argument("--to", default="")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--src", default="")
    p = sub.add_parser("session")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p = sub.add_parser("tunlink")
    p.add_argument("ns_a")
    p.add_argument("ns_b")
    p.add_argument("--name", required=True)
    p = sub.add_parser("stream")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--interval", type=float, default=0.2)
    a = parser.parse_args()
    if a.cmd == "echo":
        echo(a.tcp)
    elif a.cmd == "tunlink":
        tunlink(a.ns_a, a.ns_b, a.name)
    elif a.cmd == "session":
        sys.exit(session(a.host, a.port))
    elif a.cmd == "sink":
        sink(a.udp, a.seconds)
    elif a.cmd == "send":
        sys.exit(send(a.host, a.port, a.source, a.count, a.size, a.end))
    elif a.cmd == "nd":
        sys.exit(nd(a.kind, a.dev, a.hops, a.to, a.count, a.src))
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
