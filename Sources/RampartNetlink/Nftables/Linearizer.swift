import RampartCompiler
import RampartPolicy

/// Ruleset model → nf_tables bytecode, instruction for instruction what nft 1.0.6 emits for the
/// same rule text (verified against `nft --debug=netlink` in the tests). In an `inet` table the
/// protocol dependencies (`meta nfproto`, `meta l4proto`) are ours to emit, once per rule.
public struct Linearizer: Sendable {
    /// Interface name → index. `lo` is 1 in every network namespace.
    public var interfaceIndex: @Sendable (String) -> UInt32?
    /// Set name → the batch-local set id that lets a rule refer to a set created in the same batch.
    public var setIDs: [String: UInt32]

    public init(setIDs: [String: UInt32] = [:], interfaceIndex: @escaping @Sendable (String) -> UInt32? = { $0 == "lo" ? 1 : nil }) {
        self.setIDs = setIDs
        self.interfaceIndex = interfaceIndex
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The bytecode of one rule.
    public func linearize(_ rule: RuleSpec) throws(Failure) -> [Expr] {
        var out: [Expr] = []
        var nfproto: IPAddress.Family?
        var l4proto: UInt8?

        func needFamily(_ family: IPAddress.Family) {
            guard nfproto != family else { return }
            // meta nfproto ipv4|ipv6 (implicit in nft for ip/ip6 matches)
            out += [.meta(.nfproto), .cmp(.eq, [family == .ipv4 ? 2 : 10])]
            nfproto = family
        }

        func needL4(_ proto: UInt8) {
            guard l4proto != proto else { return }
            // meta l4proto N (implicit in nft for tcp/udp/icmpv6 header matches)
            out += [.meta(.l4proto), .cmp(.eq, [proto])]
            l4proto = proto
        }

        var index = 0
        let matches = rule.matches
        while index < matches.count {
            let match = matches[index]
            index += 1
            switch match {
            case .inputInterface(let name), .outputInterface(let name):
                guard let ifindex = interfaceIndex(name) else {
                    throw Failure(description: "rule \(rule.id): no interface named '\(name)'")
                }
                let isInput: Bool
                if case .inputInterface = match { isInput = true } else { isInput = false }
                // iif|oif "NAME": meta load iif|oif, cmp eq ifindex (host order)
                out += [.meta(isInput ? .iif : .oif), .cmp(.eq, Linearizer.hostU32(ifindex))]
            case .address(let side, let address):
                needFamily(address.family)
                let bytes = address.family == .ipv4 ? 4 : 16
                let offset: UInt32 = address.family == .ipv4 ? (side == .source ? 12 : 16) : (side == .source ? 8 : 24)
                switch address {
                case .prefix(let ip, let prefix):
                    let value = Linearizer.bytes(ip)
                    if prefix == ip.family.bits {
                        // ip saddr A: payload load 4b @ network + 12, cmp eq A
                        out += [.payload(base: .network, offset: offset, length: UInt32(bytes)), .cmp(.eq, value)]
                    } else if prefix % 8 == 0 {
                        // ip saddr A/24: only the prefix bytes are loaded and compared
                        out += [.payload(base: .network, offset: offset, length: UInt32(prefix / 8)), .cmp(.eq, Array(value.prefix(prefix / 8)))]
                    } else {
                        // ip saddr A/17: full load, bitwise mask, cmp eq network
                        let mask = Linearizer.bytes(IPAddress(family: ip.family, numeric: IPAddress.mask(prefix: prefix, family: ip.family)))
                        out += [.payload(base: .network, offset: offset, length: UInt32(bytes)),
                                .bitwise(mask: mask, xor: Array(repeating: 0, count: bytes)),
                                .cmp(.eq, Linearizer.bytes(ip.masked(prefix: prefix)))]
                    }
                case .range(let first, let last):
                    // ip saddr A-B: payload load, cmp gte A, cmp lte B
                    out += [.payload(base: .network, offset: offset, length: UInt32(bytes)),
                            .cmp(.gte, Linearizer.bytes(first)), .cmp(.lte, Linearizer.bytes(last))]
                case .set(let name, _):
                    // ip saddr @set: payload load, lookup
                    out += [.payload(base: .network, offset: offset, length: UInt32(bytes)), .lookup(set: name, setID: setIDs[name] ?? 0)]
                }
            case .filterSet(let name, let key):
                if let a = key.address {
                    needFamily(a.family)
                    if let p = key.port { needL4(p.proto) }
                    let bytes = a.family == .ipv4 ? 4 : 16
                    let offset: UInt32 = a.family == .ipv4 ? (a.side == .source ? 12 : 16) : (a.side == .source ? 8 : 24)
                    // ip saddr [& MASK] …: payload load 4|16b @ network + offset → reg 1, bitwise mask
                    out.append(.payload(base: .network, offset: offset, length: UInt32(bytes)))
                    if a.length < a.family.bits {
                        out.append(.bitwise(mask: Linearizer.bytes(IPAddress(family: a.family, numeric: IPAddress.mask(prefix: a.length, family: a.family))),
                                            xor: Array(repeating: 0, count: bytes)))
                    }
                } else if let p = key.port {
                    needL4(p.proto)
                }
                if let p = key.port {
                    // … . tcp sport|dport: payload load 2b @ transport + 0|2 → the next free register
                    // (32-bit reg 9 after an IPv4 address, 128-bit reg 2 after an IPv6 one, else reg 1)
                    let register: UInt32 = key.address == nil ? 1 : (key.address!.family == .ipv4 ? 9 : 2)
                    out.append(.payload(base: .transport, offset: p.side == .source ? 0 : 2, length: 2, register: register))
                }
                // @NAME: lookup reg 1 set NAME
                out.append(.lookup(set: name, setID: setIDs[name] ?? 0))
            case .fibAddressType(let side, let type):
                // fib saddr|daddr type T: fib → reg 1, cmp eq RTN_T (host order)
                out += [.fibAddressType(flags: side == .source ? 1 : 2), .cmp(.eq, Linearizer.hostU32(type.rtn))]
            case .fibAddressTypeRange(let side, let low, let high):
                // fib saddr|daddr type LOW - HIGH: fib → reg 1, byteorder hton (4 bytes), cmp gte, cmp lte
                out += [.fibAddressType(flags: side == .source ? 1 : 2), .byteorderHton(length: 4, size: 4),
                        .cmp(.gte, Linearizer.be32(low.rtn)), .cmp(.lte, Linearizer.be32(high.rtn))]
            case .l4proto(let proto):
                // meta l4proto N
                out += [.meta(.l4proto), .cmp(.eq, [proto])]
                l4proto = proto
            case .port(let side, let proto, let port):
                needL4(proto)
                if side == .source, index < matches.count, case .port(.destination, proto, let dport) = matches[index] {
                    // tcp sport A tcp dport B: nft merges the adjacent fields into one 4-byte load
                    index += 1
                    out += [.payload(base: .transport, offset: 0, length: 4), .cmp(.eq, Linearizer.be16(port) + Linearizer.be16(dport))]
                } else {
                    // tcp sport|dport N: payload load 2b @ transport + 0|2, cmp eq N
                    out += [.payload(base: .transport, offset: side == .source ? 0 : 2, length: 2), .cmp(.eq, Linearizer.be16(port))]
                }
            case .portRange(let side, let proto, let first, let last):
                needL4(proto)
                // tcp sport|dport A-B: payload load 2b @ transport + 0|2, cmp gte A, cmp lte B
                out += [.payload(base: .transport, offset: side == .source ? 0 : 2, length: 2),
                        .cmp(.gte, Linearizer.be16(first)), .cmp(.lte, Linearizer.be16(last))]
            case .portSet(let side, let proto, let set):
                needL4(proto)
                // tcp sport|dport @NAME: payload load 2b @ transport + 0|2, lookup reg 1 set NAME
                out += [.payload(base: .transport, offset: side == .source ? 0 : 2, length: 2), .lookup(set: set, setID: setIDs[set] ?? 0)]
            case .tcpFlags(let flags):
                needL4(6)
                // tcp flags & MASK ==|!= VALUE: payload load 1b @ transport + 13, bitwise (reg & MASK) ^ 0, cmp eq|neq VALUE
                out += [.payload(base: .transport, offset: 13, length: 1), .bitwise(mask: [flags.mask], xor: [0]),
                        .cmp(flags.negated ? .neq : .eq, [flags.value])]
            case .icmpv6TypeRange(let low, let high):
                needFamily(.ipv6)
                needL4(58)
                // icmpv6 type A-B: payload load 1b @ transport + 0, cmp gte A, cmp lte B (cmp eq A alone)
                out += [.payload(base: .transport, offset: 0, length: 1)] + (low == high ? [.cmp(.eq, [low])] : [.cmp(.gte, [low]), .cmp(.lte, [high])])
            case .hopLimit(let n):
                needFamily(.ipv6)
                // ip6 hoplimit N: payload load 1b @ network + 7, cmp eq N
                out += [.payload(base: .network, offset: 7, length: 1), .cmp(.eq, [n])]
            case .ctState(let states):
                var mask: UInt32 = 0
                for s in states {
                    switch s {
                    case .invalid: mask |= 1
                    case .established: mask |= 2
                    case .related: mask |= 4
                    case .new: mask |= 8
                    }
                }
                // ct state S: ct load state, bitwise (reg & S) ^ 0, cmp neq 0
                out += [.ctState, .bitwise(mask: Linearizer.hostU32(mask), xor: [0, 0, 0, 0]), .cmp(.neq, [0, 0, 0, 0])]
            case .ipsecInbound:
                // meta ipsec exists: meta load secpath, cmp eq 1
                out += [.meta(.secpath), .cmp(.eq, [1])]
            case .ipsecOutbound:
                // rt ipsec exists: rt load ipsec, cmp eq 1
                out += [.rtIpsec, .cmp(.eq, [1])]
            }
        }
        for statement in rule.statements {
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
        return out
    }

    static func bytes(_ ip: IPAddress) -> [UInt8] {
        switch ip {
        case .v4(let v): return [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
        case .v6(let v): return (0..<16).map { UInt8(truncatingIfNeeded: v >> UInt128(120 - 8 * $0)) }
        }
    }

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }

    static func hostU32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v) { Array($0) } }

