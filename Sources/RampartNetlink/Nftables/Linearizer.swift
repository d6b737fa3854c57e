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

    public init(
        setIDs: [String: UInt32] = [:],
        interfaceIndex: @escaping @Sendable (String) -> UInt32? = { $0 == "lo" ? 1 : nil }
    ) {
        self.setIDs = setIDs
        self.interfaceIndex = interfaceIndex
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The bytecode of one rule: its matches in order (each kind in LinearizerMatches.swift), then
    /// its statements.
    public func linearize(_ rule: RuleSpec) throws(Failure) -> [Expr] {
        var code = RuleBytecode(setIDs: setIDs)
        var index = 0
        let matches = rule.matches
        while index < matches.count {
            let match = matches[index]
            index += 1
            if case .port(.source, let proto, let sport) = match, index < matches.count,
                case .port(.destination, proto, let dport) = matches[index]
            {
                index += 1
                code.ports(proto: proto, source: sport, destination: dport)
                continue
            }
            try add(match, to: &code, rule: rule.id)
        }
        for statement in rule.statements { code.add(statement) }
        return code.out
    }

    private func add(_ match: Match, to code: inout RuleBytecode, rule: String) throws(Failure) {
        switch match {
        case .inputInterface(let name), .outputInterface(let name):
            guard let ifindex = interfaceIndex(name) else {
                throw Failure(description: "rule \(rule): no interface named '\(name)'")
            }
            if case .inputInterface = match {
                code.interface(input: true, ifindex)
            } else {
                code.interface(input: false, ifindex)
            }
        case .linkType(let hook, let connection): code.linkType(input: hook == .input, connection)
        case .address(let side, let address): code.address(side, address)
        case .filterSet(let name, let key): code.filterSet(name, key)
        case .fibAddressType(let side, let type): code.fibType(side, type)
        case .fibAddressTypeRange(let side, let low, let high): code.fibTypeRange(side, low, high)
        case .l4proto(let proto): code.l4proto(proto)
        case .port(let side, let proto, let port): code.port(side, proto: proto, port)
        case .portRange(let side, let proto, let first, let last): code.portRange(side, proto: proto, first, last)
        case .portSet(let side, let proto, let set): code.portSet(side, proto: proto, set)
        case .tcpFlags(let flags): code.tcpFlags(flags)
        case .icmpv6TypeRange(let low, let high): code.icmpv6Types(low, high)
        case .hopLimit(let n): code.hopLimit(n)
        case .ctState(let states): code.ctState(states)
        case .ipsecInbound: code.ipsecInbound()
        case .ipsecOutbound: code.ipsecOutbound()
        }
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

    public static func intervalElements(
        _ ranges: [AddressRange], family: IPAddress.Family
    ) -> [(key: [UInt8], end: Bool)] {
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
