/// Writes `ipsecData` blobs in the layouts `BlobReader` reads (§2.2.1): for `exportpolicy
/// --format reg` and for the tests' fixtures. Data-Length counts the bytes that follow it, and
/// the classes whose Data-Length the specification gives as "one byte less than the data"
/// (ISAKMP §2.2.1.2.1, NFA <6>, negotiation §2.2.1.4.1) get the trailing 0x00 Windows writes.
struct BlobWriter {
    private(set) var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes += [UInt8(v & 0xff), UInt8(v >> 8)] }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func raw(_ b: [UInt8]) { bytes += b }
    mutating func zeros(_ n: Int) { bytes += [UInt8](repeating: 0, count: n) }
    /// Network order, as `BlobReader.ipv4` reads it.
    mutating func ipv4(_ v: UInt32) {
        for i in (0..<4).reversed() { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
    }

    /// `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`: Data1–3 little-endian, Data4 as bytes.
    mutating func guid(_ text: String) {
        let hex = text.filter(\.isHexDigit)
        var b: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex, let next = hex.index(i, offsetBy: 2, limitedBy: hex.endIndex) {
            b.append(UInt8(hex[i..<next], radix: 16) ?? 0)
            i = next
        }
        b += [UInt8](repeating: 0, count: max(0, 16 - b.count))
        bytes += Array(b[0..<4].reversed()) + Array(b[4..<6].reversed()) + Array(b[6..<8].reversed()) + Array(b[8..<16])
    }

    /// UTF-16LE, NUL-terminated.
    static func utf16z(_ s: String) -> [UInt8] { (Array(s.utf16) + [0]).flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] } }

    /// A u32 length, then the text (UTF-16LE, NUL-terminated); an empty string is length 0.
    mutating func lengthPrefixedText(_ s: String) {
        let text = s.isEmpty ? [] : Self.utf16z(s)
        u32(UInt32(text.count))
        raw(text)
    }

    /// The class GUID, Data-Length, the body, and the trailing byte when the class has one.
    static func blob(_ id: String, trailingByte: Bool, _ body: (inout BlobWriter) -> Void) -> [UInt8] {
        var inner = BlobWriter()
        body(&inner)
        var w = BlobWriter()
        w.guid(id)
        w.u32(UInt32(inner.bytes.count))
        w.raw(inner.bytes)
        if trailingByte { w.u8(0) }
        return w.bytes
    }
}

extension PolicyData {
    public func encode() -> [UInt8] {
        BlobWriter.blob(PolicyBlobs.policyID, trailingByte: true) { $0.u32(pollingInterval) }
    }
}

extension ISAKMPData {
    public func encode() -> [UInt8] {
        BlobWriter.blob(PolicyBlobs.isakmpID, trailingByte: true) { w in
            w.guid(instance)
            w.u32(0)
            w.u32(masterPFSRequired)
            w.u32(options)
            w.raw((newDH + [0, 0, 0, 0]).prefix(4).map { $0 })
            w.u32(qmLimit)
            w.u32(mmLifetime)
            w.zeros(20)
            w.u32(UInt32(methods.count))
            for m in methods {
                w.zeros(4)
                w.u64(m.encryption)
                w.u32(0)
                w.u64(m.hash)
                w.zeros(12)
                w.u8(m.randomFunction)
                w.zeros(7)
                for v in [m.oakleyGroup, m.qmLimit, m.lifetimeKB, m.lifetimeSeconds, m.pfsIdentityRequired] { w.u32(v) }
            }
        }
    }
}

extension NegotiationData {
    public func encode() -> [UInt8] {
        BlobWriter.blob(PolicyBlobs.negotiationID, trailingByte: true) { w in
            w.u32(UInt32(offers.count))
            for o in offers {
                for v in [o.lifetimeSeconds, o.lifetimeKB, o.options, o.pfsRequired, UInt32(o.algorithms.count)] {
                    w.u32(v)
                }
                for i in 0..<3 {
                    let a =
                        i < o.algorithms.count
                        ? o.algorithms[i] : Offer.Algorithm(identifier: 0, integrity: 0, offerType: 0)
                    w.u32(a.identifier)
                    w.u32(a.integrity)
                    w.u32(a.offerType)
                    w.zeros(8)
                }
            }
        }
    }
}

