import RampartPolicy

/// §2.2.1.5.1 → filter lists and filters.
extension WindowsPolicyConversion {
    mutating func addFilterList(_ o: WindowsPolicyObjects.Object) throws(Diagnostic) {
        let data = try Self.decoded(o) { b throws(BlobError) in try FilterData.decode(b) }
        let name = name(o, fallback: "Filter list")
        var list = FilterList(
            name: name, description: o.description ?? "", guid: o.guid, seq: store.filterLists.count + 1)
        if data.leftover > 0 {
            warn("\(Self.label(o)): \(data.leftover) byte(s) after its filters: ignored", at: o.location)
        }
        if let v2 = data.v2, !v2.isEmpty {
            // The V2 section says the same filters with ranges and IPv6; the legacy ones are the
            // copy for Windows Server 2003 and older (§2.2.1.5.1, Filter-Flags 8).
            if v2.count != data.legacy.count {
                warn(
                    "\(Self.label(o)): \(v2.count) V2 filter(s) and \(data.legacy.count) legacy one(s): the V2 filters are imported",
                    at: o.location)
            }
            for f in v2 { list.filters.append(try filter(f, o)) }
        } else {
            for f in data.legacy { list.filters.append(try filter(f, o)) }
        }
        store.filterLists.append(list)
    }

    /// A legacy filter: addresses and masks (network order), a special server type on one side.
    mutating func filter(_ f: FilterData.Legacy, _ o: WindowsPolicyObjects.Object) throws(Diagnostic) -> Filter {
        func side(
            _ address: UInt32, _ mask: UInt32, special: ServerType?, _ field: String
        ) throws(Diagnostic)
            -> AddressSpec
        {
            if let special { return .server(special) }
            if address == 0 && mask == 0 { return .any }
            // What netsh's srcaddr=me writes: address 0 with mask 255.255.255.255.
            if address == 0 && mask == 0xFFFF_FFFF { return .me }
            guard let prefix = Self.prefix(mask) else {
                throw .error(
                    "\(Self.label(o)): filter \(f.id): \(field) mask \(IPAddress.v4(mask)) is not contiguous",
                    at: o.location)
            }
            return .subnet(.v4(address & (prefix == 0 ? 0 : ~UInt32(0) << (32 - prefix))), prefix: prefix)
        }
        let special = Self.special(f.special)
        if f.special != 0 && special == nil {
            throw .error(
                "\(Self.label(o)): filter \(f.id): Legacy-Special-Filter \(f.special) is not 1–4 or 0x81–0x84",
                at: o.location)
        }
        if f.options != 0 {
            diagnosticsNote(
                o, "filter \(f.id): Legacy-Filter-Options \(f.options) is not 0, as §2.2.1.5.1 says it must be: ignored"
            )
        }
        if f.isTunnel != 0 {
            diagnosticsNote(
                o, "filter \(f.id) carries a tunnel address; rampart takes the tunnel from the rule (tunnel=)")
        }
        return try Self.serverAgainstMe(
            Filter(
                seq: 0, source: try side(f.source, f.sourceMask, special: special?.source, "source"),
                destination: try side(f.destination, f.destinationMask, special: special?.destination, "destination"),
                proto: try Self.proto(f.proto, o), sourcePort: PortMatch(f.sourcePort),
                destinationPort: PortMatch(f.destinationPort), mirrored: f.mirrored != 0, description: f.description),
            f.id, o)
    }

    /// netsh takes a server type only against `me` (the interpreter refuses anything else), so
    /// the object is refused here, named, rather than by the script it would become.
    static func serverAgainstMe(
        _ f: Filter, _ id: String, _ o: WindowsPolicyObjects.Object
    ) throws(Diagnostic)
        -> Filter
    {
        for (server, other) in [(f.source, f.destination), (f.destination, f.source)] {
            guard case .server(let type) = server, !other.isMe else { continue }
            throw .error(
                "\(label(o)): filter \(id): \(type.rawValue) against \(other): a server type is taken only against 'me' (as netsh takes it); make that side 'me' on Windows and export again",
                at: o.location)
        }
        return f
    }

    /// 0x01–0x04 a server type as the source, 0x81–0x84 as the destination.
    static func special(_ code: UInt8) -> (source: ServerType?, destination: ServerType?)? {
        let types: [ServerType] = [.dns, .wins, .dhcp, .gateway]
        switch code {
        case 1...4: return (types[Int(code) - 1], nil)
        case 0x81...0x84: return (nil, types[Int(code) - 0x81])
        default: return nil
        }
    }

