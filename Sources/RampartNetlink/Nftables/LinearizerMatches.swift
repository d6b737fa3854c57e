import RampartCompiler
import RampartPolicy

/// One rule's bytecode as it is built: what protocol it has checked so far, so each implicit
/// dependency (`meta nfproto`, `meta l4proto`) is emitted once, where nft emits it. Each method
/// is one kind of match or statement, with the nft statement it implements beside it.
struct RuleBytecode {
    let setIDs: [String: UInt32]
    private(set) var out: [Expr] = []
    private var nfproto: IPAddress.Family?
    private var l4proto: UInt8?

    init(setIDs: [String: UInt32]) {
        self.setIDs = setIDs
    }

    mutating func needFamily(_ family: IPAddress.Family) {
        guard nfproto != family else { return }
        // meta nfproto ipv4|ipv6 (implicit in nft for ip/ip6 matches)
        out += [.meta(.nfproto), .cmp(.eq, [family == .ipv4 ? 2 : 10])]
        nfproto = family
    }

    mutating func needL4(_ proto: UInt8) {
        guard l4proto != proto else { return }
        // meta l4proto N (implicit in nft for tcp/udp/icmpv6 header matches)
        out += [.meta(.l4proto), .cmp(.eq, [proto])]
        l4proto = proto
    }

    private func setID(_ name: String) -> UInt32 { setIDs[name] ?? 0 }

    /// The network header offset of the source or destination address.
    private static func addressOffset(_ family: IPAddress.Family, _ side: PacketSide) -> UInt32 {
        family == .ipv4 ? (side == .source ? 12 : 16) : (side == .source ? 8 : 24)
    }

    mutating func interface(input: Bool, _ ifindex: UInt32) {
        // iif|oif "NAME": meta load iif|oif, cmp eq ifindex (host order)
        out += [.meta(input ? .iif : .oif), .cmp(.eq, Linearizer.hostU32(ifindex))]
    }

    mutating func address(_ side: PacketSide, _ address: AddressMatch) {
        needFamily(address.family)
        let bytes = address.family == .ipv4 ? 4 : 16
        let offset = Self.addressOffset(address.family, side)
        switch address {
        case .prefix(let ip, let prefix) where prefix == ip.family.bits:
            // ip saddr A: payload load 4b @ network + 12, cmp eq A
            out += [.payload(base: .network, offset: offset, length: UInt32(bytes)), .cmp(.eq, Linearizer.bytes(ip))]
        case .prefix(let ip, let prefix) where prefix % 8 == 0:
            // ip saddr A/24: only the prefix bytes are loaded and compared
            out += [
                .payload(base: .network, offset: offset, length: UInt32(prefix / 8)),
                .cmp(.eq, Array(Linearizer.bytes(ip).prefix(prefix / 8)))
            ]
        case .prefix(let ip, let prefix):
            // ip saddr A/17: full load, bitwise mask, cmp eq network
            let mask = Linearizer.bytes(
                IPAddress(family: ip.family, numeric: IPAddress.mask(prefix: prefix, family: ip.family)))
            out += [
                .payload(base: .network, offset: offset, length: UInt32(bytes)),
                .bitwise(mask: mask, xor: Array(repeating: 0, count: bytes)),
                .cmp(.eq, Linearizer.bytes(ip.masked(prefix: prefix)))
            ]
        case .range(let first, let last):
            // ip saddr A-B: payload load, cmp gte A, cmp lte B
            out += [
                .payload(base: .network, offset: offset, length: UInt32(bytes)),
                .cmp(.gte, Linearizer.bytes(first)), .cmp(.lte, Linearizer.bytes(last))
            ]
        case .set(let name, _):
            // ip saddr @set: payload load, lookup
            out += [
                .payload(base: .network, offset: offset, length: UInt32(bytes)), .lookup(set: name, setID: setID(name))
            ]
        }
    }

    mutating func filterSet(_ name: String, _ key: FilterSet.Key) {
        if let a = key.address {
            needFamily(a.family)
            if let p = key.port { needL4(p.proto) }
            let bytes = a.family == .ipv4 ? 4 : 16
            // ip saddr [& MASK] …: payload load 4|16b @ network + offset → reg 1, bitwise mask
            out.append(.payload(base: .network, offset: Self.addressOffset(a.family, a.side), length: UInt32(bytes)))
            if a.length < a.family.bits {
                out.append(
                    .bitwise(
                        mask: Linearizer.bytes(
                            IPAddress(family: a.family, numeric: IPAddress.mask(prefix: a.length, family: a.family))),
                        xor: Array(repeating: 0, count: bytes)))
            }
        } else if let p = key.port {
            needL4(p.proto)
        }
        if let p = key.port {
            // … . tcp sport|dport: payload load 2b @ transport + 0|2 → the next free register
            // (32-bit reg 9 after an IPv4 address, 128-bit reg 2 after an IPv6 one, else reg 1)
            let register: UInt32 = key.address.map { $0.family == .ipv4 ? 9 : 2 } ?? 1
            out.append(.payload(base: .transport, offset: p.side == .source ? 0 : 2, length: 2, register: register))
        }
        // @NAME: lookup reg 1 set NAME
        out.append(.lookup(set: name, setID: setID(name)))
    }

    mutating func fibType(_ side: PacketSide, _ type: FibType) {
        // fib saddr|daddr type T: fib → reg 1, cmp eq RTN_T (host order)
        out += [.fibAddressType(flags: side == .source ? 1 : 2), .cmp(.eq, Linearizer.hostU32(type.rtn))]
    }