extension NFAData {
    public func encode() -> [UInt8] {
        var blob = BlobWriter.blob(PolicyBlobs.nfaID, trailingByte: true) { w in
            w.u32(UInt32(auths.count))
            for a in auths { Self.write(a, &w) }
            w.u32(interfaceType)
            w.lengthPrefixedText(interfaceName)
            w.ipv4(tunnelAddress)
            w.u32(isTunnel)
            w.u32(isActive)
            w.lengthPrefixedText(tunnelEndpointName)
        }
        // The tail is outside Data-Length (<6>).
        var tail = BlobWriter()
        let marker = [UInt8](repeating: 1, count: 15)
        if let alternateAuths {
            tail.raw(marker + [1])
            tail.u32(UInt32(alternateAuths.count))
            for a in alternateAuths { Self.write(a, &tail) }
        }
        if let alternateFlags {
            tail.raw(marker + [2])
            tail.u32(0)
            for f in alternateFlags { tail.u32(f) }
        }
        if let ipv6Tunnel {
            tail.raw(marker + [3])
            tail.raw(ipv6Tunnel)
        }
        blob += tail.bytes
        return blob
    }

    static func write(_ a: Auth, _ w: inout BlobWriter) {
        let data = a.type == 5 ? [0, 0] : BlobWriter.utf16z(a.value)
        w.u32(a.type)
        w.u32(UInt32(data.count))
        w.raw(data)
    }
}

extension FilterData {
    public func encode() -> [UInt8] {
        BlobWriter.blob(PolicyBlobs.filterID, trailingByte: false) { w in
            w.u32(UInt32(legacy.count))
            for f in legacy { Self.write(f, &w) }
            guard let v2 else { return }
            var section = BlobWriter()
            section.u32(UInt32(legacy.count))
            section.u32(UInt32(v2.count))
            for f in v2 { Self.write(f, &section) }
            w.guid(PolicyBlobs.filterV2ID)
            w.u32(UInt32(section.bytes.count))
            w.raw(section.bytes)
        }
    }

    /// What both filter layouts begin with: the names, the description, the id, the mirror flag.
    static func writeHead(_ names: (String, String, String), _ id: String, _ mirrored: UInt32, _ w: inout BlobWriter) {
        w.lengthPrefixedText(names.0)
        w.lengthPrefixedText(names.1)
        w.lengthPrefixedText(names.2)
        w.guid(id)
        w.u32(mirrored)
    }

    static func write(_ f: Legacy, _ w: inout BlobWriter) {
        writeHead((f.sourceName, f.destinationName, f.description), f.id, f.mirrored, &w)
        for a in [f.source, f.sourceMask, f.destination, f.destinationMask, f.tunnel] { w.ipv4(a) }
        w.u32(f.proto)
        w.u16(f.sourcePort)
        w.u16(f.destinationPort)
        w.u8(f.isTunnel)
        w.u8(f.special)
        w.u16(f.options)
    }

    static func write(_ f: V2, _ w: inout BlobWriter) {
        writeHead((f.sourceName, f.destinationName, f.description), f.id, f.mirrored, &w)
        for a in [f.source, f.destination] {
            w.u32(a.type)
            w.u32(a.version)
            w.raw((a.address + [UInt8](repeating: 0, count: 16)).prefix(16).map { $0 })
            w.raw((a.secondary + [UInt8](repeating: 0, count: 16)).prefix(16).map { $0 })
        }
        for p in [f.sourcePort, f.destinationPort] {
            w.u32(p.type)
            w.u16(p.port)
            w.u16(p.end)
        }
        w.u32(f.proto)
        w.u32(f.flags)
    }
}
