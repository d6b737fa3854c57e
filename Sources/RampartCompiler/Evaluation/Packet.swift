import RampartPolicy

/// One packet as a filter sees it, at the input or output hook: addresses, protocol, ports (or
/// the ICMP type), the interface, whether an IPsec SA carried it, and its conntrack state.
public struct Packet: Sendable, Equatable, CustomStringConvertible {
    public var source: IPAddress
    public var destination: IPAddress
    /// The IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, …).
    public var proto: UInt8
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    /// For ICMP and ICMPv6: the type.
    public var icmpType: UInt8
    /// For TCP: the flags byte (0x02 a SYN, 0x12 a SYN-ACK, 0x10 an ACK).
    public var tcpFlags: UInt8
    /// The input interface at the input hook, the output interface at the output hook.
    public var interface: String
    /// That interface's link type (ARPHRD_*): 1 Ethernet, 512 PPP, 65534 tun (`ConnectionType`).
    public var linkType: UInt16 = 1
    /// Decrypted by (input) or to be encrypted by (output) an IPsec SA.
    public var ipsec: Bool
    public var conntrack: CtState
    /// IPv6's hop limit as it arrives (255: sent on this link; neighbour discovery needs it).
    public var hopLimit: UInt8 = 255
    /// With `ipsec`: the SA's ESP travels in UDP 4500 (NAT traversal) instead of as protocol 50.
    public var natTraversal = false

    public init(
        source: IPAddress, destination: IPAddress, proto: UInt8, sourcePort: UInt16 = 0, destinationPort: UInt16 = 0,
        icmpType: UInt8 = 0, tcpFlags: UInt8 = 0x02, interface: String = "eth0", ipsec: Bool = false,
        conntrack: CtState = .new
    ) {
        self.source = source
        self.destination = destination
        self.proto = proto
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.icmpType = icmpType
        self.tcpFlags = tcpFlags
        self.interface = interface
        self.ipsec = ipsec
        self.conntrack = conntrack
    }

    public var family: IPAddress.Family { source.family }

    /// The same packet on an interface of link type `type`.
    public func onLink(_ type: UInt16) -> Packet {
        var p = self
        p.linkType = type
        return p
    }

    /// TCP, UDP, SCTP, DCCP and UDP-Lite carry ports where `th sport`/`th dport` read them.
    public var hasPorts: Bool { [6, 17, 33, 132, 136].contains(proto) }

    public var description: String {
        func endpoint(_ a: IPAddress, _ port: UInt16) -> String {
            guard hasPorts else { return a.description }
            return a.family == .ipv6 ? "[\(a)]:\(port)" : "\(a):\(port)"
        }
        let what =
            hasPorts ? "proto \(proto)" : (proto == 1 || proto == 58) ? "icmp type \(icmpType)" : "proto \(proto)"
        return
            "\(endpoint(source, sourcePort)) -> \(endpoint(destination, destinationPort)) \(what) on \(interface)\(linkType >= ConnectionType.firstDialupLinkType ? " (dialup)" : "")\(ipsec ? natTraversal ? " (ipsec, nat-t)" : " (ipsec)" : "")"
    }

    /// The packet the SA carries this one in: ESP between the same addresses (transport mode), or
    /// ESP in UDP 4500 with NAT traversal. nil for a packet IPsec does not carry.
    public var encrypted: Packet? {
        guard ipsec else { return nil }
        let port: UInt16 = natTraversal ? 4500 : 0
        return Packet(
            source: source, destination: destination, proto: natTraversal ? 17 : 50, sourcePort: port,
            destinationPort: port,
            tcpFlags: 0, interface: interface, conntrack: conntrack)
    }

    /// Netfilter sees a protected packet twice: arriving, encrypted first and then decrypted;
    /// leaving, clear first and then encrypted. It passes only if both pass; the verdict names what
    /// decided it (the clear pass's decider when both accept).
    public func throughBothPasses(_ hook: Chain.Hook, _ decide: (Packet) -> PacketVerdict) -> PacketVerdict {
        guard let outer = encrypted else { return decide(self) }
        let first = hook == .input ? outer : self, second = hook == .input ? self : outer
        let a = decide(first)
        guard a.action == .accept else { return a }
        let b = decide(second)
        return b.action == .accept ? (hook == .input ? b : a) : b
    }
}

/// What the machine is, for matching `me` and the address types: its own addresses, and the
/// broadcast and anycast addresses its interfaces' prefixes give it (the kernel's local table).
public struct Host: Sendable, Equatable {
    public var localAddresses: Set<IPAddress>
    /// Subnet broadcast addresses (`192.0.2.255` on a /24).
    public var broadcastAddresses: Set<IPAddress>
    /// IPv6 subnet-router anycast addresses (`2001:db8::` on a /64).
    public var anycastAddresses: Set<IPAddress>

    public init(
        localAddresses: Set<IPAddress>, broadcastAddresses: Set<IPAddress> = [], anycastAddresses: Set<IPAddress> = []
    ) {
        self.localAddresses = localAddresses
        self.broadcastAddresses = broadcastAddresses
        self.anycastAddresses = anycastAddresses
    }

    public init(_ addresses: some HostAddresses) {
        self.init(
            localAddresses: Set(addresses.local), broadcastAddresses: Set(addresses.broadcast),
            anycastAddresses: Set(addresses.anycast))
    }

    public func isLocal(_ a: IPAddress) -> Bool { localAddresses.contains(a) }

    /// What `fib daddr type` answers for `a` on this host: the local table's entries first, then
    /// what the address itself says (0.0.0.0/8 and 255.255.255.255 are broadcast, as in
    /// `inet_dev_addr_type`).
    public func addressType(_ a: IPAddress) -> FibType {
        if localAddresses.contains(a) { return .local }
        if broadcastAddresses.contains(a) || Host.isBroadcast(a) || (a.family == .ipv4 && a.numeric >> 24 == 0) {
            return .broadcast
        }
        if Host.isMulticast(a) { return .multicast }
        if anycastAddresses.contains(a) { return .anycast }
        return .unicast
    }

    /// `me` as a destination: this host's own, broadcast, anycast and multicast addresses.
    public func receives(_ a: IPAddress) -> Bool { addressType(a) != .unicast }

    public static func isMulticast(_ a: IPAddress) -> Bool {
        switch a.family {
        case .ipv4: return a.numeric >> 28 == 0xe
        case .ipv6: return a.numeric >> 120 == 0xff
        }
    }

    public static func isBroadcast(_ a: IPAddress) -> Bool {
        a.family == .ipv4 && a.numeric == 0xffff_ffff
    }
}

/// A verdict and what decided it: a filter's id (`F12`, `F12m`, `D3`), or one of the fixed rules
/// (`loopback`, `icmpv6-nd`, `exempt-…`), or nil when nothing matched (the default: permit).
public struct PacketVerdict: Sendable, Equatable, CustomStringConvertible {
    public enum Action: String, Sendable {
        case accept, drop
    }

    public var action: Action
    public var decidedBy: String?

    public init(_ action: Action, _ decidedBy: String?) {
        self.action = action
        self.decidedBy = decidedBy
    }

    public var description: String { "\(action) (\(decidedBy ?? "no filter matched"))" }
}
