// MARK: §2.2.1.5.1 ipsecFilter

/// A filter list's data: its legacy (V1) filters, then optionally the V2 section (address
/// types, ranges, IPv6, port ranges).
public struct FilterData: Sendable, Equatable {
    /// A Filter-Spec1: IPv4 only, addresses and masks in network order (as real exports store them).
    public struct Legacy: Sendable, Equatable {
        public var sourceName: String
        public var destinationName: String
        public var description: String
        public var id: String
        public var mirrored: UInt32
        public var source: UInt32
        public var sourceMask: UInt32
        public var destination: UInt32
        public var destinationMask: UInt32
        public var tunnel: UInt32
        public var proto: UInt32
        public var sourcePort: UInt16
        public var destinationPort: UInt16
        public var isTunnel: UInt8
        /// 0x01–0x04 DNS, WINS, DHCP, gateway as the source; 0x81–0x84 as the destination.
        public var special: UInt8
        public var options: UInt16

        public init(
            sourceName: String = "", destinationName: String = "", description: String, id: String, mirrored: UInt32,
            source: UInt32, sourceMask: UInt32, destination: UInt32, destinationMask: UInt32, tunnel: UInt32 = 0,
            proto: UInt32, sourcePort: UInt16, destinationPort: UInt16, isTunnel: UInt8 = 0, special: UInt8 = 0,
            options: UInt16 = 0
        ) {
            self.sourceName = sourceName
            self.destinationName = destinationName
            self.description = description
            self.id = id
            self.mirrored = mirrored
            self.source = source
            self.sourceMask = sourceMask
            self.destination = destination
            self.destinationMask = destinationMask
            self.tunnel = tunnel
            self.proto = proto
            self.sourcePort = sourcePort
            self.destinationPort = destinationPort
            self.isTunnel = isTunnel
            self.special = special
            self.options = options
        }
    }

    /// A Filter-Spec2.
    public struct V2: Sendable, Equatable {
        public struct Address: Sendable, Equatable {
            /// 0 any, 1 one address, 2 range, 4 subnet, 8 me, 0x10 DNS, 0x20 WINS, 0x40 DHCP, 0x80 gateway.
            public var type: UInt32
            /// 1 IPv4, 2 IPv6, 3 both (me and the server types only).
            public var version: UInt32
            /// Network order; IPv4 in the first 4 bytes.
            public var address: [UInt8]
            /// The range's last address, the IPv4 mask, or (IPv6) the prefix length in the first byte.
            public var secondary: [UInt8]

            public init(
                type: UInt32, version: UInt32, address: [UInt8] = .init(repeating: 0, count: 16),
                secondary: [UInt8] = .init(repeating: 0, count: 16)
            ) {
                self.type = type
                self.version = version
                self.address = address
                self.secondary = secondary
            }
        }

        public struct Port: Sendable, Equatable {
            /// 0 any, 1 one port, 2 range.
            public var type: UInt32
            public var port: UInt16
            public var end: UInt16

            public init(type: UInt32, port: UInt16 = 0, end: UInt16 = 0) {
                self.type = type
                self.port = port
                self.end = end
            }
        }

        public var sourceName = ""
        public var destinationName = ""
        public var description: String
        public var id: String
        public var mirrored: UInt32
        public var source: Address
        public var destination: Address
        public var sourcePort: Port
        public var destinationPort: Port
        public var proto: UInt32
        /// 8: the V2 ranges replace the V1 expanded subnets.
        public var flags: UInt32

        public init(
            description: String, id: String, mirrored: UInt32, source: Address, destination: Address, sourcePort: Port,
            destinationPort: Port, proto: UInt32, flags: UInt32 = 0
        ) {
            self.description = description
            self.id = id
            self.mirrored = mirrored
            self.source = source
            self.destination = destination
            self.sourcePort = sourcePort
            self.destinationPort = destinationPort
            self.proto = proto
            self.flags = flags
        }
    }

    public var legacy: [Legacy]
    public var v2: [V2]?
    /// Number-Of-Filters11 when it is not 0 and differs from the legacy filters read.
    public var legacyCountMismatch: UInt32? = nil
    public var leftover = 0

    public init(legacy: [Legacy], v2: [V2]? = nil) {
        self.legacy = legacy
        self.v2 = v2
    }