    static func be32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }

    /// Interval-set elements as nft 1.0.6 sends them: a leading end element at the zero address
    /// (unless the first range starts there), then a start element and an end element (`last + 1`,
    /// flagged END) per merged range; no end element after a range that reaches the top of the space.
    /// The same for an interval set of ports (`PortSet`, already merged): big-endian 2-byte keys.
    public static func intervalElements(_ ranges: [ClosedRange<UInt16>]) -> [(key: [UInt8], end: Bool)] {
        var out: [(key: [UInt8], end: Bool)] = []
        if let first = ranges.first, first.lowerBound != 0 { out.append((be16(0), true)) }
        for r in ranges {
            out.append((be16(r.lowerBound), false))
            if r.upperBound != UInt16.max { out.append((be16(r.upperBound + 1), true)) }
        }
        return out
    }

    public static func intervalElements(_ ranges: [AddressRange], family: IPAddress.Family) -> [(key: [UInt8], end: Bool)] {
        let sorted = AddressRange.normalize(ranges.filter { $0.family == family })
        var out: [(key: [UInt8], end: Bool)] = []
        let zero = IPAddress(family: family, numeric: 0)
        if sorted.first?.first != zero { out.append((bytes(zero), true)) }
        let top: UInt128 = family == .ipv4 ? UInt128(UInt32.max) : UInt128.max
        for r in sorted {
            out.append((bytes(r.first), false))
            if r.last.numeric != top {
                out.append((bytes(IPAddress(family: family, numeric: r.last.numeric + 1)), true))
            }
        }
        return out
    }
}
