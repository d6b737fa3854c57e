// MARK: §2.2.1.3.1 ipsecNFA

/// A rule's data: its authentication methods, the interfaces it applies to, its tunnel
/// endpoint, whether it is active, and the optional Vista-and-later tail (alternate
/// authentication methods with their certificate flags, an IPv6 tunnel endpoint).
public struct NFAData: Sendable, Equatable {
    public struct Auth: Sendable, Equatable {
        /// 1 pre-shared key, 3 certificate (its CA name), 5 Kerberos.
        public var type: UInt32
        /// The key or the CA name (UTF-16 in the blob); empty for Kerberos.
        public var value: String

        public init(type: UInt32, value: String) {
            self.type = type
            self.value = value
        }
    }

    public var auths: [Auth]
    /// 0xFFFFFFFF dial-up, 0xFFFFFFFE LAN, 0xFFFFFFFD all.
    public var interfaceType: UInt32
    public var interfaceName: String
    /// The IPv4 tunnel endpoint (network order as a number: 192.0.2.1 is 0xC0000201).
    public var tunnelAddress: UInt32
    public var isTunnel: UInt32
    public var isActive: UInt32
    public var tunnelEndpointName: String
    /// The optional tail (§2.2.1.3.1: Alt-Auth-Method-Id1/2, IPv6-Tunnel-Mode-ID).
    public var alternateAuths: [Auth]? = nil
    public var alternateFlags: [UInt32]? = nil
    public var ipv6Tunnel: [UInt8]? = nil
    public var leftover = 0
    public var reserved: [String] = []

    public init(
        auths: [Auth], interfaceType: UInt32, interfaceName: String = "", tunnelAddress: UInt32 = 0,
        isTunnel: UInt32 = 0,
        isActive: UInt32, tunnelEndpointName: String = ""
    ) {
        self.auths = auths
        self.interfaceType = interfaceType
        self.interfaceName = interfaceName
        self.tunnelAddress = tunnelAddress
        self.isTunnel = isTunnel
        self.isActive = isActive
        self.tunnelEndpointName = tunnelEndpointName
    }

    /// The tail's three markers: the specification writes them as "{01010101-0101-0101-0101-01010101}"
    /// (…02, …03), a GUID one short of its 12 last digits; read as bytes: fifteen 0x01, then 1, 2 or 3.
    static func tailMarker(_ r: BlobReader) -> UInt8? {
        guard r.remaining >= 16, r.bytes[r.offset..<r.offset + 15].allSatisfy({ $0 == 1 }) else { return nil }
        let last = r.bytes[r.offset + 15]
        return (1...3).contains(last) ? last : nil
    }

    public static func decode(_ bytes: [UInt8]) throws(BlobError) -> NFAData {
        var r = BlobReader(bytes)
        _ = try PolicyBlobs.header(&r, PolicyBlobs.nfaID, "ipsecNFA")
        let count = try PolicyBlobs.bounded(try r.u32("Auth-Method-Count"), 8, r, "Auth-Method-Count")
        var auths: [Auth] = []
        for _ in 0..<count { auths.append(try auth(&r, "Auth-Method")) }
        let interfaceType = try r.u32("Interface-Type")
        let interfaceName = try r.lengthPrefixedText("Interface-Name")
        var data = NFAData(
            auths: auths, interfaceType: interfaceType, interfaceName: interfaceName,
            tunnelAddress: try r.ipv4("Tunnel-Address"), isTunnel: try r.u32("Is-Tunnel-Specifier"),
            isActive: try r.u32("Is-Active-Specifier"),
            tunnelEndpointName: try r.lengthPrefixedText("Tunnel-End-Point-Name"))
        try data.readTail(&r)
        data.leftover = PolicyBlobs.leftover(r)
        data.reserved = r.nonZero
        return data
    }

    static func auth(_ r: inout BlobReader, _ field: String) throws(BlobError) -> Auth {
        let type = try r.u32("\(field) type")
        let length = Int(try r.u32("\(field) length"))
        // Kerberos' data is 0x0000; a key and a CA name are UTF-16 text.
        return Auth(type: type, value: try r.utf16(length, "\(field) data"))
    }

    mutating func readTail(_ r: inout BlobReader) throws(BlobError) {
        // The byte Data-Length leaves out (<6>) may stand between the structure and the tail.
        if r.remaining > 16, r.bytes[r.offset] == 0 {
            var past = r
            _ = try past.take(1, "the byte after Tunnel-End-Point-Name")
            if Self.tailMarker(past) != nil { r = past }
        }
        while let marker = Self.tailMarker(r) {
            _ = try r.take(16, "tail marker")
            switch marker {
            case 1:
                let count = try PolicyBlobs.bounded(
                    try r.u32("Alt-Auth-Num-Methods-Count"), 8, r, "Alt-Auth-Num-Methods-Count")
                var alternates: [Auth] = []
                for _ in 0..<count { alternates.append(try Self.auth(&r, "Alt-Auth-Method")) }
                alternateAuths = alternates
            case 2:
                try r.zero(4, "Zero1")
                let count = alternateAuths?.count ?? auths.count
                var flags: [UInt32] = []
                for _ in 0..<count { flags.append(try r.u32("Alt-Auth-Method-Flags")) }
                alternateFlags = flags
            default:
                ipv6Tunnel = Array(try r.take(16, "IPv6-Tunnel-Mode-Address"))
            }
        }
    }
}