    /// The smallest Filter-Spec1 (empty names and description) and Filter-Spec2.
    static let legacySize = 12 + 52, v2Size = 12 + 16 + 4 + 80 + 16 + 8

    public static func decode(_ bytes: [UInt8]) throws(BlobError) -> FilterData {
        var r = BlobReader(bytes)
        _ = try PolicyBlobs.header(&r, PolicyBlobs.filterID, "ipsecFilter")
        let count = try PolicyBlobs.bounded(try r.u32("Number-Of-Filters1"), legacySize, r, "Number-Of-Filters1")
        var legacy: [Legacy] = []
        for _ in 0..<count { legacy.append(try readLegacy(&r)) }
        var data = FilterData(legacy: legacy)
        if r.remaining >= 16,
            (try? {
                var peek = r
                return try peek.guid("")
            }()) == PolicyBlobs.filterV2ID
        {
            _ = try r.take(16, "Filter-Policy-ID2")
            _ = try r.u32("Data-Length2")
            let legacyCount = try r.u32("Number-Of-Filters11")
            if legacyCount != 0 && Int(legacyCount) != legacy.count { data.legacyCountMismatch = legacyCount }
            let n2 = try PolicyBlobs.bounded(try r.u32("Number-Of-Filters2"), v2Size, r, "Number-Of-Filters2")
            var v2: [V2] = []
            for _ in 0..<n2 { v2.append(try readV2(&r)) }
            data.v2 = v2
        }
        data.leftover = PolicyBlobs.leftover(r)
        return data
    }

    static func readLegacy(_ r: inout BlobReader) throws(BlobError) -> Legacy {
        let sourceName = try r.lengthPrefixedText("Source-DNS-Name1")
        let destinationName = try r.lengthPrefixedText("Destination-DNS-Name1")
        let description = try r.lengthPrefixedText("Filter-Description1")
        return Legacy(
            sourceName: sourceName, destinationName: destinationName, description: description,
            id: try r.guid("Filter-Specification-ID1"), mirrored: try r.u32("Legacy-Mirror-Options"),
            source: try r.ipv4("Legacy-Source-Address"), sourceMask: try r.ipv4("Legacy-Source-Mask"),
            destination: try r.ipv4("Legacy-Destination-Address"),
            destinationMask: try r.ipv4("Legacy-Destination-Mask"), tunnel: try r.ipv4("Legacy-Tunnel-Address"),
            proto: try r.u32("Legacy-Protocol"), sourcePort: try r.u16("Legacy-Source-Port"),
            destinationPort: try r.u16("Legacy-Destination-Port"), isTunnel: try r.u8("Legacy-Is-Tunnel"),
            special: try r.u8("Legacy-Special-Filter"), options: try r.u16("Legacy-Filter-Options"))
    }

    static func readV2(_ r: inout BlobReader) throws(BlobError) -> V2 {
        let sourceName = try r.lengthPrefixedText("Source-DNS-Name2")
        let destinationName = try r.lengthPrefixedText("Destination-DNS-Name2")
        let description = try r.lengthPrefixedText("Filter-Description2")
        let id = try r.guid("Filter-Specification-ID2"), mirrored = try r.u32("Mirror-Flags")
        func address(_ field: String) throws(BlobError) -> V2.Address {
            V2.Address(
                type: try r.u32("\(field) IPsec-Address-Type"), version: try r.u32("\(field) IPsec-Address-Version"),
                address: Array(try r.take(16, "\(field) IP-Address")),
                secondary: Array(try r.take(16, "\(field) IP-Address-Secondary")))
        }
        func port(_ field: String) throws(BlobError) -> V2.Port {
            V2.Port(type: try r.u32("\(field) type"), port: try r.u16("\(field) port"), end: try r.u16("\(field) end"))
        }
        var v2 = V2(
            description: description, id: id, mirrored: mirrored, source: try address("Source-Address-Data"),
            destination: try address("Destination-Address-Data"), sourcePort: try port("Source-Port-Data"),
            destinationPort: try port("Destination-Port-Data"), proto: try r.u32("Filter-Protocol"),
            flags: try r.u32("Filter-Flags"))
        v2.sourceName = sourceName
        v2.destinationName = destinationName
        return v2
    }
}
