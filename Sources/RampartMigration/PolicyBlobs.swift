/// The `ipsecData` blobs of the five classes ([MS-GPIPSEC] §2.2.1), decoded field by field from
/// the specification. A blob starts with its class GUID and a Data-Length, whose convention
/// differs by writer (one byte short on some, §2.2.1.2.1, <6>, <21>): it is read, never trusted;
/// the structure is parsed and what is left over is reported (`leftover`, zero bytes excepted).
public enum PolicyBlobs {
    public static let policyID = "{22202163-4F4C-11D1-863B-00A0248D3021}"
    public static let isakmpID = "{80DC20B8-2EC8-11D1-A89E-00A0248D3021}"
    public static let nfaID = "{11BBAC00-498D-11D1-8639-00A0248D3021}"
    public static let negotiationID = "{80DC20B9-2EC8-11D1-A89E-00A0248D3021}"
    public static let filterID = "{80DC20B5-2EC8-11D1-A89E-00A0248D3021}"
    public static let filterV2ID = "{35FECD3D-AE29-4373-8A6A-C5D8FAB2FB08}"

    /// The class GUID and the Data-Length field.
    static func header(_ r: inout BlobReader, _ expected: String, _ what: String) throws(BlobError) -> UInt32 {
        let id = try r.guid("\(what) GUID")
        guard id == expected else {
            throw BlobError(offset: 0, message: "not an \(what) blob: its GUID is \(id), not \(expected)")
        }
        return try r.u32("Data-Length")
    }

    /// Bytes after the structure that are not zero (a writer's trailing 0x00 is not news).
    static func leftover(_ r: BlobReader) -> Int {
        r.bytes[r.offset...].contains { $0 != 0 } ? r.remaining : 0
    }

    /// `count` items of at least `size` bytes each must fit in what is left.
    static func bounded(_ count: UInt32, _ size: Int, _ r: BlobReader, _ field: String) throws(BlobError) -> Int {
        guard Int(count) <= r.remaining / max(size, 1) else {
            throw BlobError(offset: r.offset - 4, message: "\(field) \(count) is more than the blob can hold")
        }
        return Int(count)
    }
}

// MARK: §2.2.1.1.1 ipsecPolicy

public struct PolicyData: Sendable, Equatable {
    /// Seconds between polls of the store; 0 means 10,800.
    public var pollingInterval: UInt32
    public var leftover = 0

    public init(pollingInterval: UInt32) { self.pollingInterval = pollingInterval }

    public static func decode(_ bytes: [UInt8]) throws(BlobError) -> PolicyData {
        var r = BlobReader(bytes)
        _ = try PolicyBlobs.header(&r, PolicyBlobs.policyID, "ipsecPolicy")
        var data = PolicyData(pollingInterval: try r.u32("Polling-Interval"))
        data.leftover = PolicyBlobs.leftover(r)
        return data
    }
}

// MARK: §2.2.1.2.1 ipsecISAKMPPolicy

public struct ISAKMPData: Sendable, Equatable {
    /// One main-mode offer (a 64-byte Security-Method).
    public struct Method: Sendable, Equatable {
        /// 0 none, 1 DES-CBC, 2 and 3 3DES-CBC.
        public var encryption: UInt64
        /// 0 none, 1 MD5, 2 SHA-1.
        public var hash: UInt64
        /// 1–4 replace encryption, hash and group (DES/3DES, MD5/SHA-1, group 14); 0 none.
        public var randomFunction: UInt8
        /// 1, 2, or 0x10000001 (group 14); 0 unused.
        public var oakleyGroup: UInt32
        public var qmLimit: UInt32
        public var lifetimeKB: UInt32
        public var lifetimeSeconds: UInt32
        public var pfsIdentityRequired: UInt32

        public init(
            encryption: UInt64, hash: UInt64, randomFunction: UInt8 = 0, oakleyGroup: UInt32, qmLimit: UInt32 = 0,
            lifetimeKB: UInt32 = 0, lifetimeSeconds: UInt32 = 0, pfsIdentityRequired: UInt32 = 0
        ) {
            self.encryption = encryption
            self.hash = hash
            self.randomFunction = randomFunction
            self.oakleyGroup = oakleyGroup
            self.qmLimit = qmLimit
            self.lifetimeKB = lifetimeKB
            self.lifetimeSeconds = lifetimeSeconds
            self.pfsIdentityRequired = pfsIdentityRequired
        }
    }

    public var instance: String
    public var masterPFSRequired: UInt32
    /// 0 none, 1 certificate-to-account mapping, 2 no certificate request payload, 3 both.
    public var options: UInt32
    /// New-DH-1…4: offers with DH group 2048 that come before `methods` (0: unused).
    public var newDH: [UInt8]
    /// Quick modes per main mode (0: no limit) and the main-mode lifetime (0: 28,800 s).
    public var qmLimit: UInt32
    public var mmLifetime: UInt32
    public var methods: [Method]
    public var leftover = 0
    /// Zero fields that hold data (`BlobReader.zero`).
    public var reserved: [String] = []

    public init(
        instance: String, masterPFSRequired: UInt32 = 0, options: UInt32 = 0, newDH: [UInt8] = [0, 0, 0, 0],
        qmLimit: UInt32 = 0, mmLifetime: UInt32 = 0, methods: [Method]
    ) {
        self.instance = instance
        self.masterPFSRequired = masterPFSRequired
        self.options = options
        self.newDH = newDH
        self.qmLimit = qmLimit
        self.mmLifetime = mmLifetime
        self.methods = methods
    }

