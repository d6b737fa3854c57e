/// Builds a `Filter` from `srcaddr/dstaddr/srcmask/dstmask/protocol/srcport/dstport/mirrored`,
/// shared by `static add|delete filter` and `dynamic add|set|delete rule`. The defaults are
/// rampart's documented choices: mirrored yes, protocol any, ports 0 (any), host masks.
struct FilterBuilder {
    var warnings: [Diagnostic] = []

    mutating func build(_ args: Args, seq: Int, requireAddresses: Bool = true) throws(Diagnostic) -> Filter {
        let srcArg = requireAddresses ? try args.required("srcaddr") : args.argument("srcaddr")
        let dstArg = requireAddresses ? try args.required("dstaddr") : args.argument("dstaddr")
        var source = try side(srcArg, mask: args.argument("srcmask"), label: "srcaddr")
        var destination = try side(dstArg, mask: args.argument("dstmask"), label: "dstaddr")

        // A server type on one side forces the other to `me` (reference §8).
        switch (source, destination) {
        case (.server(let a), .server(let b)):
            throw .error(
                "both sides are server types (\(a.rawValue), \(b.rawValue)); one side of a server-type filter is always 'me'",
                at: dstArg?.location)
        case (.server(let t), let other) where !other.isMe:
            warnings.append(
                .warning(
                    "dstaddr forced to 'me' because srcaddr is the server type \(t.rawValue)",
                    at: dstArg?.location ?? args.command.end))
            destination = .me
        case (let other, .server(let t)) where !other.isMe:
            warnings.append(
                .warning(
                    "srcaddr forced to 'me' because dstaddr is the server type \(t.rawValue)",
                    at: srcArg?.location ?? args.command.end))
            source = .me
        default: break
        }
        if let f = source.family, let g = destination.family, f != g {
            throw .error(
                "srcaddr is \(f == .ipv4 ? "IPv4" : "IPv6") but dstaddr is \(g == .ipv4 ? "IPv4" : "IPv6")",
                at: dstArg?.location)
        }

        let proto = try args.value("protocol", Values.proto) ?? .any
        let sport = try args.value("srcport", Values.ports) ?? .any
        let dport = try args.value("dstport", Values.ports) ?? .any
        if (!sport.isAny || !dport.isAny) && !proto.hasPorts {
            let at = args.argument(!sport.isAny ? "srcport" : "dstport")?.location
            throw .error("ports need protocol TCP or UDP (protocol is \(proto))", at: at)
        }
        let flags = try args.value("tcpflags", Values.tcpFlags)
        if flags != nil && proto != .tcp {
            throw .error("tcpflags needs protocol TCP (protocol is \(proto))", at: args.argument("tcpflags")?.location)
        }
        // yes, no, or (an extension) stateful: mirrored, the mirror half for replies only.
        let mirroring = try args.value("mirrored", Values.mirroring) ?? (true, false)
        return Filter(
            seq: seq, source: source, destination: destination, proto: proto,
            sourcePort: sport, destinationPort: dport, tcpFlags: flags, mirrored: mirroring.0,
            statefulMirror: mirroring.1,
            description: args.string("description") ?? "")
    }

    private mutating func side(
        _ arg: CommandArgument?, mask: CommandArgument?, label: String
    ) throws(Diagnostic) -> AddressSpec {
        guard let arg else {
            if let mask { throw .error("\(mask.tag ?? "mask") given without an address", at: mask.location) }
            return .any
        }
        let parsed: (AddressSpec, explicitPrefix: Bool)
        switch Values.address(arg.value) {
        case .success(let p): parsed = p
        case .failure(let e): throw .error("\(label): \(e.message)", at: arg.location)
        }
        var spec = parsed.0
        if let mask {
            switch spec {
            case .subnet(let a, let prefix):
                let m: Int
                switch Values.mask(mask.value, maxBits: a.family.bits) {
                case .success(let v): m = v
                case .failure(let e): throw .error("\(mask.tag ?? "mask"): \(e.message)", at: mask.location)
                }
                if parsed.explicitPrefix && m != prefix {
                    throw .error(
                        "\(mask.tag ?? "mask") /\(m) conflicts with the prefix /\(prefix) in \(label)",
                        at: mask.location)
                }
                spec = m == 0 ? .any : .subnet(a, prefix: m)
            case .range:
                throw .error("a mask does not apply to a range", at: mask.location)
            case .group:
                throw .error("a mask does not apply to an address group", at: mask.location)
            case .dnsName(let name, _):
                switch Values.mask(mask.value, maxBits: 32) {
                case .success(let m): spec = m == 32 ? .dnsName(name, prefix: nil) : .dnsName(name, prefix: m)
                case .failure(let e): throw .error("\(mask.tag ?? "mask"): \(e.message)", at: mask.location)
                }
            case .any:
                if case .success(let m) = Values.mask(mask.value, maxBits: 128), m == 0 { break }
                warnings.append(.warning("mask ignored: 'any' matches every address", at: mask.location))
            case .me, .server:
                if case .success(let m) = Values.mask(mask.value, maxBits: 128), m == 32 || m == 128 { break }
                warnings.append(.warning("mask ignored: '\(spec)' always names single hosts", at: mask.location))
            }
        }
        if case .subnet(let a, let p) = spec, a.masked(prefix: p) != a {
            let network = a.masked(prefix: p)
            warnings.append(
                .warning("\(label) \(a)/\(p) has host bits set under its mask; using \(network)/\(p)", at: arg.location)
            )
            spec = .subnet(network, prefix: p)
        }
        return spec
    }
}