    mutating func fibTypeRange(_ side: PacketSide, _ low: FibType, _ high: FibType) {
        // fib saddr|daddr type LOW - HIGH: fib → reg 1, byteorder hton (4 bytes), cmp gte, cmp lte
        out += [
            .fibAddressType(flags: side == .source ? 1 : 2), .byteorderHton(length: 4, size: 4),
            .cmp(.gte, Linearizer.be32(low.rtn)), .cmp(.lte, Linearizer.be32(high.rtn))
        ]
    }

    mutating func linkType(input: Bool, _ connection: ConnectionType) {
        // meta iiftype|oiftype >= 512 (dialup) or < 512 (lan): meta load iiftype|oiftype,
        // byteorder hton (2 bytes: the type is host order), cmp gte|lt 0x0200
        out += [
            .meta(input ? .iiftype : .oiftype), .byteorderHton(length: 2, size: 2),
            .cmp(connection == .dialup ? .gte : .lt, Linearizer.be16(ConnectionType.firstDialupLinkType))
        ]
    }

    mutating func l4proto(_ proto: UInt8) {
        // meta l4proto N
        out += [.meta(.l4proto), .cmp(.eq, [proto])]
        l4proto = proto
    }

    mutating func port(_ side: PacketSide, proto: UInt8, _ port: UInt16) {
        needL4(proto)
        // tcp sport|dport N: payload load 2b @ transport + 0|2, cmp eq N
        out += [
            .payload(base: .transport, offset: side == .source ? 0 : 2, length: 2), .cmp(.eq, Linearizer.be16(port))
        ]
    }

    mutating func ports(proto: UInt8, source: UInt16, destination: UInt16) {
        needL4(proto)
        // tcp sport A tcp dport B: nft merges the adjacent fields into one 4-byte load
        out += [
            .payload(base: .transport, offset: 0, length: 4),
            .cmp(.eq, Linearizer.be16(source) + Linearizer.be16(destination))
        ]
    }

    mutating func portRange(_ side: PacketSide, proto: UInt8, _ first: UInt16, _ last: UInt16) {
        needL4(proto)
        // tcp sport|dport A-B: payload load 2b @ transport + 0|2, cmp gte A, cmp lte B
        out += [
            .payload(base: .transport, offset: side == .source ? 0 : 2, length: 2),
            .cmp(.gte, Linearizer.be16(first)), .cmp(.lte, Linearizer.be16(last))
        ]
    }

    mutating func portSet(_ side: PacketSide, proto: UInt8, _ set: String) {
        needL4(proto)
        // tcp sport|dport @NAME: payload load 2b @ transport + 0|2, lookup reg 1 set NAME
        out += [
            .payload(base: .transport, offset: side == .source ? 0 : 2, length: 2), .lookup(set: set, setID: setID(set))
        ]
    }

    mutating func tcpFlags(_ flags: TCPFlagMatch) {
        needL4(6)
        // tcp flags & MASK ==|!= VALUE: payload load 1b @ transport + 13, bitwise (reg & MASK) ^ 0, cmp eq|neq VALUE
        out += [
            .payload(base: .transport, offset: 13, length: 1), .bitwise(mask: [flags.mask], xor: [0]),
            .cmp(flags.negated ? .neq : .eq, [flags.value])
        ]
    }

    mutating func icmpv6Types(_ low: UInt8, _ high: UInt8) {
        needFamily(.ipv6)
        needL4(58)
        // icmpv6 type A-B: payload load 1b @ transport + 0, cmp gte A, cmp lte B (cmp eq A alone)
        out +=
            [.payload(base: .transport, offset: 0, length: 1)]
            + (low == high ? [.cmp(.eq, [low])] : [.cmp(.gte, [low]), .cmp(.lte, [high])])
    }

    mutating func hopLimit(_ n: UInt8) {
        needFamily(.ipv6)
        // ip6 hoplimit N: payload load 1b @ network + 7, cmp eq N
        out += [.payload(base: .network, offset: 7, length: 1), .cmp(.eq, [n])]
    }

    mutating func ctState(_ states: [CtState]) {
        let bits: [CtState: UInt32] = [.invalid: 1, .established: 2, .related: 4, .new: 8]
        let mask = states.reduce(UInt32(0)) { $0 | (bits[$1] ?? 0) }
        // ct state S: ct load state, bitwise (reg & S) ^ 0, cmp neq 0
        out += [.ctState, .bitwise(mask: Linearizer.hostU32(mask), xor: [0, 0, 0, 0]), .cmp(.neq, [0, 0, 0, 0])]
    }

    mutating func ipsecInbound() {
        // meta ipsec exists: meta load secpath, cmp eq 1
        out += [.meta(.secpath), .cmp(.eq, [1])]
    }

    mutating func ipsecOutbound() {
        // rt ipsec exists: rt load ipsec, cmp eq 1
        out += [.rtIpsec, .cmp(.eq, [1])]
    }

    mutating func add(_ statement: Statement) {
        switch statement {
        case .counter: out.append(.counter)
        case .log(let prefix, let group): out.append(.log(prefix: prefix, group: group))
        case .accept: out.append(.accept)
        case .drop: out.append(.drop)
        case .tproxy(let port):
            // tproxy to :PORT: immediate reg 1 PORT (big-endian), tproxy port reg 1 (family unspec: both)
            out += [.immediate(register: 1, data: Linearizer.be16(port)), .tproxyPort(register: 1)]
        }
    }
}
