import RampartPolicy

/// The packet `rampart explain` asks about, from its words:
/// `in|out PROTO SOURCE [->|to] DESTINATION [icmp-type=N] [flags=syn+ack] [ipsec] [nat-t] [interface=NAME]
/// [conntype=lan|dialup]`, where PROTO is
/// tcp, udp, icmp or a number, and an endpoint is `ADDRESS[:PORT]`, `[IPV6]:PORT` or `me[:PORT]`.
public struct PacketQuery: Sendable, Equatable {
    public enum Endpoint: Sendable, Equatable {
        case me
        case address(IPAddress)
    }

    public var hook: Chain.Hook
    /// nil for `icmp`: 1 or 58 by the address family.
    public var proto: UInt8?
    public var source: Endpoint
    public var sourcePort: UInt16
    public var destination: Endpoint
    public var destinationPort: UInt16
    public var icmpType: UInt8?
    /// TCP only; a SYN when not given.
    public var tcpFlags: UInt8 = 0x02
    public var ipsec = false
    public var natTraversal = false
    public var interface = "eth0"
    /// The interface's kind (`conntype=dialup`): Ethernet (1) unless told, PPP (512) for dialup.
    public var linkType: UInt16 = 1
    /// IPv6's hop limit as it arrives (`hoplimit=N`); 255 is what a neighbour on the link sends.
    public var hopLimit: UInt8 = 255
    /// The connection's state as conntrack sees it (`state=established`); a new connection by default.
    public var conntrack: CtState = .new

    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    static let usage = "expected: in|out PROTO SOURCE [to] DESTINATION, e.g. 'in tcp 198.51.100.7:51000 to me:3389'"

    public static func parse(_ words: [String]) throws(Failure) -> PacketQuery {
        var rest = words[...]
        guard let direction = rest.popFirst(),
            let hook = ["in": Chain.Hook.input, "out": .output][direction.lowercased()]
        else {
            throw Failure(description: usage)
        }
        // `->` (quoted in a shell, where `>` redirects), `to`, or nothing between the endpoints.
        guard let protoWord = rest.popFirst()?.lowercased(), let source = rest.popFirst() else {
            throw Failure(description: usage)
        }
        if let arrow = rest.first, arrow == "->" || arrow.lowercased() == "to" { rest.removeFirst() }
        guard let destination = rest.popFirst() else { throw Failure(description: usage) }
        let proto = try protocolNumber(protoWord)
        let (s, sp) = try endpoint(source)
        let (d, dp) = try endpoint(destination)
        var query = PacketQuery(
            hook: hook, proto: proto, source: s, sourcePort: sp ?? 0, destination: d, destinationPort: dp ?? 0)
        let ported = proto == 6 || proto == 17
        if ported && (sp == nil || dp == nil) {
            throw Failure(description: "\(protoWord) needs a port on both sides (ADDRESS:PORT)")
        }
        if !ported && (sp != nil || dp != nil) { throw Failure(description: "ports are for tcp and udp only") }
        for word in rest { try query.option(word) }
        return query
    }

    /// tcp, udp, icmp (nil: either family's), esp, ah or a number.
    static func protocolNumber(_ word: String) throws(Failure) -> UInt8? {
        switch word {
        case "tcp": return 6
        case "udp": return 17
        case "icmp": return nil
        case "esp": return 50
        case "ah": return 51
        default:
            guard let n = UInt8(word) else {
                throw Failure(description: "unknown protocol '\(word)': tcp, udp, icmp, esp, ah or a number 0-255")
            }
            return n
        }
    }

