import RampartPolicy

/// Filters as §2.2.1.5.1 holds them.
extension WindowsPolicyExport {
    static func refuse(_ label: String, _ what: String) -> Diagnostic {
        .error("\(label): \(what), which a Windows policy cannot hold: change it before exporting to a .reg", at: nil)
    }

    static func proto(_ p: IPProtocolSpec) -> UInt32 {
        switch p {
        case .any: return 0
        // Windows' ICMP is IPv4's (protocol 1).
        case .icmp: return 1
        case .number(let n): return UInt32(n)
        }
    }

    static func checkExtensions(_ f: Filter, _ label: String) throws(Diagnostic) {
        if f.tcpFlags != nil { throw refuse(label, "filter F\(f.seq) tests TCP flags") }
        if f.statefulMirror { throw refuse(label, "filter F\(f.seq) is mirrored=stateful") }
        for side in [f.source, f.destination] {
            switch side {
            case .group(let g): throw refuse(label, "filter F\(f.seq) uses the address group \(g)")
            case .dnsName(let n, _):
                throw refuse(label, "filter F\(f.seq) names the host \(n) (Windows keeps the address it resolved)")
            default: break
            }
        }
    }

    /// The legacy form, or nil when the filter needs the V2 section (a range, IPv6, a port range).
    static func legacy(_ f: Filter, _ id: String, _ label: String) throws(Diagnostic) -> FilterData.Legacy? {
        try checkExtensions(f, label)
        let codes: [ServerType: UInt8] = [.dns: 1, .wins: 2, .dhcp: 3, .gateway: 4]
        var special: UInt8 = 0
        func side(_ a: AddressSpec, destination: Bool) -> (UInt32, UInt32)? {
            switch a {
            case .any: return (0, 0)
            case .me: return (0, 0xFFFF_FFFF)
            case .server(let t):
                special = codes[t]! | (destination ? 0x80 : 0)
                return (0, 0)
            case .subnet(.v4(let x), let p): return (x, p == 0 ? 0 : ~UInt32(0) << (32 - p))
            default: return nil
            }
        }
        guard let s = side(f.source, destination: false), let d = side(f.destination, destination: true),
            f.sourcePort.isAny || f.sourcePort.single != nil, f.destinationPort.isAny || f.destinationPort.single != nil
        else { return nil }
        return FilterData.Legacy(
            description: f.description, id: id, mirrored: f.mirrored ? 1 : 0, source: s.0, sourceMask: s.1,
            destination: d.0, destinationMask: d.1, proto: proto(f.proto), sourcePort: f.sourcePort.single ?? 0,
            destinationPort: f.destinationPort.single ?? 0, special: special)
    }

    static func v2(_ f: Filter, _ id: String, _ label: String) throws(Diagnostic) -> FilterData.V2 {
        func bytes(_ a: IPAddress) -> [UInt8] {
            switch a {
            case .v4(let x):
                return (0..<4).map { UInt8(truncatingIfNeeded: x >> (24 - 8 * $0)) } + [UInt8](repeating: 0, count: 12)
            case .v6(let x): return (0..<16).map { UInt8(truncatingIfNeeded: x >> (120 - 8 * $0)) }
            }
        }
        func version(_ a: IPAddress) -> UInt32 { a.family == .ipv4 ? 1 : 2 }
        let servers: [ServerType: UInt32] = [.dns: 0x10, .wins: 0x20, .dhcp: 0x40, .gateway: 0x80]
        func address(_ a: AddressSpec) throws(Diagnostic) -> FilterData.V2.Address {
            switch a {
            case .any: return .init(type: 0, version: 1)
            case .me: return .init(type: 8, version: 3)
            case .server(let t): return .init(type: servers[t]!, version: 3)
            case .subnet(let x, let p) where p == x.family.bits:
                return .init(type: 1, version: version(x), address: bytes(x))
            case .subnet(let x, let p):
                let mask: [UInt8] =
                    x.family == .ipv4
                    ? bytes(.v4(~UInt32(0) << (32 - p))) : [UInt8(p)] + [UInt8](repeating: 0, count: 15)
                return .init(type: 4, version: version(x), address: bytes(x), secondary: mask)
            case .range(let x, let y):
                return .init(type: 2, version: version(x), address: bytes(x), secondary: bytes(y))
            default: throw refuse(label, "filter F\(f.seq) has the address \(a)")
            }
        }
        func port(_ p: PortMatch) throws(Diagnostic) -> FilterData.V2.Port {
            if p.isAny { return .init(type: 0) }
            if let one = p.single { return .init(type: 1, port: one) }
            guard p.ranges.count == 1 else { throw refuse(label, "filter F\(f.seq) has the port list \(p)") }
            return .init(type: 2, port: p.ranges[0].lowerBound, end: p.ranges[0].upperBound)
        }
        let ranged = [f.source, f.destination].contains { if case .range = $0 { return true } else { return false } }
        return FilterData.V2(
            description: f.description, id: id, mirrored: f.mirrored ? 1 : 0, source: try address(f.source),
            destination: try address(f.destination), sourcePort: try port(f.sourcePort),
            destinationPort: try port(f.destinationPort), proto: proto(f.proto), flags: ranged ? 8 : 0)
    }
}