    public static func decode(_ bytes: [UInt8]) throws(BlobError) -> ISAKMPData {
        var r = BlobReader(bytes)
        _ = try PolicyBlobs.header(&r, PolicyBlobs.isakmpID, "ipsecISAKMPPolicy")
        let instance = try r.guid("ISAKMP-Policy-Instance")
        try r.zero(4, "Zero1")
        let pfs = try r.u32("Master-PFS-Required"), options = try r.u32("ISAKMP-Options")
        let newDH = Array(try r.take(4, "New-DH-1…4"))
        let qmLimit = try r.u32("QM-Limit"), lifetime = try r.u32("MM-Lifetime")
        try r.zero(20, "Zero2")
        let count = try PolicyBlobs.bounded(try r.u32("Security-Method-Count"), 64, r, "Security-Method-Count")
        var methods: [Method] = []
        for _ in 0..<count { methods.append(try method(&r)) }
        var data = ISAKMPData(
            instance: instance, masterPFSRequired: pfs, options: options, newDH: newDH, qmLimit: qmLimit,
            mmLifetime: lifetime, methods: methods)
        data.leftover = PolicyBlobs.leftover(r)
        data.reserved = r.nonZero
        return data
    }

    /// One 64-byte Security-Method.
    static func method(_ r: inout BlobReader) throws(BlobError) -> Method {
        try r.zero(4, "Major-Version, Minor-Version, Zero3")
        let encryption = try r.u64("Encryption-Algorithm-ID")
        try r.zero(4, "Zero4")
        let hash = try r.u64("Hash-Algorithm-ID")
        try r.zero(12, "Zero5, Zero6")
        let random = try r.u8("Random-Function")
        try r.zero(7, "Zero7")
        return Method(
            encryption: encryption, hash: hash, randomFunction: random, oakleyGroup: try r.u32("Oakley-Group"),
            qmLimit: try r.u32("QM-Limit"), lifetimeKB: try r.u32("Oakley-Lifetime-KB"),
            lifetimeSeconds: try r.u32("Oakley-Lifetime-Secs"), pfsIdentityRequired: try r.u32("PFS-Identity-Required"))
    }
}

// MARK: §2.2.1.4.1 ipsecNegotiationPolicy

public struct NegotiationData: Sendable, Equatable {
    /// One quick-mode offer (80 bytes): up to three algorithms (AH and/or ESP).
    public struct Offer: Sendable, Equatable {
        public struct Algorithm: Sendable, Equatable {
            /// AH: 1 MD5, 2 SHA-1. ESP: 1 none, 2 DES, 3 3DES.
            public var identifier: UInt32
            /// ESP's HMAC: 0 none, 1 MD5, 2 SHA-1.
            public var integrity: UInt32
            /// 1 AH, 2 ESP.
            public var offerType: UInt32

            public init(identifier: UInt32, integrity: UInt32, offerType: UInt32) {
                self.identifier = identifier
                self.integrity = integrity
                self.offerType = offerType
            }
        }

        public var lifetimeSeconds: UInt32
        public var lifetimeKB: UInt32
        public var options: UInt32
        /// As stored; the specification's table (0: PFS used) is what `pfs` reads.
        public var pfsRequired: UInt32
        public var algorithms: [Algorithm]

        public init(
            lifetimeSeconds: UInt32, lifetimeKB: UInt32, options: UInt32 = 0, pfsRequired: UInt32,
            algorithms: [Algorithm]
        ) {
            self.lifetimeSeconds = lifetimeSeconds
            self.lifetimeKB = lifetimeKB
            self.options = options
            self.pfsRequired = pfsRequired
            self.algorithms = algorithms
        }
    }

    public var offers: [Offer]
    public var leftover = 0
    public var reserved: [String] = []

    public init(offers: [Offer]) { self.offers = offers }

    public static func decode(_ bytes: [UInt8]) throws(BlobError) -> NegotiationData {
        var r = BlobReader(bytes)
        _ = try PolicyBlobs.header(&r, PolicyBlobs.negotiationID, "ipsecNegotiationPolicy")
        let count = try PolicyBlobs.bounded(try r.u32("Security-Offer-Count"), 80, r, "Security-Offer-Count")
        var offers: [Offer] = []
        for _ in 0..<count { offers.append(try offer(&r)) }
        var data = NegotiationData(offers: offers)
        data.leftover = PolicyBlobs.leftover(r)
        data.reserved = r.nonZero
        return data
    }

    static func offer(_ r: inout BlobReader) throws(BlobError) -> Offer {
        let seconds = try r.u32("Lifetime-Seconds"), kb = try r.u32("Lifetime-KBytes")
        let options = try r.u32("Negotiation-Options"), pfs = try r.u32("PFS-QM-Required")
        let count = try r.u32("Algorithm-Offer-Count")
        guard count <= 3 else {
            throw BlobError(offset: r.offset - 4, message: "Algorithm-Offer-Count \(count): at most 3")
        }
        var algorithms: [Offer.Algorithm] = []
        for i in 0..<3 {
            let a = Offer.Algorithm(
                identifier: try r.u32("Algorithm-Identifier"), integrity: try r.u32("ESP-Integrity-Identifier"),
                offerType: try r.u32("Offer-Type"))
            if i < count {
                try r.zero(8, "Zero1 of algorithm \(i + 1)")
                algorithms.append(a)
            } else {
                _ = try r.take(8, "Zero1")
            }
        }
        return Offer(
            lifetimeSeconds: seconds, lifetimeKB: kb, options: options, pfsRequired: pfs, algorithms: algorithms)
    }
}