    static func prefix(_ mask: UInt32) -> Int? {
        let ones = mask.leadingZeroBitCount == 0 ? (~mask).leadingZeroBitCount : 0
        return (ones == 32 ? ~UInt32(0) : ~(~UInt32(0) >> ones)) == mask ? ones : nil
    }

    static func proto(_ p: UInt32, _ o: WindowsPolicyObjects.Object) throws(Diagnostic) -> IPProtocolSpec {
        guard p <= 255 else { throw .error("\(label(o)): protocol \(p) is not 0–255", at: o.location) }
        return p == 0 ? .any : .number(UInt8(p))
    }

    mutating func diagnosticsNote(_ o: WindowsPolicyObjects.Object, _ message: String) {
        diagnostics.append(Diagnostic(.note, "\(Self.label(o)): \(message)", at: o.location))
    }

    /// Windows resolved a host name when the filter was made and kept its address: that address
    /// is imported, and the name said (`srcaddr=NAME` would follow it live instead).
    mutating func hostNames(_ source: String, _ destination: String, _ id: String, _ o: WindowsPolicyObjects.Object) {
        for (side, name) in [("source", source), ("destination", destination)] where !name.isEmpty {
            diagnosticsNote(
                o,
                "filter \(id): the \(side) was entered as the host name \(name); its address as Windows resolved it then is imported"
            )
        }
    }

    /// A V2 filter: address types (any, one, range, subnet, me, server types), IPv4 or IPv6, port ranges.
    mutating func filter(_ f: FilterData.V2, _ o: WindowsPolicyObjects.Object) throws(Diagnostic) -> Filter {
        hostNames(f.sourceName, f.destinationName, f.id, o)
        func port(_ p: FilterData.V2.Port) throws(Diagnostic) -> PortMatch {
            switch p.type {
            case 0: return .any
            case 1: return PortMatch(p.port)
            case 2 where p.port <= p.end && p.port > 0: return PortMatch(ranges: [p.port...p.end])
            default:
                throw .error(
                    "\(Self.label(o)): filter \(f.id): port type \(p.type) (\(p.port)–\(p.end)) is not one §2.2.1.5.1 gives",
                    at: o.location)
            }
        }
        return try Self.serverAgainstMe(
            Filter(
                seq: 0, source: try Self.address(f.source, f.id, o),
                destination: try Self.address(f.destination, f.id, o), proto: try Self.proto(f.proto, o),
                sourcePort: try port(f.sourcePort), destinationPort: try port(f.destinationPort),
                mirrored: f.mirrored != 0, description: f.description),
            f.id, o)
    }

    static func address(
        _ a: FilterData.V2.Address, _ id: String, _ o: WindowsPolicyObjects.Object
    ) throws(Diagnostic)
        -> AddressSpec
    {
        let servers: [UInt32: ServerType] = [0x10: .dns, 0x20: .wins, 0x40: .dhcp, 0x80: .gateway]
        func ip(_ bytes: [UInt8]) -> IPAddress? {
            switch a.version {
            case 1: return .v4(bytes.prefix(4).reduce(0) { $0 << 8 | UInt32($1) })
            case 2: return .v6(bytes.prefix(16).reduce(0) { $0 << 8 | UInt128($1) })
            default: return nil
            }
        }
        let bad = Diagnostic.error(
            "\(label(o)): filter \(id): address type \(a.type), version \(a.version) is not one §2.2.1.5.1 gives",
            at: o.location)
        switch a.type {
        case 0: return .any
        case 8: return .me
        case let t where servers[t] != nil: return .server(servers[t]!)
        case 1:
            guard let x = ip(a.address) else { throw bad }
            return .subnet(x, prefix: x.family.bits)
        case 2:
            guard let x = ip(a.address), let y = ip(a.secondary), x <= y else { throw bad }
            return .range(x, y)
        case 4:
            guard let x = ip(a.address) else { throw bad }
            let prefix =
                a.version == 2
                ? Int(a.secondary[0]) : Self.prefix(a.secondary.prefix(4).reduce(0) { $0 << 8 | UInt32($1) })
            guard let prefix, prefix <= x.family.bits else { throw bad }
            return .subnet(x.masked(prefix: prefix), prefix: prefix)
        default: throw bad
        }
    }
}