    /// One `name=value` (or bare word) after the packet.
    mutating func option(_ word: String) throws(Failure) {
        let parts = word.split(separator: "=", maxSplits: 1).map(String.init)
        switch (parts[0].lowercased(), parts.count == 2 ? parts[1] : nil) {
        case ("ipsec", nil): ipsec = true
        case ("nat-t", nil):
            ipsec = true
            natTraversal = true
        case ("interface", let name?) where !name.isEmpty: interface = name
        case ("conntype", let kind?):
            switch kind.lowercased() {
            case "lan": linkType = 1
            case "dialup": linkType = 512
            default: throw Failure(description: "conntype takes lan or dialup (the kind of interface the packet uses)")
            }
        case ("icmp-type", let n?):
            guard proto == nil || proto == 1 || proto == 58, let t = UInt8(n) else {
                throw Failure(description: "icmp-type takes 0-255, with icmp only")
            }
            icmpType = t
        case ("state", let s?):
            guard let state = CtState(rawValue: s.lowercased()) else {
                throw Failure(description: "state takes new, established, related or invalid")
            }
            conntrack = state
        case ("hoplimit", let n?):
            guard let h = UInt8(n) else { throw Failure(description: "hoplimit takes 0-255") }
            hopLimit = h
        case ("flags", let f?):
            guard proto == 6, !f.contains("/"), case .success(let m) = TCPFlagMatch.parse(f), !m.negated else {
                throw Failure(description: "flags takes TCP flags joined by '+' (flags=syn+ack), with tcp only")
            }
            tcpFlags = m.value
        default:
            throw Failure(
                description:
                    "unexpected '\(word)'; after the packet: icmp-type=N, flags=F+G, hoplimit=N, state=S, ipsec, nat-t, interface=NAME, conntype=lan|dialup"
            )
        }
    }

    static func endpoint(_ text: String) throws(Failure) -> (Endpoint, UInt16?) {
        var address = text, port: String?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw Failure(description: "'\(text)': unclosed '['") }
            address = String(text[text.index(after: text.startIndex)..<close])
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { throw Failure(description: "'\(text)': expected ':PORT' after ']'") }
                port = String(after.dropFirst())
            }
        } else if text.filter({ $0 == ":" }).count == 1 {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            address = String(parts[0])
            port = String(parts[1])
        }
        var number: UInt16?
        if let port {
            guard let p = UInt16(port), p > 0 else { throw Failure(description: "'\(text)': the port must be 1-65535") }
            number = p
        }
        if address.lowercased() == "me" { return (.me, number) }
        guard let a = IPAddress(address) else {
            throw Failure(description: "'\(address)' is not an IP address or 'me'")
        }
        return (.address(a), number)
    }

    /// The packet, with `me` replaced by this host's address of the other side's family.
    public func packet(on host: Host) throws(Failure) -> Packet {
        let family: IPAddress.Family
        switch (source, destination) {
        case (.address(let a), .address(let b)):
            guard a.family == b.family else {
                throw Failure(description: "the source and destination are of different IP versions")
            }
            family = a.family
        case (.address(let a), .me), (.me, .address(let a)): family = a.family
        case (.me, .me):
            throw Failure(
                description: "both sides are 'me': that traffic uses the loopback interface and is always permitted")
        }
        // Loopback and link-local addresses stand for `me` only when there is nothing else.
        func ordinary(_ a: IPAddress) -> Bool {
            a.family == .ipv4
                ? a.numeric >> 24 != 127 && a.numeric >> 16 != 0xa9fe : a.numeric != 1 && a.numeric >> 118 != 0x3fa
        }
        let candidates = host.localAddresses.filter { $0.family == family }
        guard let mine = candidates.filter(ordinary).min() ?? candidates.min() else {
            throw Failure(
                description: "this host has no \(family == .ipv4 ? "IPv4" : "IPv6") address to stand for 'me'")
        }
        func resolve(_ e: Endpoint) -> IPAddress {
            if case .address(let a) = e { return a }
            return mine
        }
        let number = proto ?? (family == .ipv4 ? 1 : 58)
        var p = Packet(
            source: resolve(source), destination: resolve(destination), proto: number, sourcePort: sourcePort,
            destinationPort: destinationPort, tcpFlags: number == 6 ? tcpFlags : 0, interface: interface, ipsec: ipsec)
        p.natTraversal = natTraversal
        if number == 1 || number == 58 { p.icmpType = icmpType ?? (number == 1 ? 8 : 128) }
        p.hopLimit = hopLimit
        p.conntrack = conntrack
        p.linkType = linkType
        return p
    }
}
